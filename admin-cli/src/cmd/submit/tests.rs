//! Reading submit input: JSON Lines and 双公示 CSV mapping.

use std::io::Cursor;
use std::path::PathBuf;

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::record::Record;
use serde_json::{Value, json};

use super::input::{Input, Item, Payload, normalise_date};
use crate::files::read_text;

fn catalog() -> Catalog {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config-examples/catalog.toml");
    Catalog::from_toml_str(&read_text(&path).unwrap()).unwrap()
}

fn items(input: Input<'_>) -> Vec<Item> {
    input.collect::<anyhow::Result<Vec<_>>>().unwrap()
}

/// The record a row was mapped to, as its JSON object.
fn payload(item: &Item) -> Value {
    match item.payload.as_ref().unwrap() {
        Payload::Json(line) => {
            let sent: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                Some(&sent),
                item.mapped
                    .as_ref()
                    .map(|m| serde_json::to_value(m).unwrap())
                    .as_ref()
            );
            sent
        }
        Payload::Csv(_) => serde_json::to_value(item.mapped.as_ref().unwrap()).unwrap(),
    }
}

const CSV: &str = "\u{feff}XK_WSH,XK_JDRQ,XK_XKJG,XK_XKJGDM,XK_XDR_MC,XDR_LB,XDR_SHXYM,XDR_ZJHM,XK_XKWS,XK_XKLB,XK_NR,XK_YXQZ,XK_YXQZI,XK_ZT,XK_LYDW,XK_LYDWDM,CF_WSH,CF_JDRQ,CF_CFJG,CF_CFJGDM,CF_XDR_MC,CF_WFXW,CF_SY,CF_YJ,CF_CFLB,CF_NR,CF_NR_FK,CF_YXQ,CF_SJLY,CF_SJLYDM,DFBM
榕鼓市监许〔2026〕1号,2026/3/1,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区鑫源贸易有限公司,法人及非法人组织,91350100757384472D,,食品经营许可决定书,普通,预包装食品销售,2026-03-01,2031-02-28,1,福州市鼓楼区市场监督管理局,11350102MB01234562,,,,,,,,,,,,,,,350102
,,,,,,11010519491231002X,,,,,,,,,,榕鼓市监罚〔2026〕2号,20260302,福州市鼓楼区市场监督管理局,11350102MB01234562,张三,未按规定明码标价,经查…,《明码标价和禁止价格欺诈规定》第二十一条,罚款,罚款人民币2000元,0.2,2027-03-02,福州市鼓楼区市场监督管理局,11350102MB01234562,350102
榕鼓市监罚〔2026〕3号,too,few,columns
,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,350102
";

#[test]
fn csv_rows_map_to_ingest_records() {
    let catalog = catalog();
    let all = items(Input::csv(Box::new(Cursor::new(CSV)), Some(&catalog), None).unwrap());
    assert_eq!(all.len(), 4);

    let xk = payload(&all[0]);
    assert_eq!(all[0].line, Some(2));
    assert_eq!(xk["kind"], "XK");
    assert_eq!(xk["jurisdiction"], "350102");
    assert_eq!(xk["record_no"], "榕鼓市监许〔2026〕1号");
    assert_eq!(xk["decision_date"], "2026-03-01");
    assert_eq!(
        xk["subject"],
        json!({"class": "legal_person", "code": "91350100757384472D", "name": "福州市鼓楼区鑫源贸易有限公司"})
    );
    assert_eq!(
        xk["authority"],
        json!({"name": "福州市鼓楼区市场监督管理局", "code": "11350102MB01234562"})
    );
    assert_eq!(xk["fields"]["XK_ZT"], "1");
    assert_eq!(xk["fields"]["XK_YXQZI"], "2031-02-28");
    assert!(
        xk["fields"].get("CF_WSH").is_none(),
        "empty columns are left out"
    );
    assert!(xk["fields"].get("DFBM").is_none() && xk["fields"].get("XDR_SHXYM").is_none());

    // A natural person: no XDR_LB, so the class is missing and the code is
    // taken from XDR_SHXYM as given; the kind is inferred from CF_ columns.
    let cf = payload(&all[1]);
    assert_eq!(cf["kind"], "CF");
    assert_eq!(cf["decision_date"], "2026-03-02");
    assert_eq!(cf["subject"]["name"], "张三");
    assert_eq!(cf["fields"]["CF_NR_FK"], "0.2");
    assert_eq!(cf["fields"]["CF_YXQ"], "2027-03-02");

    assert_eq!(all[2].line, Some(4));
    let err = all[2].payload.as_ref().unwrap_err();
    assert!(
        err.contains("has 4 values but the header has 31 columns"),
        "{err}"
    );
    assert!(
        all[2].text.starts_with("榕鼓市监罚〔2026〕3号,too"),
        "{}",
        all[2].text
    );

    let err = all[3].payload.as_ref().unwrap_err();
    assert!(err.contains("add a KIND column"), "{err}");

    // The XK row is a complete record the catalog accepts.
    let record = Record::from_json(&xk, &catalog).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(record.subject.code, "91350100757384472D");
}

