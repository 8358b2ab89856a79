//! The parts of the mapping only a file of known kind uses (the node's
//! `POST /v1/records` with `text/csv`); the CLI's tests
//! (admin-cli/src/cmd/submit/tests.rs) cover the rest.

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
