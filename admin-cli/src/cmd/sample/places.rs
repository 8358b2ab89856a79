//! Where sample records come from: the place behind each jurisdiction of
//! the sample federation (name, division code, the abbreviation used in
//! document numbers, the court code used in case numbers) and the names of
//! the bodies that decide there.

/// One jurisdiction as sample content needs it.
#[derive(Debug, Clone)]
pub struct Place {
    /// Division code for credit codes and ID numbers; `350100` for zones.
    pub division: String,
    /// Prefix of official body names, such as 福州市鼓楼区 or 闽侯县.
    pub prefix: String,
    /// Short name used inside business names, such as 鼓楼区.
    pub short: String,
    /// Abbreviation after 榕 in document numbers, such as 鼓 (empty for the city).
    pub abbr: String,
    /// Court code in case numbers, such as 闽0102.
    pub court_code: String,
    /// The basic people's court, such as 福州市鼓楼区人民法院.
    pub court: String,
    /// The tax bureau, such as 国家税务总局福州市鼓楼区税务局.
    pub tax: String,
    /// Whether this is the city level (its bodies are 福州市…).
    pub city_level: bool,
}

/// Known places: code, prefix, short name, abbreviation.
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("350102", "福州市鼓楼区", "鼓楼区", "鼓"),
    ("350103", "福州市台江区", "台江区", "台"),
    ("350104", "福州市仓山区", "仓山区", "仓"),
    ("350105", "福州市马尾区", "马尾区", "马"),
    ("350111", "福州市晋安区", "晋安区", "晋"),
    ("350112", "福州市长乐区", "长乐区", "长"),
    // 长乐市 before it became a district (2017): codes issued then keep 350182.
    ("350182", "福州市长乐区", "长乐区", "长"),
    ("350121", "闽侯县", "闽侯县", "侯"),
    ("350122", "连江县", "连江县", "连"),
    ("350123", "罗源县", "罗源县", "罗"),
    ("350124", "闽清县", "闽清县", "清"),
    ("350125", "永泰县", "永泰县", "永"),
    ("350128", "平潭县", "平潭县", "岚"),
    ("350181", "福清市", "福清市", "融"),
];

/// The FTZ's Fuzhou Area: not a division, so its entities carry the city's code.
const FTZ_PREFIX: &str = "中国（福建）自由贸易试验区福州片区";

/// Every Fuzhou division code a natural person's ID number may carry.
pub const FUZHOU_DIVISIONS: &[&str] = &[
    "350102", "350103", "350104", "350105", "350111", "350112", "350121", "350122", "350123",
    "350124", "350125", "350181", "350182",
];

impl Place {
    /// The place of `jurisdiction`; an unknown six-digit code is treated
    /// as a division under 福州市, an unknown zone id as a zone of the city.
    pub fn of(jurisdiction: &str) -> Place {
        if let Some(&(code, prefix, short, abbr)) =
            PLACES.iter().find(|(code, ..)| *code == jurisdiction)
        {
            let court_suffix = &code[2..];
            return Place {
                division: code.to_owned(),
                prefix: prefix.to_owned(),
                short: short.to_owned(),
                abbr: abbr.to_owned(),
                court_code: format!("闽{court_suffix}"),
                court: format!("{prefix}人民法院"),
                tax: format!("国家税务总局{prefix}税务局"),
                city_level: false,
            };
        }
        let is_division =
            jurisdiction.len() == 6 && jurisdiction.bytes().all(|b| b.is_ascii_digit());
        if jurisdiction.starts_with("ftz") || !is_division {
            return Place {
                division: "350100".into(),
                prefix: FTZ_PREFIX.into(),
                short: "福州自贸片区".into(),
                abbr: "自贸".into(),
                court_code: "闽0105".into(),
                court: "福州市马尾区人民法院".into(),
                tax: "国家税务总局福州经济技术开发区税务局".into(),
                city_level: false,
            };
        }
        let city = jurisdiction.ends_with("0100") || jurisdiction.ends_with("0101");
        if city {
            return Place {
                division: jurisdiction.into(),
                prefix: "福州市".into(),
                short: "福州".into(),
                abbr: String::new(),
                court_code: "闽01".into(),
                court: "福州市中级人民法院".into(),
                tax: "国家税务总局福州市税务局".into(),
                city_level: true,
            };
        }
        Place {
            division: jurisdiction.into(),
            prefix: format!("福州市{jurisdiction}区"),
            short: format!("{jurisdiction}区"),
            abbr: String::new(),
            court_code: format!("闽{}", &jurisdiction[2..]),
            court: "福州市中级人民法院".into(),
            tax: "国家税务总局福州市税务局".into(),
            city_level: false,
        }
    }

