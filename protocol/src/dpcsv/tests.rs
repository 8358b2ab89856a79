//! The parts of the mapping only a file of known kind uses (the node's
//! `POST /v1/records` with `text/csv`); the CLI's tests
//! (admin-cli/src/cmd/submit/tests.rs) cover the rest.

use std::io::Cursor;

use super::*;

const CATALOG: &str = include_str!("../../../config-examples/catalog.toml");

fn catalog() -> Catalog {
    Catalog::from_toml_str(CATALOG).expect("the example catalog loads")
}

fn row(cells: &[&str]) -> csv::ByteRecord {
    csv::ByteRecord::from(cells.to_vec())
}

const PENALTY_HEADER: [&str; 9] = [
    "行政处罚决定书文号",
    "处罚决定日期",
    "处罚机关",
    "处罚机关统一社会信用代码",
    "行政相对人名称",
    "行政相对人类别",
    "统一社会信用代码",
    "处罚类别",
    "kind",
];

#[test]
fn file_kinds_are_xk_and_cf() {
    assert_eq!("XK".parse::<FileKind>(), Ok(FileKind::Licensing));
    assert_eq!("CF".parse::<FileKind>(), Ok(FileKind::Penalty));
    let e = "CF_YZ".parse::<FileKind>().unwrap_err();
    assert!(e.contains("'CF_YZ'") && e.contains("XK"), "{e}");
}

#[test]
fn a_file_of_known_kind_names_a_column_nobody_reads() {
    let catalog = catalog();
    let header = Header::new(PENALTY_HEADER).unwrap();
    header.check_for(FileKind::Penalty, &catalog).unwrap();
    let e = header.check_for(FileKind::Licensing, &catalog).unwrap_err();
    assert!(
        matches!(&e, HeaderError::Unmapped { column, .. } if column == "行政处罚决定书文号"),
        "{e}"
    );
    let mut odd = PENALTY_HEADER.to_vec();
    odd.push("经办人");
    let e = Header::new(odd)
        .unwrap()
        .check_for(FileKind::Penalty, &catalog)
        .unwrap_err();
    assert_eq!(
        e,
        HeaderError::Unmapped {
            column: "经办人".into(),
            problem: "no field of kind CF is called so (GET /v1/catalog lists them, with their Chinese labels); rename or remove the column".into()
        }
    );
}

/// The 2015 template's export timestamp is read and not kept, in either
/// kind of file and any case; it is not a field, so it never reaches a
/// record.
#[test]
fn the_export_timestamp_is_skipped() {
    let catalog = catalog();
    let mut cells = PENALTY_HEADER.to_vec();
    cells.push("sjc");
    let header = Header::new(cells).unwrap();
    header.check_for(FileKind::Penalty, &catalog).unwrap();
    let skipped = header.skipped();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "sjc");
    assert!(skipped[0].1.contains("数据更新时间戳"), "{skipped:?}");
    assert!(Header::new(PENALTY_HEADER).unwrap().skipped().is_empty());
}

