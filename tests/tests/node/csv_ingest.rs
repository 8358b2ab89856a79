//! `POST /v1/records` with a double-publicity CSV file (`text/csv`,
//! `?kind=XK|CF`): the rows are mapped as `rongxinctl submit` maps them
//! (rongxin_protocol::dpcsv) and signed like JSON records; a row that
//! cannot be mapped is refused alone, naming its column; a file the node
//! cannot read is refused whole, naming the parameter or the column.

use rongxin_tests::client::statuses;
use serde_json::Value;

use super::gulou;
use rongxin_tests::Records;

const PENALTY_HEADER: &str = "行政处罚决定书文号,行政相对人名称,行政相对人类别,统一社会信用代码,证件类型,证件号码,违法行为类型,违法事实,处罚依据,处罚类别,处罚内容,罚款金额（万元）,处罚决定日期,处罚有效期,处罚机关,处罚机关统一社会信用代码,数据来源单位,数据来源单位统一社会信用代码,地方编码";

/// `2026-03-05` as a spreadsheet writes it: `2026/3/5`.
fn slashed(date: &str) -> String {
    let parts: Vec<u32> = date
        .split('-')
        .map(|p| p.parse().expect("a YYYY-MM-DD date"))
        .collect();
    format!("{}/{}/{}", parts[0], parts[1], parts[2])
}

/// gulou's deciding authority in the sample records: its name and code.
fn gulou_authority(records: &Records) -> (String, String) {
    let a = records.authority("gulou");
    let field = |k: &str| a[k].as_str().expect("an authority field").to_owned();
    (field("name"), field("code"))
}