#[test]
fn csv_kind_column_class_values_and_types() {
    let catalog = catalog();
    let csv = "KIND,RECORD_NO,DECISION_DATE,AUTHORITY_NAME,AUTHORITY_CODE,XDR_MC,XDR_LB,XDR_SHXYM,XDR_ZJHM,QJ_JE,QJ_QJ,QJ_RS,QJ_YBJ,JURISDICTION\n\
        GJJQJ,榕公积金催〔2026〕1号,2026-05-01 00:00:00,福州住房公积金中心,11350100MB0123456X,某店,个体工商户,92350102MA2XXXXX1X,,1.5,2025年1月至2025年6月,12,否,\n\
        XK,x,2026.5.1,a,b,李四,自然人,,11010519491231002X,,,,,350103\n";
    let all =
        items(Input::csv(Box::new(Cursor::new(csv)), Some(&catalog), Some("350102")).unwrap());
    let gjj = payload(&all[0]);
    assert_eq!(gjj["kind"], "GJJQJ");
    assert_eq!(
        gjj["jurisdiction"], "350102",
        "--jurisdiction fills an empty cell"
    );
    assert_eq!(gjj["decision_date"], "2026-05-01");
    assert_eq!(gjj["subject"]["class"], "individual_business");
    assert_eq!(gjj["fields"]["QJ_RS"], json!(12));
    assert_eq!(gjj["fields"]["QJ_YBJ"], json!(false));
    assert_eq!(gjj["fields"]["QJ_JE"], "1.5");
    let person = payload(&all[1]);
    assert_eq!(person["subject"]["class"], "natural_person");
    assert_eq!(person["subject"]["code"], "11010519491231002X");
    assert_eq!(person["jurisdiction"], "350103");
    assert_eq!(person["decision_date"], "2026-05-01");
}

#[test]
fn csv_header_without_core_columns_is_refused() {
    let catalog = catalog();
    let err = Input::csv(Box::new(Cursor::new("A,B\n1,2\n")), Some(&catalog), None).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("record number (XK_WSH or CF_WSH or RECORD_NO)"),
        "{text}"
    );
    assert!(text.contains("subject name"), "{text}");
}

#[test]
fn json_lines_and_arrays() {
    let text = "{\"kind\":\"XK\"}\n\n  \nnot json\n[1]\n{\"kind\":\"CF\"}\r\n";
    let all = items(Input::json(Box::new(Cursor::new(text))).unwrap());
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[0].payload,
        Ok(Payload::Json("{\"kind\":\"XK\"}".into()))
    );
    assert_eq!((all[1].line, all[1].index), (Some(4), 1));
    assert!(
        all[1]
            .payload
            .as_ref()
            .unwrap_err()
            .starts_with("not valid JSON")
    );
    assert!(
        all[2]
            .payload
            .as_ref()
            .unwrap_err()
            .contains("got an array")
    );
    assert_eq!(all[3].line, Some(6));
    assert_eq!(
        all[3].payload,
        Ok(Payload::Json("{\"kind\":\"CF\"}".into()))
    );

    let array = items(Input::json(Box::new(Cursor::new(" [{\"a\":1}, 2]"))).unwrap());
    assert_eq!(array.len(), 2);
    assert_eq!(array[0].line, None);
    assert!(array[1].payload.is_err());
    assert_eq!(array[1].place(), "record 2");
}

