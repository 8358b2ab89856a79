//! Kind-specific content of sample records: for each catalog kind, who
//! decides (authority and document-number word) and plausible values for
//! its fields. Kinds this module does not know get an authority and, from
//! the caller, generic values by field type.

use std::collections::BTreeMap;

use rongxin_protocol::catalog::{RecordKind, SubjectClass};
use rongxin_protocol::value::Date;
use serde_json::{Value, json};

use super::codes::{Registrant, uscc};
use super::double_publicity;
use super::names::{self, amount, chinese_number, wan};
use super::places::{APPROVAL, Department, LABOUR, MARKET, Place, SAFETY};
use super::rng::Rng;

/// A sample subject of the pool.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Class.
    pub class: SubjectClass,
    /// Credit code or resident ID number.
    pub code: String,
    /// Name.
    pub name: String,
    /// The jurisdiction its records fall in.
    pub jurisdiction: String,
    /// Legal representative (organisations only).
    pub rep: Option<String>,
}

/// How a record is numbered.
#[derive(Debug, Clone)]
pub enum Numbering {
    /// A decision document: `<word>〔year〕n号`, word such as 榕鼓市监罚.
    Document(String),
    /// A court case: `（year）<court>执n号`, court such as 闽0102.
    Case(String),
}

/// Everything kind-specific about one sample record.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The deciding body.
    pub authority: String,
    /// Its credit code.
    pub authority_code: String,
    /// How the record is numbered.
    pub numbering: Numbering,
    /// Field values by column code (the caller keeps only catalog fields).
    pub fields: BTreeMap<String, Value>,
}

/// The credit code of a government body: fixed by its name and region, so
/// that one body has one code whatever the seed.
pub fn organ_code(name: &str, region: &str) -> String {
    uscc(&mut Rng::from_text(name), Registrant::Organ, region)
}

pub(super) fn date_after(d: Date, years: u32, months: u32, days: u32) -> Date {
    d.add(years, months, days).unwrap_or(d)
}

fn date_before(d: Date, days: i64) -> Date {
    Date::from_time(d.to_time() - time::Duration::days(days)).unwrap_or(d)
}

/// What a kind's content function works with and writes into.
pub(super) struct Builder<'a> {
    pub(super) rng: &'a mut Rng,
    pub(super) place: &'a Place,
    pub(super) subject: &'a Subject,
    pub(super) decided: Date,
    fields: BTreeMap<String, Value>,
}

impl Builder<'_> {
    pub(super) fn set(&mut self, name: &str, v: impl Into<Value>) {
        self.fields.insert(name.to_owned(), v.into());
    }
    pub(super) fn date(&mut self, name: &str, d: Date) {
        self.set(name, d.to_string());
    }
    pub(super) fn organisation(&self) -> bool {
        self.subject.class != SubjectClass::NaturalPerson
    }
    pub(super) fn rep(&mut self, name: &str) {
        if let Some(rep) = self.subject.rep.clone() {
            self.set(name, rep);
        }
    }
    pub(super) fn department(&self, d: Department, word: &str) -> (String, String) {
        (
            self.place.body(d.name),
            format!("{}{}{word}", self.place.doc_prefix(), d.short),
        )
    }
}

/// Drafts one record of `kind` about `subject`, decided on `decided` in `place`.
pub fn draft(
    kind: &RecordKind,
    place: &Place,
    subject: &Subject,
    decided: Date,
    rng: &mut Rng,
) -> Draft {
    let mut b = Builder {
        rng,
        place,
        subject,
        decided,
        fields: BTreeMap::new(),
    };
    let region = place.division.clone();
    let (authority, region, numbering) = match kind.code.as_str() {
        "XK" => double_publicity::licence(&mut b),
        "CF_QW" | "CF" | "CF_YZ" => double_publicity::penalty(&mut b, kind),
        "SXBZXR" => defaulter(&mut b),
        "SSWF" => tax_violation(&mut b),
        "YZSX" => serious_list(&mut b),
        "JYYC" => abnormal(&mut b),
        "WMDW" | "DDMF" => civilisation(&mut b, kind.code == "DDMF"),
        "HYRY" => honour(&mut b),
        "XYCN" => commitment(&mut b),
        "GJJQJ" => provident_fund(&mut b),
        "FXFL" => risk_class(&mut b),
        other => {
            let (name, word) = b.department(MARKET, other);
            (name, region, Numbering::Document(word))
        }
    };
    let authority_code = organ_code(&authority, &region);
    for source in ["XK_LYDW", "CF_SJLY"] {
        b.set(source, authority.clone());
        b.set(&format!("{source}DM"), authority_code.clone());
    }
    Draft {
        authority,
        authority_code,
        numbering,
        fields: b.fields,
    }
}