#[test]
fn a_gb18030_penalty_file_with_chinese_headers_loads_row_by_row() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let firm = records.legal_person("gulou");
    let (auth_name, auth_code) = &gulou_authority(&records);
    let j = records.jurisdiction("gulou");
    let date = slashed(records.decision_date());
    let row = |no: &str, types: &str| {
        format!(
            "榕鼓市监罚〔2026〕{no}号,{},法人及非法人组织,{},,,未按规定明码标价,经查…,《价格法》第四十二条,{types},{types},,{date},2030-01-01,{auth_name},{auth_code},{auth_name},{auth_code},{j}",
            firm.name, firm.code
        )
    };
    let text = [
        PENALTY_HEADER.to_owned(),
        row("1", "警告"),
        row("2", "罚款"),
        row("3", "责令改正"),
        row("4", "罚款、吊销许可证件"),
    ]
    .join("\r\n");
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable && std::str::from_utf8(&bytes).is_err());
    let before = c.own_log().size;

    // Whole-file refusals name the parameter or the column, and sign nothing.
    let post = |query: &str, body: &[u8]| {
        c.post(
            &format!("/v1/records{query}"),
            Some(&token),
            Some("text/csv; charset=gb18030"),
            body,
        )
    };
    let msg = post("", &bytes).expect_error(400, "bad_request");
    assert!(msg.contains("query parameter kind"), "{msg}");
    let msg = post("?kind=CF_YZ", &bytes).expect_error(400, "bad_request");
    assert!(msg.contains("kind") && msg.contains("'CF_YZ'"), "{msg}");
    let msg = post("?kind=XK", &bytes).expect_error(400, "bad_request");
    assert!(msg.contains("行政处罚决定书文号"), "{msg}");
    let odd = text.replacen("地方编码", "经办人", 1);
    let (odd, _, _) = encoding_rs::GB18030.encode(&odd);
    let msg = post("?kind=CF", &odd).expect_error(400, "bad_request");
    assert!(msg.contains("经办人"), "{msg}");
    let msg = post("?kind=CF", "处罚类别,罚款\n".as_bytes()).expect_error(400, "bad_request");
    assert!(msg.contains("record number"), "{msg}");
    assert_eq!(c.own_log().size, before, "a refused file changed the log");

    let answer = post("?kind=CF", &bytes).ok_json();
    assert_eq!(
        statuses(&answer),
        ["accepted", "accepted", "rejected", "accepted"],
        "{answer:#}"
    );
    assert_eq!(answer["accepted"], 3);
    assert_eq!(answer["rejected"], 1);
    assert_eq!(answer["encoding"], "gb18030");
    let results = answer["results"].as_array().unwrap();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i, "{r:#}");
        assert_eq!(r["line"], i + 2, "the header is line 1: {r:#}");
    }
    // The bad row: refused alone, naming the column and the reason.
    let error = &results[2]["errors"][0];
    assert_eq!(error["column"], "处罚类别", "{answer:#}");
    assert_eq!(error["field"], "kind");
    assert!(
        error["problem"].as_str().unwrap().contains("'责令改正'"),
        "{error:#}"
    );
    // The date written 2026/3/5 was read, with a warning on each row
    // mapped (the bad row stopped at its kind).
    let warning = format!(
        "decision date: '{date}' read as {}",
        records.decision_date()
    );
    for r in [&results[0], &results[1], &results[3]] {
        assert!(
            r["warnings"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w == warning.as_str())),
            "{r:#}"
        );
    }
    // Each row took its tier's kind, and the records are queryable.
    let keys: Vec<&str> = [0, 1, 3]
        .iter()
        .map(|&i| results[i]["key"].as_str().unwrap())
        .collect();
    assert!(
        keys[0].starts_with("CF_QW/")
            && keys[1].starts_with("CF/")
            && keys[2].starts_with("CF_YZ/")
    );
    assert_eq!(c.own_log().size, before + 3);
    let profile = c.profile(&firm.code, None, "csv-test").ok_json();
    let mut numbers: Vec<String> = profile["records"]
        .as_object()
        .expect("records by kind")
        .values()
        .flat_map(|list| list.as_array().unwrap().iter())
        .map(|r| {
            r["record"]["record_no"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        [
            "榕鼓市监罚〔2026〕1号",
            "榕鼓市监罚〔2026〕2号",
            "榕鼓市监罚〔2026〕4号"
        ],
        "{profile:#}"
    );

    // The same file again: every mapped row is a duplicate.
    let again = post("?kind=CF", &bytes).ok_json();
    assert_eq!(
        statuses(&again),
        ["duplicate", "duplicate", "rejected", "duplicate"]
    );
}

#[test]
fn a_utf8_licensing_file_with_code_headers_loads() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let (auth_name, auth_code) = &gulou_authority(&records);
    let j = records.jurisdiction("gulou");
    let date = records.decision_date();
    let firm = records.legal_person("gulou");
    let person = records.natural_person("gulou");
    // A BOM, lower-case codes, XK_ZT written as an older export did ("0").
    let mut text = "\u{feff}xk_wsh,XK_JDRQ,XK_XKJG,XK_XKJGDM,XK_XDR_MC,XK_XDR_LB,XK_XDR_SHXYM,XK_XDR_ZJLX,XK_XDR_ZJHM,XK_XKWS,XK_XKLB,XK_NR,XK_YXQZ,XK_YXQZI,XK_ZT,XK_LYDW,XK_LYDWDM,DFBM\n".to_owned();
    for (no, class, code_cols, status) in [
        ("1", "法人及非法人组织", format!("{},,", firm.code), "1"),
        ("2", "自然人", format!(",身份证,{}", person.code), "0"),
        ("3", "法人及非法人组织", format!("{}X,,", firm.code), "1"),
    ] {
        let name = if class == "自然人" {
            &person.name
        } else {
            &firm.name
        };
        text.push_str(&format!(
            "榕鼓市监许〔2026〕{no}号,{date},{auth_name},{auth_code},{name},{class},{code_cols},食品经营许可决定书,普通,预包装食品销售,{date},2031-02-28,{status},{auth_name},{auth_code},{j}\n"
        ));
    }
    let answer = c
        .post(
            "/v1/records?kind=XK",
            Some(&token),
            Some("text/csv"),
            text.as_bytes(),
        )
        .ok_json();
    assert_eq!(
        statuses(&answer),
        ["accepted", "accepted", "rejected"],
        "{answer:#}"
    );
    assert_eq!(answer["encoding"], "UTF-8");
    let results = answer["results"].as_array().unwrap();
    assert!(results[0]["key"].as_str().unwrap().starts_with("XK/"));
    let warnings: Vec<&str> = results[1]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("XK_ZT: '0'")),
        "{warnings:?}"
    );
    // A check the record fails after mapping names the column too.
    let error = &results[2]["errors"][0];
    assert_eq!(error["field"], "subject.code", "{answer:#}");
    assert_eq!(error["column"], "XK_XDR_SHXYM", "{answer:#}");
    assert_eq!(results[2]["line"], 4);

    for who in [&firm.code, &person.code] {
        let p = c.profile(who, None, "csv-test").ok_json();
        assert_eq!(
            p["records"]["XK"].as_array().map(Vec::len),
            Some(1),
            "{p:#}"
        );
    }
}

