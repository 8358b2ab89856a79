//! Names for sample subjects: people, companies and individual businesses
//! as they appear in Fuzhou's registers, and amounts written the way
//! 双公示 data writes them (万元 as a decimal string).

use super::places::Place;
use super::rng::Rng;

const SURNAMES: &[&str] = &[
    "陈", "林", "黄", "张", "李", "王", "吴", "刘", "蔡", "杨", "郑", "许", "谢", "郭", "洪", "邱",
    "曾", "廖", "赖", "徐", "周", "叶", "苏", "庄", "吕", "江", "何", "高", "罗", "游", "翁", "魏",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "斌", "峰", "建华", "志强", "国平", "文辉", "明", "鑫",
    "榕生", "振华", "海涛", "俊杰", "德明", "永福", "家豪", "子轩", "宇航", "锦程",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "敏", "静", "丽", "燕", "婷", "秀英", "美玲", "丽华", "雪梅", "淑贞", "晓燕", "佳怡",
    "雨涵", "欣怡", "梦婷", "丹", "萍", "琳", "思颖",
];
const BRANDS: &[&str] = &[
    "鑫源", "恒达", "闽榕", "海峡", "华信", "榕城", "长福", "瑞丰", "嘉禾", "泰和", "宏远", "金鹏",
    "永盛", "鼎盛", "福顺", "博远", "中闽", "三坊", "茉莉", "闽江", "鼓山", "乌山", "冠城", "融侨",
    "聚龙", "新榕", "凯利", "盛世", "天宇", "东方", "兴业", "汇丰", "安泰", "佳和", "华晟", "明珠",
];
/// Lines of business: the name word and what a licence for it allows.
pub const TRADES: &[&str] = &[
    "贸易",
    "科技",
    "建筑工程",
    "餐饮管理",
    "物流",
    "食品",
    "医药连锁",
    "电子商务",
    "装饰工程",
    "环保科技",
    "房地产开发",
    "网络科技",
    "服装",
    "汽车销售服务",
    "机械设备",
    "茶业",
];
const SHOPS: &[&str] = &[
    "小吃店",
    "水果店",
    "便利店",
    "五金店",
    "理发店",
    "粮油店",
    "副食品店",
    "服装店",
    "茶叶店",
    "手机维修店",
    "鱼丸店",
    "海鲜排档",
];

/// A person's name and sex (`true` for male).
pub fn person(rng: &mut Rng) -> (String, bool) {
    let male = rng.chance(55);
    let given = if male { GIVEN_MALE } else { GIVEN_FEMALE };
    (format!("{}{}", rng.pick(SURNAMES), rng.pick(given)), male)
}

/// A company name registered in `place`, such as 福州市鼓楼区鑫源贸易有限公司.
pub fn company(rng: &mut Rng, place: &Place) -> String {
    let prefix = match rng.below(10) {
        0..=5 => place.prefix.as_str(),
        6..=7 => "福州",
        _ => "福建",
    };
    let form = match rng.below(20) {
        0 => "股份有限公司",
        1 => "有限责任公司",
        _ => "有限公司",
    };
    format!("{prefix}{}{}{form}", rng.pick(BRANDS), rng.pick(TRADES))
}

/// An individual business name, such as 福州市鼓楼区陈记小吃店.
pub fn shop(rng: &mut Rng, place: &Place) -> String {
    format!(
        "{}{}记{}",
        place.prefix,
        rng.pick(SURNAMES),
        rng.pick(SHOPS)
    )
}

/// An amount of yuan in 万元 as a canonical decimal string: 2000 → "0.2",
/// 500 → "0.05", 15000 → "1.5", 200000 → "20".
pub fn wan(yuan: u64) -> String {
    let whole = yuan / 10_000;
    let frac = yuan % 10_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:04}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A random amount of yuan between `lo` and `hi`, rounded to `step`.
pub fn amount(rng: &mut Rng, lo: u64, hi: u64, step: u64) -> u64 {
    let steps = (hi - lo) / step;
    lo + step * rng.below(steps as usize + 1) as u64
}

/// A Chinese ordinal for a small number (1–29), as in 第十六届.
pub fn chinese_number(n: u32) -> String {
    const DIGITS: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => DIGITS[n as usize].to_owned(),
        10 => "十".to_owned(),
        11..=19 => format!("十{}", DIGITS[(n - 10) as usize]),
        _ => {
            let ones = n % 10;
            let tens = DIGITS[(n / 10) as usize];
            if ones == 0 {
                format!("{tens}十")
            } else {
                format!("{tens}十{}", DIGITS[ones as usize])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rongxin_protocol::value::Decimal;

    use super::*;

    #[test]
    fn wan_is_a_canonical_decimal() {
        for (yuan, text) in [
            (2000, "0.2"),
            (500, "0.05"),
            (15_000, "1.5"),
            (200_000, "20"),
            (1, "0.0001"),
            (123_450, "12.345"),
        ] {
            assert_eq!(wan(yuan), text);
            let d: Decimal = text.parse().unwrap();
            assert_eq!(d.as_str(), text);
        }
    }

    #[test]
    fn chinese_numbers() {
        assert_eq!(chinese_number(7), "七");
        assert_eq!(chinese_number(10), "十");
        assert_eq!(chinese_number(16), "十六");
        assert_eq!(chinese_number(20), "二十");
        assert_eq!(chinese_number(23), "二十三");
    }
}