/// Who decides: authority name, the region of its credit code, numbering.
pub(super) type Decider = (String, String, Numbering);

fn defaulter(b: &mut Builder<'_>) -> Decider {
    let intermediate = b.place.city_level || b.rng.chance(40);
    let (court, code, region) = if intermediate {
        (
            "福州市中级人民法院".to_owned(),
            "闽01".to_owned(),
            "350100".to_owned(),
        )
    } else {
        (
            b.place.court.clone(),
            b.place.court_code.clone(),
            b.place.division.clone(),
        )
    };
    let year = b.decided.year();
    let creditor = names::company(b.rng, b.place);
    let owed = amount(b.rng, 20_000, 2_000_000, 1_000);
    let case = b.rng.range(100, 9999);
    b.set("SX_ZXYJWH", format!("（{}）{code}民初{case}号", year - 1));
    b.set("SX_ZXYJDW", court.clone());
    b.set(
        "SX_YW",
        format!("被执行人应于判决生效之日起十日内向{creditor}支付货款人民币{owed}元及逾期付款利息"),
    );
    if b.rng.chance(70) {
        b.set("SX_LXQK", "全部未履行");
        b.set("SX_WLXBF", format!("人民币{owed}元及利息"));
    } else {
        let paid = owed / 10 * b.rng.range(1, 6) as u64;
        b.set("SX_LXQK", "部分未履行");
        b.set("SX_YLXBF", format!("已履行人民币{paid}元"));
        b.set("SX_WLXBF", format!("尚欠人民币{}元及利息", owed - paid));
    }
    let grounds = [
        "有履行能力而拒不履行生效法律文书确定义务",
        "以伪造证据、暴力、威胁等方法妨碍、抗拒执行",
        "以虚假诉讼、虚假仲裁或者以隐匿、转移财产等方法规避执行",
        "违反财产报告制度",
        "违反限制消费令",
        "无正当理由拒不履行执行和解协议",
    ];
    let ground = if b.rng.chance(60) {
        0
    } else {
        b.rng.range(1, 5) as usize
    };
    b.set("SX_QX", grounds[ground]);
    let filed = date_before(b.decided, i64::from(b.rng.range(30, 200)));
    b.date("SX_LARQ", filed);
    if ground > 0 {
        b.date("SX_QXJZ", date_after(b.decided, 2, 0, 0));
    }
    if b.organisation() {
        b.rep("SX_FRDB");
    }
    (court, region, Numbering::Case(code))
}

fn tax_violation(b: &mut Builder<'_>) -> Decider {
    let natures = [
        ("偷税", "采取虚假申报手段少缴增值税、企业所得税"),
        (
            "虚开增值税专用发票",
            "在没有真实交易的情况下为他人虚开增值税专用发票",
        ),
        (
            "逃避追缴欠税",
            "欠缴应纳税款并转移财产，致使税务机关无法追缴欠缴的税款",
        ),
        ("虚开普通发票", "为他人虚开增值税普通发票"),
    ];
    let &(nature, act) = b.rng.pick(&natures);
    let year = b.decided.year();
    let evaded = amount(b.rng, 200_000, 5_000_000, 100);
    let tax = b.place.tax.clone();
    b.set("SS_AJXZ", nature);
    b.set(
        "SS_WFSS",
        format!(
            "经{tax}检查，发现其在{}年1月1日至{}年12月31日期间，主要存在以下问题：{act}，涉及税款{}万元。",
            year - 2,
            year - 1,
            wan(evaded)
        ),
    );
    b.set(
        "SS_CLCF",
        format!(
            "依照《中华人民共和国税收征收管理法》等相关法律法规的有关规定，对其处以追缴税款{}万元的行政处理、处以少缴税款百分之五十罚款的行政处罚。",
            wan(evaded)
        ),
    );
    b.set("SS_SJSE", wan(evaded));
    if b.organisation() {
        b.rep("SS_FRDB");
        if b.rng.chance(50) {
            let (cfo, _) = names::person(b.rng);
            b.set("SS_CWFZR", cfo);
        }
    }
    let word = format!("{}税稽罚", b.place.doc_prefix());
    (tax, b.place.division.clone(), Numbering::Document(word))
}