/// A licensing file in the 2015 template, as older loaders still export
/// it: 项目名称 and 审批类别 are read as today's title and category, the
/// export's timestamp `SJC` is not kept, and what the template has no
/// column for (the subject's class, 有效期自, 数据来源单位) is implied with
/// a warning; every row loads.
#[test]
fn a_2015_template_licensing_file_loads() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let (auth_name, auth_code) = &gulou_authority(&records);
    let j = records.jurisdiction("gulou");
    let date = records.decision_date();
    let firm = records.legal_person("gulou");
    let person = records.natural_person("gulou");
    let mut text = "XK_WSH,XK_XMMC,XK_SPLB,XK_NR,XK_XDR,XK_XDR_SHXYM,XK_XDR_ZDM,XK_XDR_GSDJ,XK_XDR_SWDJ,XK_XDR_SFZ,XK_FR,XK_JDRQ,XK_JZQ,XK_XZJG,XK_XKJGDM,XK_ZT,DFBM,SJC,BZ\n".to_owned();
    text.push_str(&format!(
        "榕鼓市监许〔2015〕1号,食品流通许可,核准,预包装食品销售,{},{},,,,,王五,{date},2031-02-28,{auth_name},{auth_code},0,{j},{date} 17:20:00,\n",
        firm.name, firm.code
    ));
    text.push_str(&format!(
        "榕鼓市监许〔2015〕2号,食品摊贩登记,登记,小吃,{},,,,,{},,{date},2031-02-28,{auth_name},{auth_code},0,{j},{date} 17:21:00,\n",
        person.name, person.code
    ));
    let answer = c
        .post(
            "/v1/records?kind=XK",
            Some(&token),
            Some("text/csv"),
            text.as_bytes(),
        )
        .ok_json();
    assert_eq!(statuses(&answer), ["accepted", "accepted"], "{answer:#}");
    let warnings: Vec<&str> = answer["results"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for column in ["XDR_LB", "XK_YXQZ", "XK_LYDW", "XK_LYDWDM"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("{column}: missing"))),
            "{column}: {warnings:?}"
        );
    }
    let p = c.profile(&firm.code, None, "csv-test").ok_json();
    let licence = &p["records"]["XK"][0]["record"];
    assert_eq!(licence["fields"]["XK_XKWS"], "食品流通许可", "{p:#}");
    assert_eq!(licence["fields"]["XK_XKLB"], "核准", "{p:#}");
    assert_eq!(licence["fields"]["XK_YXQZ"], date, "{p:#}");
    assert!(licence["fields"].get("SJC").is_none(), "{p:#}");
    assert_eq!(licence["subject"]["class"], "legal_person", "{p:#}");
    let p = c.profile(&person.code, None, "csv-test").ok_json();
    assert_eq!(
        p["records"]["XK"].as_array().map(Vec::len),
        Some(1),
        "{p:#}"
    );
}