#[test]
fn rows_of_a_known_kind_take_its_family_and_errors_name_their_column() {
    let catalog = catalog();
    let header = Header::new(PENALTY_HEADER).unwrap();
    let mut mapper = Mapper::new(
        header,
        Some(&catalog),
        Some("350102"),
        Some(FileKind::Penalty),
    );
    let base = [
        "榕鼓市监罚〔2026〕1号",
        "2026/3/5",
        "福州市鼓楼区市场监督管理局",
        "11350102MB01234562",
        "福州市鼓楼区鑫源贸易有限公司",
        "法人及非法人组织",
        "91350100757384472D",
        "罚款、吊销许可证件",
        "",
    ];
    let mut warnings = Vec::new();
    let r = mapper.map(&row(&base), &mut warnings).unwrap();
    assert_eq!(r.kind, "CF_YZ");
    assert_eq!(r.jurisdiction.as_deref(), Some("350102"));
    assert_eq!(r.decision_date.as_deref(), Some("2026-03-05"));
    assert_eq!(
        warnings,
        [Warning {
            column: "decision date".into(),
            text: "'2026/3/5' read as 2026-03-05".into()
        }]
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["fields"]["CF_CFLB"], "罚款、吊销许可证件");
    assert_eq!(json["subject"]["class"], "legal_person");

    let mut unknown = base;
    unknown[7] = "责令改正";
    let e = mapper.map(&row(&unknown), &mut warnings).unwrap_err();
    assert_eq!(e.column.as_deref(), Some("处罚类别"));
    assert!(e.problem.contains("CF_CFLB '责令改正'"), "{e}");

    let mut licence = base;
    licence[8] = "XK";
    let e = mapper.map(&row(&licence), &mut warnings).unwrap_err();
    assert_eq!(e.column.as_deref(), Some("kind"));
    assert!(e.problem.contains("not a kind of CF files"), "{e}");
    licence[8] = "CF";
    assert_eq!(
        mapper.map(&row(&licence), &mut warnings).unwrap().kind,
        "CF"
    );

    let short = mapper.map(&row(&base[..3]), &mut warnings).unwrap_err();
    assert_eq!(short.column, None);
    assert!(
        short
            .problem
            .contains("has 3 values but the header has 9 columns")
    );

    // An error the record's check finds is traced back to its column.
    let raw = row(&base);
    assert_eq!(
        mapper.column_of(&raw, "CF_YZ", "fields.CF_CFLB").as_deref(),
        Some("处罚类别")
    );
    assert_eq!(
        mapper.column_of(&raw, "CF_YZ", "subject.code").as_deref(),
        Some("统一社会信用代码")
    );
    assert_eq!(
        mapper.column_of(&raw, "CF_YZ", "decision_date").as_deref(),
        Some("处罚决定日期")
    );
    assert_eq!(mapper.column_of(&raw, "CF_YZ", "jurisdiction"), None);
}

#[test]
fn encodings_are_told_by_bom_or_by_utf8() {
    let read = |bytes: Vec<u8>| {
        let (mut r, name) = decoded(Box::new(Cursor::new(bytes))).unwrap();
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        (text, name)
    };
    let (gb, _, _) = encoding_rs::GB18030.encode("处罚机关,罚款");
    assert_eq!(read(gb.into_owned()), ("处罚机关,罚款".into(), "gb18030"));
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend("处罚".encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(read(utf16), ("处罚".into(), "UTF-16LE"));
    assert_eq!(
        read("\u{feff}处罚".as_bytes().to_vec()),
        ("处罚".into(), "UTF-8")
    );
}

#[test]
fn rows_know_their_line_whatever_the_line_ends() {
    let text = "a,b\r\nc,\"d\r\nd\"\r\ne,f\r\n\r\ng,h\ni,j";
    let mut file = CsvFile::open(Box::new(text.as_bytes())).unwrap();
    assert_eq!(file.encoding, "UTF-8");
    assert_eq!(file.headers().unwrap().len(), 2);
    let mut raw = csv::ByteRecord::new();
    let mut lines = Vec::new();
    while let Some(line) = file.read(&mut raw).unwrap() {
        lines.push((line, raw.get(0).map(<[u8]>::to_vec)));
    }
    let first: Vec<(u64, u8)> = lines
        .iter()
        .map(|(l, f)| (*l, f.as_deref().unwrap_or_default()[0]))
        .collect();
    assert_eq!(first, [(2, b'c'), (4, b'e'), (6, b'g'), (7, b'i')]);
}

/// A natural person named by 证件类型 and 证件号码: a resident ID stands
/// alone, another document becomes `TAG:NUMBER` that the record checks by
/// the document's format; a type no person may be named by is refused for
/// that row, naming the column.
#[test]
fn a_natural_person_is_named_by_document_type_and_number() {
    let catalog = catalog();
    let header = Header::new([
        "行政处罚决定书文号",
        "处罚决定日期",
        "处罚机关",
        "处罚机关统一社会信用代码",
        "行政相对人名称",
        "行政相对人类别",
        "证件类型",
        "证件号码",
        "处罚类别",
    ])
    .unwrap();
    let mut mapper = Mapper::new(
        header,
        Some(&catalog),
        Some("350102"),
        Some(FileKind::Penalty),
    );
    let person = |n: usize, doc: &'static str, number: &'static str| {
        [
            if n == 0 {
                "榕鼓罚〔2026〕7号"
            } else {
                "榕鼓罚〔2026〕8号"
            },
            "2026-03-05",
            "福州市鼓楼区市场监督管理局",
            "11350102MB01234562",
            "JOHN SMITH",
            "自然人",
            doc,
            number,
            "罚款",
        ]
    };
    let mut warnings = Vec::new();
    let subject_of = |mapper: &mut Mapper, cells: [&str; 9], w: &mut Vec<Warning>| {
        let r = mapper.map(&row(&cells), w).unwrap();
        serde_json::to_value(&r).unwrap()["subject"]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        subject_of(&mut mapper, person(0, "护照", "e12345678"), &mut warnings),
        "PASSPORT:e12345678"
    );
    assert_eq!(
        subject_of(&mut mapper, person(1, "台胞证", "12345678"), &mut warnings),
        "TWN:12345678"
    );
    assert_eq!(
        subject_of(
            &mut mapper,
            person(0, "身份证", "11010519491231002X"),
            &mut warnings
        ),
        "11010519491231002X"
    );
    // The record's check reads the code (the row lacks other required
    // fields, which is all it refuses), and it normalises to canonical form.
    let r = mapper
        .map(&row(&person(0, "护照", "e12345678")), &mut warnings)
        .unwrap();
    let errors =
        crate::record::Record::from_json(&serde_json::to_value(&r).unwrap(), &catalog).unwrap_err();
    assert!(
        errors.iter().all(|e| e.field.starts_with("fields.")),
        "{errors:?}"
    );
    let id = crate::person::parse("PASSPORT:e12345678", catalog.legacy_codes()).unwrap();
    assert_eq!(id.code, "PASSPORT:E12345678");
    let r = mapper
        .map(&row(&person(0, "护照", "E12")), &mut warnings)
        .unwrap();
    let errors =
        crate::record::Record::from_json(&serde_json::to_value(&r).unwrap(), &catalog).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.field == "subject.code" && e.problem.contains("护照")),
        "{errors:?}"
    );

    let e = mapper
        .map(&row(&person(0, "军官证", "12345678")), &mut warnings)
        .unwrap_err();
    assert_eq!(e.column.as_deref(), Some("证件类型"));
    assert!(
        e.problem.contains("'军官证'") && e.problem.contains("护照"),
        "{e}"
    );
}