fn serious_list(b: &mut Builder<'_>) -> Decider {
    let lists: [(Department, &str, &str, &str, &str); 3] = [
        (
            LABOUR,
            "拖欠农民工工资失信联合惩戒对象名单",
            "人力资源社会保障",
            "《拖欠农民工工资失信联合惩戒对象名单管理暂行办法》（人力资源社会保障部令第45号）第五条",
            "克扣、无故拖欠农民工工资达到认定拒不支付劳动报酬罪数额标准",
        ),
        (
            MARKET,
            "市场监督管理严重违法失信名单",
            "市场监管",
            "《市场监督管理严重违法失信名单管理办法》（国家市场监督管理总局令第44号）第九条",
            "因提交虚假材料取得市场主体登记被撤销登记",
        ),
        (
            SAFETY,
            "安全生产严重失信主体名单",
            "安全生产",
            "《安全生产严重失信主体名单管理办法》（应急管理部令第11号）第六条",
            "发生生产安全事故，造成人员死亡且负有主要责任",
        ),
    ];
    let &(dept, list, sector, basis, act) = b.rng.pick(&lists);
    let (name, word) = b.department(dept, "失信");
    b.set("YZ_MDMC", list);
    b.set("YZ_LY", sector);
    b.set("YZ_RDYJ", basis);
    b.set("YZ_SXXW", format!("{}{act}", b.subject.name));
    if b.rng.chance(70) {
        b.set(
            "YZ_CJCS",
            "依法依规限制参与政府采购、限制参加工程建设项目招标投标、限制享受财政资金支持等",
        );
    }
    (name, b.place.division.clone(), Numbering::Document(word))
}

fn abnormal(b: &mut Builder<'_>) -> Decider {
    let (name, word) = b.department(MARKET, "异");
    let year = b.decided.year();
    if b.subject.class == SubjectClass::IndividualBusiness {
        b.set("YC_LRYY", "其他");
        b.set("YC_LRYYSM", "未按规定报送年度报告，标记为经营异常状态");
    } else {
        let reasons = [
            ("未按规定期限公示年度报告", 70),
            ("通过登记的住所或者经营场所无法联系", 20),
            ("未在责令的期限内公示有关企业信息", 7),
            ("公示企业信息隐瞒真实情况、弄虚作假", 3),
        ];
        let reason = *b.rng.weighted(&reasons);
        b.set("YC_LRYY", reason);
        if b.rng.chance(50) {
            b.set(
                "YC_LRYYSM",
                format!("当事人{reason}（涉及{}年度），依据《企业经营异常名录管理暂行办法》列入经营异常名录", year - 1),
            );
        }
    }
    (name, b.place.division.clone(), Numbering::Document(word))
}

fn civilisation(b: &mut Builder<'_>, moral_model: bool) -> Decider {
    let levels = [("全国", 5), ("省级", 15), ("市级", 40), ("县级", 40)];
    let mut level = *b.rng.weighted(&levels);
    if b.place.city_level && level == "县级" {
        level = "市级";
    }
    let (body, title_place, region) = match level {
        "全国" => ("中央精神文明建设指导委员会".to_owned(), "全国", "100000"),
        "省级" => ("福建省精神文明建设委员会".to_owned(), "福建省", "350000"),
        "市级" => ("福州市精神文明建设委员会".to_owned(), "福州市", "350100"),
        _ => (
            b.place.body("精神文明建设委员会"),
            b.place.short.as_str(),
            b.place.division.as_str(),
        ),
    };
    let title_place = title_place.to_owned();
    let region = region.to_owned();
    let session = chinese_number(b.rng.range(5, 16));
    let word = match level {
        "全国" => "文明委".to_owned(),
        "省级" => "闽文明委".to_owned(),
        "市级" => "榕文明委".to_owned(),
        _ => format!("{}文明委", b.place.doc_prefix()),
    };
    if moral_model {
        let categories = [
            (
                "助人为乐",
                "多年来义务照料社区孤寡老人，组织志愿服务队开展帮扶活动",
            ),
            ("见义勇为", "在闽江边奋不顾身跳入江中救起落水儿童"),
            (
                "诚实守信",
                "经营困难时坚持按期偿还全部货款和员工工资，诚信经营二十余年",
            ),
            ("敬业奉献", "扎根基层医疗岗位三十年，累计义诊群众上万人次"),
            ("孝老爱亲", "二十年如一日悉心照顾瘫痪在床的婆婆和患病的丈夫"),
        ];
        let &(category, deed) = b.rng.pick(&categories);
        b.set("DM_CH", format!("第{session}届{title_place}道德模范"));
        b.set("DM_JB", level);
        b.set("DM_LB", category);
        if b.rng.chance(80) {
            b.set("DM_SJ", format!("{}{deed}。", b.subject.name));
        }
    } else {
        b.set("WM_CH", format!("{title_place}文明单位"));
        b.set("WM_JB", level);
        if b.rng.chance(70) {
            b.set("WM_JC", format!("第{session}届"));
        }
    }
    (body, region, Numbering::Document(word))
}