/// A penalty file in the 2015 template (处罚名称, two 处罚类别 columns as
/// codes or names, 处罚结果, 当前状态), posted as `text/csv`: each row takes
/// its tier's kind from its categories, and a row not in state 0 (正常) is
/// refused alone, naming CF_ZT.
#[test]
fn a_2015_template_penalty_file_loads() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let (auth_name, auth_code) = &gulou_authority(&records);
    let j = records.jurisdiction("gulou");
    let date = records.decision_date();
    let firm = records.legal_person("gulou");
    let post_penalties = |text: &str| {
        c.post(
            "/v1/records?kind=CF",
            Some(&token),
            Some("text/csv"),
            text.as_bytes(),
        )
        .ok_json()
    };
    let shop = records.individual_business("gulou");
    let mut text = "CF_WSH,CF_CFMC,CF_CFLB1,CF_CFLB2,CF_SY,CF_YJ,CF_XDR_MC,CF_XDR_SHXYM,CF_XDR_ZDM,CF_XDR_GSDJ,CF_XDR_SWDJ,CF_XDR_SFZ,CF_FR,CF_JG,CF_JDRQ,CF_XZJG,CF_CFJGDM,CF_ZT,DFBM,SJC,BZ\n".to_owned();
    for (no, name, lb1, lb2, result, zt) in [
        ("1", &firm, "0", "", "警告", "0"),
        (
            "2",
            &shop,
            "1",
            "吊销许可证件",
            "罚款10万元并吊销许可证",
            "",
        ),
        ("3", &firm, "1", "", "罚款5000元", "2"),
    ] {
        text.push_str(&format!(
            "榕鼓市监罚〔2015〕{no}号,未按规定明码标价,{lb1},{lb2},经查…,《价格法》第四十二条,{},{},,,,,,{result},{date},{auth_name},{auth_code},{zt},{j},{date} 17:20:00,\n",
            name.name, name.code
        ));
    }
    let answer = post_penalties(&text);
    assert_eq!(
        statuses(&answer),
        ["accepted", "accepted", "rejected"],
        "{answer:#}"
    );
    let results = answer["results"].as_array().unwrap();
    let error = &results[2]["errors"][0];
    assert_eq!(error["column"], "CF_ZT", "{answer:#}");
    assert!(
        error["problem"].as_str().unwrap().contains("'2'"),
        "{error:#}"
    );
    let key = |i: usize| results[i]["key"].as_str().unwrap().to_owned();
    assert!(key(0).starts_with("CF_QW/"), "{answer:#}");
    assert!(key(1).starts_with("CF_YZ/"), "{answer:#}");
    let p = c.profile(&firm.code, None, "csv-test").ok_json();
    let warning = &p["records"]["CF_QW"][0]["record"];
    assert_eq!(warning["fields"]["CF_CFLB"], "警告", "{p:#}");
    assert_eq!(warning["fields"]["CF_WFXW"], "未按规定明码标价", "{p:#}");
    assert_eq!(warning["fields"]["CF_NR"], "警告", "{p:#}");
    assert_eq!(warning["fields"]["CF_YXQ"], "2099-12-31", "{p:#}");
    assert!(warning["fields"].get("CF_ZT").is_none(), "{p:#}");
    let p = c.profile(&shop.code, None, "csv-test").ok_json();
    let revoked = &p["records"]["CF_YZ"][0];
    assert_eq!(
        revoked["record"]["fields"]["CF_CFLB"], "罚款;吊销许可证件",
        "{p:#}"
    );
    assert_eq!(revoked["publicity"]["tier"], "serious", "{p:#}");
    // The same template with its header row in Chinese, as its upload
    // template prints it.
    let mut text = "行政处罚决定书文号,处罚名称,处罚类别1,处罚类别2,处罚事由,处罚依据,行政相对人名称,行政相对人代码_1(统一社会信用代码),行政相对人代码_2(组织机构代码),行政相对人代码_3(工商登记码),行政相对人代码_4(税务登记号),行政相对人代码_5(居民身份证号),法定代表人姓名,处罚结果,处罚决定日期,处罚机关,处罚机关统一社会信用代码,当前状态,地方编码,数据更新时间戳,备注\n".to_owned();
    for (no, zt) in [("4", "0"), ("5", "1")] {
        text.push_str(&format!(
            "榕鼓市监罚〔2015〕{no}号,超范围经营,3,,经查…,《食品安全法》第一百二十二条,{},{},,,,,王五,责令停业整顿,{date},{auth_name},{auth_code},{zt},{j},{date},\n",
            firm.name, firm.code
        ));
    }
    let answer = post_penalties(&text);
    assert_eq!(statuses(&answer), ["accepted", "rejected"], "{answer:#}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[1]["errors"][0]["column"], "当前状态", "{answer:#}");
    let p = c.profile(&firm.code, None, "csv-test").ok_json();
    let closed = &p["records"]["CF"][0]["record"];
    assert_eq!(closed["fields"]["CF_CFLB"], "责令停产停业", "{p:#}");
    assert_eq!(closed["fields"]["CF_NR"], "责令停业整顿", "{p:#}");
    assert_eq!(closed["fields"]["FRDB"], "王五", "{p:#}");
}
