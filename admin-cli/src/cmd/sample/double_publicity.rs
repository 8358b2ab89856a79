//! 双公示 content: administrative licences (行政许可, kind XK) and
//! penalties (行政处罚, kinds CF_QW, CF and CF_YZ by severity) — the
//! deciding department, the document title, the violation and its legal
//! basis, and penalties that fit the severity tier.

use rongxin_protocol::catalog::{RecordKind, SubjectClass};
use rongxin_protocol::value::Date;

use super::fields::{Builder, Decider, Numbering, date_after};
use super::names::{amount, wan};
use super::places::{
    APPROVAL, Department, ECOLOGY, HEALTH, HOUSING, MARKET, SAFETY, TRANSPORT, URBAN,
};

pub(super) fn licence(b: &mut Builder<'_>) -> Decider {
    // (department, document title, certificate, category, content)
    let cases: &[(Department, &str, &str, &str, &str)] = match b.subject.class {
        SubjectClass::NaturalPerson => &[
            (
                HOUSING,
                "乡村建设规划许可决定书",
                "乡村建设规划许可证",
                "核准",
                "准予在本人宅基地范围内新建农村村民住宅一幢，建筑面积120平方米，层数三层",
            ),
            (
                TRANSPORT,
                "巡游出租汽车驾驶员从业资格许可决定书",
                "道路运输从业人员从业资格证",
                "认可",
                "准予取得巡游出租汽车驾驶员从业资格",
            ),
        ],
        SubjectClass::IndividualBusiness => &[
            (
                MARKET,
                "食品经营许可决定书",
                "食品经营许可证",
                "普通",
                "预包装食品（含冷藏冷冻食品）销售；散装食品（不含冷藏冷冻食品）销售；热食类食品制售",
            ),
            (
                HEALTH,
                "公共场所卫生许可决定书",
                "公共场所卫生许可证",
                "普通",
                "美容美发场所",
            ),
        ],
        SubjectClass::LegalPerson => &[
            (
                MARKET,
                "食品经营许可决定书",
                "食品经营许可证",
                "普通",
                "预包装食品（含冷藏冷冻食品）销售；热食类食品制售；自制饮品制售",
            ),
            (
                MARKET,
                "企业变更登记核准通知书",
                "营业执照",
                "登记",
                "准予变更登记：经营范围变更",
            ),
            (
                APPROVAL,
                "建筑工程施工许可决定书",
                "建筑工程施工许可证",
                "普通",
                "准予新建综合楼工程施工，建筑面积18650平方米",
            ),
            (
                ECOLOGY,
                "排污许可证核发决定书",
                "排污许可证",
                "普通",
                "准予核发排污许可证，行业类别：汽车修理与维护",
            ),
            (
                TRANSPORT,
                "道路运输经营许可决定书",
                "道路运输经营许可证",
                "普通",
                "道路普通货物运输",
            ),
            (
                HEALTH,
                "医疗机构执业许可决定书",
                "医疗机构执业许可证",
                "普通",
                "诊疗科目：预防保健科；内科；口腔科",
            ),
        ],
    };
    let &(dept, title, cert, category, content) = b.rng.pick(cases);
    let (name, word) = b.department(dept, "许");
    let number = format!(
        "{}{}{:07}",
        cert_letters(cert),
        b.place.division,
        b.rng.below(10_000_000)
    );
    b.set("XK_XKWS", title);
    b.set("XK_XKLB", category);
    b.set("XK_NR", content);
    if b.rng.chance(85) {
        b.set("XK_XKZS", cert);
        b.set("XK_XKBH", number);
    }
    b.date("XK_YXQZ", b.decided);
    let until = match b.rng.below(4) {
        0 => Date::new(2099, 12, 31).unwrap_or(b.decided),
        n => date_after(b.decided, [1, 3, 5][n - 1], 0, 0),
    };
    b.date("XK_YXQZI", until);
    let state = if b.rng.chance(95) { "1" } else { "2" };
    b.set("XK_ZT", state);
    if b.organisation() {
        b.rep("FRDB");
    }
    (name, b.place.division.clone(), Numbering::Document(word))
}

fn cert_letters(cert: &str) -> &'static str {
    match cert {
        "食品经营许可证" => "JY1",
        "排污许可证" => "PW",
        "道路运输经营许可证" => "JY",
        "医疗机构执业许可证" => "PDY",
        _ => "XK",
    }
}