#[test]
fn dates_from_spreadsheets() {
    assert_eq!(normalise_date("2026/3/1"), "2026-03-01");
    assert_eq!(normalise_date("2026.03.01"), "2026-03-01");
    assert_eq!(normalise_date("20260301"), "2026-03-01");
    assert_eq!(normalise_date("2026-03-01 00:00:00"), "2026-03-01");
    assert_eq!(normalise_date("2026-03-01T08:00"), "2026-03-01");
    assert_eq!(normalise_date("三月一日"), "三月一日");
    assert_eq!(normalise_date("26/3/1"), "26/3/1");
}

/// A penalty file as a Chinese spreadsheet saves it: GB18030, Chinese
/// column names for the core columns and the fields, no KIND column. Each
/// row's kind follows its types' tier (catalog [penalty_tiers]); a row of
/// types the table does not know is refused alone, naming CF_CFLB.
#[test]
fn a_gb18030_penalty_file_with_chinese_headers_and_no_kind() {
    let catalog = catalog();
    let text = "行政处罚决定书文号,行政相对人名称,行政相对人类别,统一社会信用代码,证件类型,证件号码,CF_FRDB,CF_FR_ZJLX,CF_FR_ZJHM,违法行为类型,违法事实,处罚依据,处罚类别,处罚内容,罚款金额（万元）,处罚决定日期,处罚有效期,公示截止期,处罚机关,处罚机关统一社会信用代码,数据来源单位,数据来源单位统一社会信用代码,地方编码,备注\n\
        榕鼓市监罚〔2026〕11号,福州市鼓楼区鑫源贸易有限公司,法人及非法人组织,91350100757384472D,,,王五,身份证,350102199003071234,未按规定明码标价,经查…,《价格法》第四十二条,警告,警告,,2026/3/5,2026-06-05,,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区市场监督管理局,11350102MB01234562,350102,\n\
        榕鼓市监罚〔2026〕12号,福州市鼓楼区鑫源贸易有限公司,法人及非法人组织,91350100757384472D,,,王五,身份证,350102199003071234,超范围经营,经查…,《食品安全法》第一百二十二条,罚款；没收违法所得,罚款5万元,5,20260306,2027-03-06,,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区市场监督管理局,11350102MB01234562,350102,\n\
        榕鼓市监罚〔2026〕13号,李四,自然人,,护照,E12345678,,,,无证经营,经查…,《食品安全法》第一百二十二条,罚款、吊销许可证件,罚款10万元并吊销许可证,10,2026-03-07 09:30:00,2029-03-07,,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区市场监督管理局,11350102MB01234562,350102,\n\
        榕鼓市监罚〔2026〕14号,张三,自然人,,身份证,11010519491231002X,,,,其他,经查…,依据,责令改正,责令改正,,2026-03-08,2026-06-08,,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区市场监督管理局,11350102MB01234562,350102,\n";
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "really GB18030");
    let input = Input::csv(
        Box::new(Cursor::new(bytes.into_owned())),
        Some(&catalog),
        None,
    )
    .unwrap();
    assert_eq!(input.encoding, "gb18030");
    let all = items(input);
    assert_eq!(all.len(), 4);
    let kinds: Vec<Value> = all[..3]
        .iter()
        .map(|i| payload(i)["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("CF_QW"), json!("CF"), json!("CF_YZ")]);
    let first = payload(&all[0]);
    assert_eq!(first["record_no"], "榕鼓市监罚〔2026〕11号");
    assert_eq!(first["decision_date"], "2026-03-05");
    assert_eq!(
        first["authority"],
        json!({"name": "福州市鼓楼区市场监督管理局", "code": "11350102MB01234562"})
    );
    // Prefixed legal-representative columns fill the kind's fields.
    assert_eq!(first["fields"]["FRDB"], "王五");
    assert_eq!(first["fields"]["FR_ZJLX"], "身份证");
    assert_eq!(first["fields"]["FR_ZJHM"], "350102199003071234");
    // Chinese field names fill the kind's fields by label.
    assert_eq!(first["fields"]["CF_CFLB"], "警告");
    assert_eq!(first["fields"]["CF_SJLYDM"], "11350102MB01234562");
    assert_eq!(payload(&all[1])["fields"]["CF_NR_FK"], "5");
    // Dates written otherwise are read, each with a warning.
    assert!(
        all[0]
            .warnings
            .iter()
            .any(|w| w.contains("'2026/3/5' read as 2026-03-05")),
        "{:?}",
        all[0].warnings
    );
    assert!(!all[1].warnings.is_empty() && !all[2].warnings.is_empty());
    // Every mapped row is a record the catalog accepts, and the origin's
    // tier rule agrees with the kind read.
    for item in &all[..2] {
        let record =
            Record::from_json(&payload(item), &catalog).unwrap_or_else(|e| panic!("{e:#?}"));
        let today = rongxin_protocol::value::Date::new(2026, 12, 1).unwrap();
        record.check_for_signing(&catalog, today).unwrap();
    }
    let err = all[3].payload.as_ref().unwrap_err();
    assert!(
        err.contains("CF_CFLB '责令改正'") && err.contains("KIND"),
        "{err}"
    );
}

/// A licensing file of an older export: UTF-8 with a BOM, the 2015
/// template's codes, XK_ZT "0" and dates with times; each normalised value
/// is reported.
#[test]
fn older_licensing_exports_are_normalised_with_warnings() {
    let catalog = catalog();
    let csv = "\u{feff}XK_WSH,XK_JDRQ,XK_XKJG,XK_XKJGDM,XK_XDR,XK_XDR_LB,XK_XDR_SHXYM,XK_FR,XK_XKWS,XK_XKLB,XK_NR,XK_YXQZ,XK_JZQ,XK_ZT,XK_LYDW,XK_LYDWDM,DFBM\n\
        榕鼓市监许〔2026〕9号,2026-03-01 10:00:00,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区鑫源贸易有限公司,法人及非法人组织,91350100757384472D,王五,食品经营许可决定书,普通,预包装食品销售,20260301,2031/2/28,0,福州市鼓楼区市场监督管理局,11350102MB01234562,350102\n";
    let input = Input::csv(Box::new(Cursor::new(csv)), Some(&catalog), None).unwrap();
    assert_eq!(input.encoding, "UTF-8");
    let all = items(input);
    let xk = payload(&all[0]);
    assert_eq!(xk["kind"], "XK");
    assert_eq!(xk["subject"]["name"], "福州市鼓楼区鑫源贸易有限公司");
    assert_eq!(xk["fields"]["FRDB"], "王五");
    assert_eq!(xk["fields"]["XK_ZT"], "1");
    assert_eq!(xk["fields"]["XK_YXQZI"], "2031-02-28");
    assert_eq!(xk["decision_date"], "2026-03-01");
    let w = &all[0].warnings;
    assert!(w.iter().any(|w| w.starts_with("XK_ZT: '0'")), "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains("'2026-03-01 10:00:00' read as 2026-03-01")),
        "{w:?}"
    );
    assert_eq!(w.len(), 4, "{w:?}");
    Record::from_json(&xk, &catalog).unwrap_or_else(|e| panic!("{e:#?}"));
}

/// The 2015 template's licensing columns: 项目名称 `XK_XMMC` is read as the
/// title `XK_XKWS`, 审批类别 `XK_SPLB` as `XK_XKLB`, and the export's
/// timestamp `SJC` is read and not kept; the file still goes as text/csv.
#[test]
fn the_2015_template_title_category_and_timestamp() {
    let catalog = catalog();
    let csv = "XK_WSH,XK_XMMC,XK_SPLB,XK_NR,XK_XDR,XK_XDR_SHXYM,XK_FR,XK_JDRQ,XK_JZQ,XK_XZJG,XK_XKJGDM,XK_ZT,DFBM,SJC,BZ\n\
        榕鼓市监许〔2026〕10号,食品经营许可,核准,预包装食品销售,福州市鼓楼区鑫源贸易有限公司,91350100757384472D,王五,2026-03-02,2031-03-01,福州市鼓楼区市场监督管理局,11350102MB01234562,0,350102,2026-03-02 17:20:00,\n";
    let input = Input::csv(Box::new(Cursor::new(csv)), Some(&catalog), None).unwrap();
    assert_eq!(
        input
            .skipped
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>(),
        ["SJC"]
    );
    assert!(input.csv_rows.is_some(), "a file of one kind goes as rows");
    let all = items(input);
    let xk = payload(&all[0]);
    assert_eq!(xk["fields"]["XK_XKWS"], "食品经营许可");
    assert_eq!(xk["fields"]["XK_XKLB"], "核准");
    assert!(xk["fields"].get("SJC").is_none(), "{xk}");
    // What the template has no column for is implied, each with a warning.
    assert_eq!(xk["subject"]["class"], "legal_person");
    assert_eq!(xk["fields"]["XK_YXQZ"], "2026-03-02");
    assert_eq!(xk["fields"]["XK_YXQZI"], "2031-03-01");
    assert_eq!(xk["fields"]["XK_LYDW"], "福州市鼓楼区市场监督管理局");
    assert_eq!(xk["fields"]["XK_LYDWDM"], "11350102MB01234562");
    let w = &all[0].warnings;
    for column in ["XDR_LB", "XK_YXQZ", "XK_LYDW", "XK_LYDWDM", "XK_ZT"] {
        assert!(
            w.iter().any(|w| w.starts_with(&format!("{column}: "))),
            "{column}: {w:?}"
        );
    }
    assert_eq!(w.len(), 5, "{w:?}");
    Record::from_json(&xk, &catalog).unwrap_or_else(|e| panic!("{e:#?}"));
    // An individual business by its code; a person by an ID number alone.
    let csv = "XK_WSH,XK_XMMC,XK_SPLB,XK_NR,XK_XDR,XK_XDR_SHXYM,XK_XDR_SFZ,XK_JDRQ,XK_JZQ,XK_XZJG,XK_XKJGDM,XK_ZT,DFBM,SJC
        许〔2026〕11号,食品经营许可,普通,预包装食品销售,福州市鼓楼区张三小吃店,92350102MA2XN1RB8H,,2026-03-02,2031-03-01,福州市鼓楼区市场监督管理局,11350102MB01234562,1,350102,
        许〔2026〕12号,食品经营许可,普通,预包装食品销售,张三,,350102199003071234,2026-03-02,2031-03-01,福州市鼓楼区市场监督管理局,11350102MB01234562,1,350102,
";
    let input = Input::csv(Box::new(Cursor::new(csv)), Some(&catalog), None).unwrap();
    let all = items(input);
    assert_eq!(payload(&all[0])["subject"]["class"], "individual_business");
    assert_eq!(payload(&all[1])["subject"]["class"], "natural_person");
    // A file that has the class column and leaves a cell empty is not
    // guessed at: the record's check refuses the row.
    let csv = "XK_WSH,XK_XMMC,XK_SPLB,XK_NR,XK_XDR,XK_XDR_LB,XK_XDR_SHXYM,XK_JDRQ,XK_JZQ,XK_XZJG,XK_XKJGDM,XK_ZT,DFBM,XK_LYDW
        许〔2026〕13号,食品经营许可,普通,预包装食品销售,福州市鼓楼区鑫源贸易有限公司,,91350100757384472D,2026-03-02,2031-03-01,福州市鼓楼区市场监督管理局,11350102MB01234562,1,350102,
";
    let input = Input::csv(Box::new(Cursor::new(csv)), Some(&catalog), None).unwrap();
    let all = items(input);
    let xk = payload(&all[0]);
    assert!(
        xk["subject"].get("class").is_none_or(Value::is_null),
        "{xk}"
    );
    assert!(xk["fields"].get("XK_LYDW").is_none(), "{xk}");
    assert_eq!(xk["fields"]["XK_LYDWDM"], "11350102MB01234562");
    assert!(Record::from_json(&xk, &catalog).is_err());
}

/// The 2015 template's penalty columns: 处罚名称 `CF_CFMC` is read as
/// `CF_WFXW`, 处罚结果 `CF_JG` as `CF_NR`, the two 处罚类别 columns
/// (codes or names) as one `CF_CFLB` that decides the tier, and 当前状态
/// `CF_ZT` is read and not kept when it is 0; a row in another state is
/// refused alone, naming the column.
#[test]
fn the_2015_penalty_template_loads_by_its_codes() {
    let catalog = catalog();
    let header = "CF_WSH,CF_CFMC,CF_CFLB1,CF_CFLB2,CF_SY,CF_YJ,CF_XDR_MC,CF_XDR_SHXYM,CF_XDR_ZDM,CF_XDR_GSDJ,CF_XDR_SWDJ,CF_XDR_SFZ,CF_FR,CF_JG,CF_JDRQ,CF_XZJG,CF_CFJGDM,CF_ZT,DFBM,SJC,BZ";
    let csv = format!(
        "{header}\n\
        罚〔2026〕21号,未按规定明码标价,0,,经查…,《价格法》第四十二条,福州市鼓楼区鑫源贸易有限公司,91350100757384472D,,,,,王五,警告,2026/3/5,福州市鼓楼区市场监督管理局,11350102MB01234562,0,350102,2026-03-06 17:20:00,\n\
        罚〔2026〕22号,无证经营,1,吊销许可证件,经查…,《食品安全法》第一百二十二条,福州市鼓楼区张三小吃店,92350102MA2XN1RB89,,,,,,罚款10万元并吊销许可证,2026-03-07,福州市鼓楼区市场监督管理局,11350102MB01234562,,350102,,\n\
        罚〔2026〕23号,超范围经营,罚款,没收违法所得,经查…,《食品安全法》第一百二十二条,张三,,,,,11010519491231002X,,罚款5000元,2026-03-08,福州市鼓楼区市场监督管理局,11350102MB01234562,正常,350102,,\n\
        罚〔2026〕24号,超范围经营,1,,经查…,依据,福州市鼓楼区鑫源贸易有限公司,91350100757384472D,,,,,王五,罚款,2026-03-09,福州市鼓楼区市场监督管理局,11350102MB01234562,1,350102,,\n\
        罚〔2026〕25号,超范围经营,4,,经查…,依据,福州市鼓楼区鑫源贸易有限公司,91350100757384472D,,,,,王五,暂扣许可证,2026-03-10,福州市鼓楼区市场监督管理局,11350102MB01234562,0,350102,,\n"
    );
    let input = Input::csv(Box::new(Cursor::new(csv)), Some(&catalog), None).unwrap();
    let skipped: Vec<&str> = input.skipped.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(skipped, ["CF_ZT", "SJC"]);
    let all = items(input);
    assert_eq!(all.len(), 5);
    let first = payload(&all[0]);
    assert_eq!(first["kind"], "CF_QW", "警告 alone is minor: {first}");
    assert_eq!(first["fields"]["CF_CFLB"], "警告");
    assert_eq!(first["fields"]["CF_WFXW"], "未按规定明码标价");
    assert_eq!(first["fields"]["CF_NR"], "警告");
    assert_eq!(first["fields"]["FRDB"], "王五");
    assert_eq!(first["subject"]["class"], "legal_person");
    // What the template has no column for is implied, each with a warning.
    assert_eq!(first["fields"]["CF_YXQ"], "2099-12-31");
    assert_eq!(first["fields"]["CF_SJLY"], "福州市鼓楼区市场监督管理局");
    assert_eq!(first["fields"]["CF_SJLYDM"], "11350102MB01234562");
    assert!(first["fields"].get("CF_ZT").is_none(), "{first}");
    let w = &all[0].warnings;
    for start in [
        "CF_CFLB1: '0' (a 2015 处罚类别 code) read as '警告'",
        "XDR_LB: missing",
        "CF_YXQ: missing; read as 长期",
        "CF_SJLY: missing",
        "CF_SJLYDM: missing",
        "decision date: '2026/3/5' read as 2026-03-05",
    ] {
        assert!(w.iter().any(|w| w.starts_with(start)), "{start}: {w:?}");
    }
    assert_eq!(w.len(), 6, "{w:?}");
    // A code and a name in the two columns join; the most severe decides.
    let second = payload(&all[1]);
    assert_eq!(second["kind"], "CF_YZ", "{second}");
    assert_eq!(second["fields"]["CF_CFLB"], "罚款;吊销许可证件");
    assert_eq!(second["subject"]["class"], "individual_business");
    let third = payload(&all[2]);
    assert_eq!(third["kind"], "CF");
    assert_eq!(third["fields"]["CF_CFLB"], "罚款;没收违法所得");
    assert_eq!(third["subject"]["class"], "natural_person");
    for item in &all[..3] {
        let record =
            Record::from_json(&payload(item), &catalog).unwrap_or_else(|e| panic!("{e:#?}"));
        let today = rongxin_protocol::value::Date::new(2026, 12, 1).unwrap();
        record.check_for_signing(&catalog, today).unwrap();
    }
    // 1 (撤销) is not published; the row alone is refused, naming CF_ZT.
    let err = all[3].payload.as_ref().unwrap_err();
    assert!(
        err.contains("CF_ZT") && err.contains("'1'") && err.contains("撤销"),
        "{err}"
    );
    // Code 4 is suspension or revocation: the tier cannot be told.
    let err = all[4].payload.as_ref().unwrap_err();
    assert!(
        err.contains("暂扣或者吊销许可证、暂扣或者吊销执照") && err.contains("KIND"),
        "{err}"
    );
}