    /// A department of this place's government, such as
    /// 福州市鼓楼区市场监督管理局 for `市场监督管理局`.
    pub fn body(&self, department: &str) -> String {
        format!("{}{department}", self.prefix)
    }

    /// The start of a document number: 榕 and the place abbreviation, such
    /// as 榕鼓; for the city just 榕.
    pub fn doc_prefix(&self) -> String {
        format!("榕{}", self.abbr)
    }
}

/// A government department that issues decisions: its name suffix and the
/// short form used in its document numbers.
#[derive(Debug, Clone, Copy)]
pub struct Department {
    /// Name after the place prefix, such as 市场监督管理局.
    pub name: &'static str,
    /// Short form in document numbers, such as 市监.
    pub short: &'static str,
}

/// Departments that decide licences (行政许可) and penalties (行政处罚).
pub const MARKET: Department = Department {
    name: "市场监督管理局",
    short: "市监",
};
/// 行政审批局: the one-stop licensing bureau.
pub const APPROVAL: Department = Department {
    name: "行政审批局",
    short: "审批",
};
/// 住房和城乡建设局.
pub const HOUSING: Department = Department {
    name: "住房和城乡建设局",
    short: "建",
};
/// 生态环境局.
pub const ECOLOGY: Department = Department {
    name: "生态环境局",
    short: "环",
};
/// 城市管理局 (urban management, 城管).
pub const URBAN: Department = Department {
    name: "城市管理局",
    short: "城管",
};
/// 应急管理局 (work safety).
pub const SAFETY: Department = Department {
    name: "应急管理局",
    short: "应急",
};
/// 交通运输局.
pub const TRANSPORT: Department = Department {
    name: "交通运输局",
    short: "交",
};
/// 卫生健康局.
pub const HEALTH: Department = Department {
    name: "卫生健康局",
    short: "卫",
};
/// 人力资源和社会保障局.
pub const LABOUR: Department = Department {
    name: "人力资源和社会保障局",
    short: "人社",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_of_the_sample_federation() {
        let gulou = Place::of("350102");
        assert_eq!(gulou.body(MARKET.name), "福州市鼓楼区市场监督管理局");
        assert_eq!(gulou.doc_prefix(), "榕鼓");
        assert_eq!(gulou.court, "福州市鼓楼区人民法院");
        assert_eq!(gulou.court_code, "闽0102");
        assert_eq!(gulou.tax, "国家税务总局福州市鼓楼区税务局");
        let ftz = Place::of("ftz-fuzhou");
        assert_eq!(ftz.division, "350100");
        assert!(
            ftz.body(MARKET.name)
                .starts_with("中国（福建）自由贸易试验区福州片区")
        );
        let city = Place::of("350100");
        assert!(city.city_level);
        assert_eq!(city.body(MARKET.name), "福州市市场监督管理局");
        assert_eq!(city.doc_prefix(), "榕");
        assert_eq!(Place::of("350121").tax, "国家税务总局闽侯县税务局");
        assert_eq!(Place::of("350182").division, "350182");
    }
}