/// A mapped row checked directly ([`MappedRecord::into_record`]) gets
/// exactly what its JSON object gets from [`Record::from_json_with_warnings`]:
/// the record and its warnings, or the same errors in the same order.
#[test]
fn a_mapped_record_is_checked_as_its_json_would_be() {
    let catalog = catalog();
    let good = MappedRecord {
        kind: "CF".into(),
        jurisdiction: Some("350102".into()),
        record_no: Some("榕鼓市监罚〔2026〕2号".into()),
        decision_date: Some("2026-03-02".into()),
        subject: MappedSubject {
            class: Some("legal_person".into()),
            code: Some("91350100757384472d".into()),
            name: Some("福州市鼓楼区鑫源贸易有限公司".into()),
        },
        authority: MappedAuthority {
            name: Some("福州市鼓楼区市场监督管理局".into()),
            code: Some("11350102MB01234562".into()),
        },
        fields: [
            ("CF_WFXW", Cell::Text("未按规定明码标价".into())),
            ("CF_SY", Cell::Text("经查…".into())),
            ("CF_YJ", Cell::Text("《价格法》第四十二条".into())),
            ("CF_CFLB", Cell::Text("罚款".into())),
            ("CF_NR", Cell::Text("罚款人民币2000元".into())),
            ("CF_NR_FK", Cell::Text("0.2".into())),
            ("CF_YXQ", Cell::Text("2027-03-02".into())),
            ("CF_SJLY", Cell::Text("福州市鼓楼区市场监督管理局".into())),
            ("CF_SJLYDM", Cell::Text("11350102MB01234562".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    let mut variants = vec![good.clone()];
    let mut v = good.clone();
    v.jurisdiction = None;
    v.subject.name = None;
    v.decision_date = Some("2026/13/40".into());
    variants.push(v);
    let mut v = good.clone();
    v.kind = "NOPE".into();
    variants.push(v);
    let mut v = good.clone();
    v.subject.class = Some("法人".into());
    v.authority.code = Some("bad".into());
    v.fields.insert("CF_NR_FK".into(), Cell::Integer(-3));
    v.fields.insert("NOT_A_FIELD".into(), Cell::Bool(true));
    v.fields.insert("ALSO_NOT".into(), Cell::Text("x".into()));
    variants.push(v);
    let mut v = good.clone();
    v.fields.remove("CF_WFXW");
    v.fields.insert("CF_YXQ".into(), Cell::Text("明年".into()));
    v.record_no = Some(String::new());
    variants.push(v);
    let mut v = good;
    v.subject = MappedSubject::default();
    v.authority = MappedAuthority::default();
    v.fields.clear();
    variants.push(v);
    for (i, mapped) in variants.into_iter().enumerate() {
        let json = serde_json::to_value(&mapped).unwrap();
        let expected = Record::from_json_with_warnings(&json, &catalog);
        if i == 0 {
            assert!(expected.is_ok(), "{expected:?}");
        } else {
            assert!(expected.is_err(), "variant {i}: {expected:?}");
        }
        assert_eq!(mapped.into_record(&catalog), expected, "variant {i}");
    }
}

#[test]
fn a_header_tells_its_file_kind_by_its_prefixed_columns() {
    let kind = |cells: &[&str]| Header::new(cells.iter().copied()).unwrap().file_kind();
    assert_eq!(kind(&PENALTY_HEADER), Some(FileKind::Penalty));
    assert_eq!(
        kind(&[
            "XK_WSH",
            "XK_JDRQ",
            "XK_XKJG",
            "XK_XKJGDM",
            "XDR_MC",
            "KIND"
        ]),
        Some(FileKind::Licensing)
    );
    assert_eq!(
        kind(&[
            "XK_WSH",
            "XK_JDRQ",
            "XK_XKJG",
            "XK_XKJGDM",
            "XDR_MC",
            "CF_CFLB"
        ]),
        None
    );
    assert_eq!(
        kind(&[
            "RECORD_NO",
            "DECISION_DATE",
            "AUTHORITY_NAME",
            "AUTHORITY_CODE",
            "XDR_MC"
        ]),
        None
    );
}

/// The text of the header and of each row, taken at the rows' starts, is
/// the decoded file cut at row boundaries: quoted line breaks stay inside
/// their row, and each piece reads back as the same row.
#[test]
fn rows_are_taken_as_text_at_their_boundaries() {
    let text = "\u{feff}A,B\r\n1,\"two\r\nlines\"\r\n\r\n3,四\r\n5,\"6,\"\"x\"\"\"";
    let (gb, _, _) = encoding_rs::GB18030.encode(text.trim_start_matches('\u{feff}'));
    for bytes in [text.as_bytes().to_vec(), gb.into_owned()] {
        let mut file = CsvFile::open_keeping_text(Box::new(Cursor::new(bytes))).unwrap();
        file.headers().unwrap();
        let mut raw = csv::ByteRecord::new();
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut rows = Vec::new();
        while file.read(&mut raw).unwrap().is_some() {
            let mut piece = Vec::new();
            file.take_text(raw.position().map(csv::Position::byte), &mut piece);
            pieces.push(piece);
            rows.push(raw.clone());
        }
        let mut last = Vec::new();
        file.take_text(None, &mut last);
        pieces.push(last);
        assert_eq!(
            pieces.concat(),
            text.trim_start_matches('\u{feff}').as_bytes()
        );
        assert_eq!(pieces[0], b"A,B\r\n");
        assert_eq!(pieces[1], "1,\"two\r\nlines\"\r\n\r\n".as_bytes());
        // Each row's piece (from the start of the next on) reads back as it.
        for (row, piece) in rows.iter().zip(&pieces[1..]) {
            let mut read = csv::ByteRecord::new();
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(piece.as_slice());
            assert!(r.read_byte_record(&mut read).unwrap());
            assert_eq!(
                read.iter().collect::<Vec<_>>(),
                row.iter().collect::<Vec<_>>()
            );
            assert!(!r.read_byte_record(&mut read).unwrap());
        }
    }
}

/// The 2015 penalty template's two 处罚类别 columns give one `CF_CFLB`,
/// codes read as the types they name, with or without a catalog.
#[test]
fn the_2015_penalty_categories_join_with_or_without_a_catalog() {
    let catalog = catalog();
    let header = [
        "CF_WSH",
        "CF_JDRQ",
        "CF_XZJG",
        "CF_CFJGDM",
        "CF_XDR_MC",
        "CF_XDR_SHXYM",
        "CF_CFLB1",
        "CF_CFLB2",
        "CF_ZT",
    ];
    let cells = [
        "罚〔2026〕31号",
        "2026-03-05",
        "福州市鼓楼区市场监督管理局",
        "11350102MB01234562",
        "福州市鼓楼区鑫源贸易有限公司",
        "91350100757384472D",
        "1",
        "吊销许可证件",
        "0",
    ];
    for catalog in [Some(&catalog), None] {
        let mut mapper = Mapper::new(Header::new(header).unwrap(), catalog, None, None);
        let mut warnings = Vec::new();
        let r = mapper.map(&row(&cells), &mut warnings).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["fields"]["CF_CFLB"], "罚款;吊销许可证件", "{json}");
        assert_eq!(r.kind, if catalog.is_some() { "CF_YZ" } else { "CF" });
        assert!(json["fields"].get("CF_ZT").is_none(), "{json}");
        assert_eq!(warnings[0].column, "CF_CFLB1", "{warnings:?}");
    }
}

/// The 2015 templates' header rows in Chinese, as their upload templates
/// print them (docs/double-publicity.md), map each row exactly as the same
/// templates' column codes do.
#[test]
fn the_2015_templates_load_by_their_chinese_names_as_by_their_codes() {
    let catalog = catalog();
    let penalty: [(&str, &str, &str); 21] = [
        ("CF_WSH", "行政处罚决定书文号", "罚〔2026〕22号"),
        ("CF_CFMC", "处罚名称", "无证经营"),
        ("CF_CFLB1", "处罚类别1", "1"),
        ("CF_CFLB2", "处罚类别2", "吊销许可证件"),
        ("CF_SY", "处罚事由", "经查，当事人未取得许可从事食品经营"),
        ("CF_YJ", "处罚依据", "《食品安全法》第一百二十二条"),
        (
            "CF_XDR_MC",
            "行政相对人名称",
            "福州市鼓楼区鑫源贸易有限公司",
        ),
        (
            "CF_XDR_SHXYM",
            "行政相对人代码_1（统一社会信用代码）",
            "91350100757384472D",
        ),
        ("CF_XDR_ZDM", "行政相对人代码_2(组织机构代码)", ""),
        ("CF_XDR_GSDJ", "行政相对人代码_3（工商登记码）", ""),
        ("CF_XDR_SWDJ", "行政相对人代码_4(税务登记号)", ""),
        ("CF_XDR_SFZ", "行政相对人代码_5 (居民身份证号)", ""),
        ("CF_FR", "法定代表人姓名", "王五"),
        ("CF_JG", "处罚结果", "罚款10万元并吊销许可证"),
        ("CF_JDRQ", "处罚决定日期", "2026/3/7"),
        ("CF_XZJG", "处罚机关", "福州市鼓楼区市场监督管理局"),
        (
            "CF_CFJGDM",
            "处罚机关统一社会信用代码",
            "11350102MB01234562",
        ),
        ("CF_ZT", "当前状态", "0"),
        ("DFBM", "地方编码", "350102"),
        ("SJC", "数据更新时间戳", "2026-03-08 17:20:00"),
        ("BZ", "备注", "已履行"),
    ];
    let licensing: [(&str, &str, &str); 19] = [
        ("XK_WSH", "行政许可决定书文号", "榕鼓市监许〔2026〕88号"),
        ("XK_XMMC", "项目名称", "食品经营许可"),
        ("XK_SPLB", "审批类别", "普通"),
        ("XK_NR", "许可内容", "预包装食品销售"),
        ("XK_XDR", "行政相对人名称", "福州市鼓楼区鑫源贸易有限公司"),
        (
            "XK_XDR_SHXYM",
            "行政相对人代码_1(统一社会信用代码)",
            "91350100757384472D",
        ),
        ("XK_XDR_ZDM", "行政相对人代码_2（组织机构代码）", ""),
        ("XK_XDR_GSDJ", "行政相对人代码_3(工商登记码)", ""),
        ("XK_XDR_SWDJ", "行政相对人代码_4（税务登记号）", ""),
        ("XK_XDR_SFZ", "行政相对人代码_5(居民身份证号)", ""),
        ("XK_FR", "法定代表人姓名", "王五"),
        ("XK_JDRQ", "许可决定日期", "20260305"),
        ("XK_JZQ", "许可截止期", "2031-03-04"),
        ("XK_XZJG", "许可机关", "福州市鼓楼区市场监督管理局"),
        (
            "XK_XKJGDM",
            "许可机关统一社会信用代码",
            "11350102MB01234562",
        ),
        ("XK_ZT", "当前状态", "0"),
        ("DFBM", "地方编码", "350102"),
        ("SJC", "数据更新时间戳", "2026-03-06"),
        ("BZ", "备注", ""),
    ];
    let templates: [&[(&str, &str, &str)]; 2] = [&penalty, &licensing];
    for (template, kind) in templates.into_iter().zip(["CF_YZ", "XK"]) {
        let by_code = Header::new(template.iter().map(|c| c.0)).unwrap();
        let by_name = Header::new(template.iter().map(|c| c.1)).unwrap();
        assert!(by_name.template_2015, "{:?}", by_name.columns);
        assert_eq!(by_name.file_kind(), by_code.file_kind());
        let names: Vec<&str> = by_name.skipped().iter().map(|(c, _)| *c).collect();
        let codes: Vec<&str> = by_code.skipped().iter().map(|(c, _)| *c).collect();
        assert_eq!(names.len(), codes.len(), "{names:?} against {codes:?}");
        by_name
            .check_for(by_name.file_kind().unwrap(), &catalog)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let cells = row(&template.iter().map(|c| c.2).collect::<Vec<_>>());
        let map = |header: Header| {
            let mut mapper = Mapper::new(header, Some(&catalog), None, None);
            let mut warnings = Vec::new();
            let record = mapper.map(&cells, &mut warnings).unwrap();
            let texts: Vec<String> = warnings.into_iter().map(|w| w.text).collect();
            (serde_json::to_value(&record).unwrap(), texts)
        };
        let (from_codes, code_warnings) = map(by_code);
        let (from_names, name_warnings) = map(by_name);
        assert_eq!(from_names, from_codes);
        assert_eq!(name_warnings, code_warnings);
        assert_eq!(from_names["kind"], kind, "{from_names}");
        assert_eq!(from_names["fields"]["FRDB"], "王五", "{from_names}");
    }
    // A name both templates have needs the file's kind: in a file of no
    // one kind it stays a label, as any other Chinese name.
    let header = Header::new([
        "RECORD_NO",
        "DECISION_DATE",
        "AUTHORITY_NAME",
        "AUTHORITY_CODE",
        "行政相对人名称",
        "当前状态",
    ])
    .unwrap();
    assert!(matches!(&header.columns[5], header::Column::Label(l) if l == "当前状态"));
    assert!(!header.template_2015);
}

/// Code 4 (暂扣或者吊销) and 6 (其他) name no one tier: a row holding one
/// loads only when a KIND column gives its kind.
#[test]
fn a_2015_category_of_no_one_tier_needs_a_kind_column() {
    let catalog = catalog();
    let mut header = vec![
        "CF_WSH",
        "CF_JDRQ",
        "CF_XZJG",
        "CF_CFJGDM",
        "CF_XDR_MC",
        "CF_XDR_SHXYM",
        "CF_CFLB1",
        "CF_CFMC",
    ];
    let mut cells = vec![
        "罚〔2026〕31号",
        "2026-03-05",
        "福州市鼓楼区市场监督管理局",
        "11350102MB01234562",
        "福州市鼓楼区鑫源贸易有限公司",
        "91350100757384472D",
        "4",
        "超范围经营",
    ];
    for code in ["4", "6"] {
        cells[6] = code;
        let mut mapper = Mapper::new(
            Header::new(header.clone()).unwrap(),
            Some(&catalog),
            None,
            None,
        );
        let err = mapper
            .map(&row(&cells), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CF_CFLB") && err.contains("KIND column"),
            "{code}: {err}"
        );
    }
    header.push("KIND");
    cells.push("CF_YZ");
    for code in ["4", "6"] {
        cells[6] = code;
        let mut mapper = Mapper::new(
            Header::new(header.clone()).unwrap(),
            Some(&catalog),
            None,
            None,
        );
        let mut warnings = Vec::new();
        let r = mapper.map(&row(&cells), &mut warnings).unwrap();
        assert_eq!(r.kind, "CF_YZ");
        let json = serde_json::to_value(&r).unwrap();
        let named = header::PENALTY_TYPE_CODES
            .iter()
            .find(|(c, _)| *c == code)
            .unwrap()
            .1;
        assert_eq!(json["fields"]["CF_CFLB"], named, "{json}");
    }
}

/// A JSON record in the standard's columns maps as the CSV row of the same
/// columns does; `publicity` (the export's) is not a column; a value that
/// is not text, a number or null is refused naming its key.
#[test]
fn a_json_object_in_the_standards_columns_maps_as_its_csv_row() {
    let catalog = catalog();
    let columns: [(&str, serde_json::Value); 12] = [
        ("XK_XDR_MC", "福州市鼓楼区鑫源贸易有限公司".into()),
        ("XK_XDR_LB", "法人及非法人组织".into()),
        ("XK_XDR_SHXYM", "91350100757384472D".into()),
        ("XK_WSH", "榕鼓市监许〔2026〕88号".into()),
        ("XK_JDRQ", "2026/3/5".into()),
        ("XK_XKJG", "福州市鼓楼区市场监督管理局".into()),
        ("XK_XKJGDM", "11350102MB01234562".into()),
        ("XK_XKWS", "食品经营许可证".into()),
        ("XK_FRDB", "王五".into()),
        ("XK_YXQZ", "2026-03-05".into()),
        ("XK_ZT", serde_json::Value::from(1)),
        ("DFBM", serde_json::Value::Null),
    ];
    let mut object: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    object.insert("publicity".into(), serde_json::json!({"tier": "none"}));
    assert!(in_columns(&object));
    let mut warnings = Vec::new();
    let from_json = map_object(&object, Some(&catalog), Some("350102"), &mut warnings).unwrap();
    let header = Header::new(columns.iter().map(|(k, _)| *k)).unwrap();
    let cells: Vec<String> = columns
        .iter()
        .map(|(_, v)| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect();
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    let mut csv_warnings = Vec::new();
    let from_csv = Mapper::new(header, Some(&catalog), Some("350102"), None)
        .map(&row(&cells), &mut csv_warnings)
        .unwrap();
    assert_eq!(from_json, from_csv);
    assert_eq!(warnings, csv_warnings);
    let json = serde_json::to_value(&from_json).unwrap();
    assert_eq!(json["fields"]["FRDB"], "王五", "{json}");
    assert_eq!(json["jurisdiction"], "350102", "{json}");
    // An error the record's check finds names the key that gave the value.
    let key = |path: &str| key_of(&object, Some(&catalog), "XK", path);
    assert_eq!(key("fields.FRDB").as_deref(), Some("XK_FRDB"));
    assert_eq!(key("authority.code").as_deref(), Some("XK_XKJGDM"));
    assert_eq!(key("fields.XK_XKLB"), None);

    object.insert("XK_NR".into(), serde_json::json!(["预包装食品销售"]));
    let err = map_object(&object, Some(&catalog), None, &mut Vec::new()).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("XK_NR"), "{err:?}");
    object.remove("XK_NR");
    object.remove("XK_WSH");
    let err = map_object(&object, Some(&catalog), None, &mut Vec::new()).unwrap_err();
    assert!(err.problem.contains("XK_WSH"), "{err:?}");
    // The example of docs/api.md ("Records in the standard's columns") is
    // a whole record.
    let example: serde_json::Value = serde_json::from_str(
        r#"{"XK_XDR_MC": "福州市鼓楼区鑫源贸易有限公司", "XK_XDR_LB": "法人及非法人组织", "XK_XDR_SHXYM": "91350100757384472D",
 "XK_WSH": "榕鼓市监许〔2026〕88号", "XK_JDRQ": "2026-03-05", "XK_XKJG": "福州市鼓楼区市场监督管理局",
 "XK_XKJGDM": "11350102MB01234562", "XK_XKWS": "食品经营许可证", "XK_XKLB": "普通", "XK_NR": "预包装食品销售",
 "XK_YXQZ": "2026-03-05", "XK_YXQZI": "2031-03-04", "XK_LYDW": "福州市鼓楼区市场监督管理局",
 "XK_LYDWDM": "11350102MB01234562", "XK_ZT": "1", "XK_FRDB": "王五", "DFBM": "350102"}"#,
    )
    .unwrap();
    let mapped = map_object(
        example.as_object().unwrap(),
        Some(&catalog),
        None,
        &mut Vec::new(),
    );
    let (record, _) = mapped.unwrap().into_record(&catalog).unwrap();
    assert_eq!(record.kind, "XK");
    // A record in the ingest format is not in the columns.
    for part in ["subject", "authority", "fields"] {
        let ingest = serde_json::json!({"kind": "XK", part: {}});
        assert!(!in_columns(ingest.as_object().unwrap()), "{part}");
    }
}