fn honour(b: &mut Builder<'_>) -> Decider {
    let year = b.decided.year();
    let pick = b.rng.below(4);
    let (body, region, title, level, trade) = match pick {
        0 => (
            b.place.body(MARKET.name),
            b.place.division.clone(),
            format!("{}年度守合同重信用企业", year - 1),
            "省级",
            "市场监管",
        ),
        1 => (
            b.place.tax.clone(),
            b.place.division.clone(),
            format!("{}年度纳税信用A级纳税人", year - 1),
            "省级",
            "税务",
        ),
        2 => (
            "福州市发展和改革委员会".to_owned(),
            "350100".to_owned(),
            "福州市诚信示范企业".to_owned(),
            "市级",
            "社会信用",
        ),
        _ => (
            b.place.body(LABOUR.name),
            b.place.division.clone(),
            "劳动保障守法诚信示范单位".to_owned(),
            "县级",
            "人力资源社会保障",
        ),
    };
    b.set("RY_MC", title);
    b.set("RY_JB", level);
    b.set("RY_HY", trade);
    if b.rng.chance(80) {
        let until = date_after(b.decided, b.rng.range(1, 3), 0, 0);
        b.date("RY_YXQZ", until);
    }
    let word = format!("{}信誉", b.place.doc_prefix());
    (body, region, Numbering::Document(word))
}

fn commitment(b: &mut Builder<'_>) -> Decider {
    let dept = if b.rng.chance(60) { APPROVAL } else { MARKET };
    let (name, word) = b.department(dept, "诺");
    let types = [
        ("审批替代型", "食品经营许可告知承诺", 35),
        ("容缺受理型", "建设工程消防验收容缺受理承诺", 20),
        ("行业自律型", "行业自律公约诚信经营承诺", 15),
        ("信用修复型", "行政处罚信用修复承诺", 20),
        ("主动型", "主动公示经营信息诚信承诺", 10),
    ];
    let weighted: Vec<((&str, &str), u32)> = types.iter().map(|&(t, s, w)| ((t, s), w)).collect();
    let &(kind, matter) = b.rng.weighted(&weighted);
    b.set("CN_LX", kind);
    b.set("CN_SX", matter);
    b.set(
        "CN_NR",
        format!("{}承诺所提交的申请材料真实、合法、有效，已知晓并符合{matter}的相关条件和要求；如有违反，愿意承担相应法律责任并接受失信惩戒。", b.subject.name),
    );
    if b.rng.chance(80) {
        b.date("CN_YXQZ", date_after(b.decided, 1, 0, 0));
    }
    let state = *b
        .rng
        .weighted(&[("履约中", 70), ("已履约", 25), ("未履约", 5)]);
    b.set("CN_LYZT", state);
    (name, b.place.division.clone(), Numbering::Document(word))
}

fn provident_fund(b: &mut Builder<'_>) -> Decider {
    let owed = amount(b.rng, 5_000, 300_000, 100);
    let year = b.decided.year();
    let from = b.rng.range(1, 6);
    let to = from + b.rng.range(2, 6);
    b.set("QJ_JE", wan(owed));
    b.set(
        "QJ_QJ",
        format!("{}年{from}月至{}年{to}月", year - 1, year - 1),
    );
    let (staff, paid) = (b.rng.range(3, 150), b.rng.chance(20));
    b.set("QJ_RS", json!(staff));
    b.set("QJ_YBJ", paid);
    let word = "榕公积金催".to_owned();
    (
        "福州住房公积金中心".to_owned(),
        "350100".to_owned(),
        Numbering::Document(word),
    )
}

fn risk_class(b: &mut Builder<'_>) -> Decider {
    let (name, word) = b.department(MARKET, "风");
    let class = *b.rng.weighted(&[("A", 30), ("B", 50), ("C", 15), ("D", 5)]);
    b.set("FX_JG", class);
    let batch = if b.decided.month() <= 6 { "一" } else { "二" };
    b.set("FX_PC", format!("{}年第{batch}批", b.decided.year()));
    (name, b.place.division.clone(), Numbering::Document(word))
}