pub(super) fn penalty(b: &mut Builder<'_>, kind: &RecordKind) -> Decider {
    // (department, violation type, facts, legal basis)
    let cases: &[(Department, &str, &str, &str)] = &[
        (
            MARKET,
            "销售不符合食品安全标准的食品",
            "当事人销售的散装糕点经抽样检验，菌落总数项目不符合食品安全国家标准",
            "《中华人民共和国食品安全法》第一百二十四条第一款第（一）项",
        ),
        (
            MARKET,
            "未按规定明码标价",
            "当事人经营场所内销售的商品未按规定标示价格",
            "《明码标价和禁止价格欺诈规定》第二十一条",
        ),
        (
            MARKET,
            "发布虚假广告",
            "当事人在其微信公众号发布含有虚假内容的商品广告",
            "《中华人民共和国广告法》第五十五条第一款",
        ),
        (
            MARKET,
            "未取得食品经营许可从事食品经营活动",
            "当事人未取得食品经营许可在经营场所销售预包装食品",
            "《中华人民共和国食品安全法》第一百二十二条第一款",
        ),
        (
            ECOLOGY,
            "超标排放大气污染物",
            "当事人废气排放口颗粒物排放浓度超过国家规定的排放标准",
            "《中华人民共和国大气污染防治法》第九十九条第（二）项",
        ),
        (
            ECOLOGY,
            "建设项目未批先建",
            "当事人建设项目环境影响评价文件未经批准即擅自开工建设",
            "《中华人民共和国环境影响评价法》第三十一条第一款",
        ),
        (
            URBAN,
            "擅自设置大型户外广告",
            "当事人未经批准在临街建筑外墙擅自设置户外广告牌",
            "《城市市容和环境卫生管理条例》第三十六条第（一）项",
        ),
        (
            URBAN,
            "随意倾倒建筑垃圾",
            "当事人未按规定路线运输并随意倾倒建筑垃圾",
            "《城市建筑垃圾管理规定》第二十六条",
        ),
        (
            SAFETY,
            "未按规定对从业人员进行安全生产教育和培训",
            "当事人未对新入职从业人员进行安全生产教育和培训即安排上岗作业",
            "《中华人民共和国安全生产法》第九十七条第（三）项",
        ),
        (
            TRANSPORT,
            "未取得道路运输经营许可擅自从事道路运输经营",
            "当事人未取得道路运输经营许可，擅自使用小型客车从事道路旅客运输经营",
            "《中华人民共和国道路运输条例》第六十三条",
        ),
    ];
    let &(dept, wfxw, facts, basis) = b.rng.pick(cases);
    let (name, word) = b.department(dept, "罚");
    let (mut categories, mut content) = (Vec::new(), Vec::new());
    // A minor penalty is a warning, or a fine the simplified procedure
    // allows (《行政处罚法》第五十一条: at most 200 yuan on a citizen, 3,000
    // on an organisation; the catalog's [penalty_tiers.simplified]).
    let fine = match kind.code.as_str() {
        "CF_QW" if b.rng.chance(40) => None,
        "CF_QW" if b.organisation() => Some(amount(b.rng, 200, 3_000, 100)),
        "CF_QW" => Some(amount(b.rng, 50, 200, 50)),
        "CF_YZ" => Some(amount(b.rng, 100_000, 1_000_000, 10_000)),
        _ => Some(amount(b.rng, 3_000, 50_000, 500)),
    };
    if fine.is_none() || b.rng.chance(25) {
        categories.push("警告");
        content.push("警告".to_owned());
    }
    if kind.code != "CF_QW" && b.rng.chance(30) {
        let gains = amount(b.rng, 500, 20_000, 100);
        categories.push("没收违法所得、没收非法财物");
        content.push(format!("没收违法所得人民币{gains}元"));
        b.set("CF_NR_WFFF", wan(gains));
    }
    if let Some(fine) = fine {
        categories.push("罚款");
        content.push(format!("罚款人民币{fine}元"));
        b.set("CF_NR_FK", wan(fine));
    }
    // A serious penalty holds a serious type (the catalog's
    // [penalty_tiers]): a revoked licence, or a ban from the trade.
    if kind.code == "CF_YZ" && b.organisation() {
        categories.push("吊销许可证件");
        let licence = revoked_licence(b, dept);
        content.push(format!("吊销{licence}"));
        b.set("CF_NR_ZKDX", licence);
    } else if kind.code == "CF_YZ" {
        categories.push("限制从业");
        content.push("五年内不得从事相关经营活动".to_owned());
    }
    let content: Vec<String> = content
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {c}", i + 1))
        .collect();
    let subject = b.subject.name.clone();
    b.set("CF_WFXW", wfxw);
    let facts = facts.strip_prefix("当事人").unwrap_or(facts);
    b.set("CF_SY", format!("经查，{subject}{facts}。"));
    b.set("CF_YJ", basis);
    b.set("CF_CFLB", categories.join(";"));
    b.set("CF_NR", content.join("；"));
    let (years, months) = kind.publicity.max.map_or((1, 0), |p| (p.years, p.months));
    let until = date_after(b.decided, years, months, 0);
    b.date("CF_YXQ", until);
    if b.rng.chance(50) {
        b.date("CF_GSJZQ", until);
    }
    if b.organisation() {
        b.rep("FRDB");
    }
    (name, b.place.division.clone(), Numbering::Document(word))
}

/// The licence a serious penalty revokes, by the department that decided.
fn revoked_licence(b: &mut Builder<'_>, dept: Department) -> String {
    let n = b.rng.below(10_000_000);
    let year = b.decided.year() - 2;
    let division = &b.place.division;
    match dept.short {
        "环" => format!("《排污许可证》（{}001V）", b.subject.code),
        "交" => format!(
            "《道路运输经营许可证》（闽交运管许可榕字{division}{:06}号）",
            n % 1_000_000
        ),
        "应急" => format!(
            "《安全生产许可证》（（闽）FM安许证字〔{year}〕{:04}号）",
            n % 10_000
        ),
        "城管" => format!(
            "《城市建筑垃圾处置核准证》（榕城管核〔{year}〕{:04}号）",
            n % 10_000
        ),
        _ => format!("《食品经营许可证》（JY1{division}{n:07}）"),
    }
}
