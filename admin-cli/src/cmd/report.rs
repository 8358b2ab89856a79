//! `rongxinctl report evaluation`: the period's evaluation of districts and
//! departments (目标绩效考核) from `GET /v1/admin/evaluation`, as a table,
//! CSV, or a printable HTML page with a chart, the document the city's
//! efficiency office receives.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rongxin_protocol::api::{EvaluationAnswer, EvaluationRow, FederationAnswer, SubmissionRow};

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    report: Report,
}

/// The reports.
#[derive(Debug, Subcommand)]
enum Report {
    /// The period's evaluation of every district and department: double
    /// publicity on time, objections and repairs handled within the limit.
    Evaluation(EvaluationArgs),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned columns.
    Table,
    /// CSV with a header row (UTF-8 with BOM, as spreadsheet programs want).
    Csv,
    /// A printable HTML page with a chart.
    Html,
}

/// Arguments of `rongxinctl report evaluation`.
#[derive(Debug, Args)]
struct EvaluationArgs {
    /// The node's HTTP API (the city holds every origin).
    #[arg(long)]
    node: String,
    /// File holding an admin or monitor token.
    #[arg(long)]
    token_file: PathBuf,
    /// First day of the period (YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Last day of the period (YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `rongxinctl report`.
pub fn run(args: ReportArgs) -> Result<ExitCode> {
    match args.report {
        Report::Evaluation(a) => evaluation(a),
    }
}

fn evaluation(a: EvaluationArgs) -> Result<ExitCode> {
    let node = Node::new(&a.node, Duration::from_secs(300))?;
    let token = read_token(&a.token_file)?;
    let mut query = Vec::new();
    for (k, v) in [("from", &a.from), ("to", &a.to)] {
        if let Some(v) = v {
            query.push((k, v.as_str()));
        }
    }
    let answer: EvaluationAnswer = node
        .get("/v1/admin/evaluation", &query, Some(&token))?
        .json()?;
    // Display names from the roster, as the federation view carries them.
    let names: BTreeMap<String, String> = node
        .get("/v1/admin/federation", &[], Some(&token))?
        .json::<FederationAnswer>()?
        .nodes
        .into_iter()
        .map(|n| (n.member, n.name))
        .collect();
    let text = match a.format {
        Format::Table => table(&answer, &names),
        Format::Csv => csv(&answer, &names),
        Format::Html => html(&answer, &names, &a.node),
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn period(a: &EvaluationAnswer) -> String {
    format!(
        "{} 至 {}",
        a.from.as_deref().unwrap_or("最早"),
        a.to.as_deref().unwrap_or(&a.today)
    )
}

fn rate(r: &EvaluationRow) -> String {
    r.on_time_rate()
        .map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", 100.0 * v))
}

fn name<'a>(names: &'a BTreeMap<String, String>, origin: &'a str) -> &'a str {
    names.get(origin).map_or(origin, String::as_str)
}

/// The columns every format shows, after the district and department.
const COLUMNS: [&str; 13] = [
    "报送条数",
    "退回条数",
    "双公示条数",
    "按时",
    "超期",
    "按时率",
    "异议受理",
    "按期办结",
    "超期办结",
    "超期未办结",
    "修复受理",
    "按期决定",
    "超期未决定",
];

fn cells(r: &EvaluationRow) -> [String; 13] {
    let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    [
        count(r.submitted),
        count(r.refused),
        r.published.to_string(),
        r.on_time.to_string(),
        r.late.to_string(),
        rate(r),
        r.objections.to_string(),
        r.objections_in_time.to_string(),
        r.objections_late.to_string(),
        r.objections_overdue.to_string(),
        r.repairs.to_string(),
        r.repairs_in_time.to_string(),
        r.repairs_overdue.to_string(),
    ]
}

/// The columns of a submitting department's row, after its district and
/// name.
const SUBMISSION_COLUMNS: [&str; 5] = ["报送条数", "接收", "重复", "退回条数", "退回原因"];

/// Why a department's records were refused, most frequent first: `field
/// count（example）`.
fn reasons(r: &SubmissionRow) -> String {
    let mut reasons: Vec<_> = r.reasons.iter().collect();
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.field.cmp(&b.field)));
    reasons
        .iter()
        .map(|x| format!("{} {}（{}）", x.field, x.count, x.example))
        .collect::<Vec<_>>()
        .join("；")
}

fn submission_cells(r: &SubmissionRow) -> [String; 5] {
    [
        r.submitted.to_string(),
        r.accepted.to_string(),
        r.duplicates.to_string(),
        r.refused.to_string(),
        reasons(r),
    ]
}

/// Aligned columns: districts, then departments.
fn table(a: &EvaluationAnswer, names: &BTreeMap<String, String>) -> String {
    let mut out = format!(
        "目标绩效考核 {}（双公示期限 {} 个工作日；报告日 {}）\n",
        period(a),
        a.deadline_working_days,
        a.today
    );
    let header = |first: &str, second: &str| {
        let mut h = format!("{first:<12} {second:<20}");
        for c in COLUMNS {
            let _ = write!(h, " {c:>8}");
        }
        h.push('\n');
        h
    };
    out.push_str(&header("district", ""));
    for r in &a.districts {
        let _ = write!(out, "{:<12} {:<20}", r.origin, name(names, &r.origin));
        for c in cells(r) {
            let _ = write!(out, " {c:>8}");
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&header("district", "department"));
    for r in &a.departments {
        let _ = write!(
            out,
            "{:<12} {:<20}",
            r.origin,
            r.authority.as_deref().unwrap_or("")
        );
        for c in cells(r) {
            let _ = write!(out, " {c:>8}");
        }
        out.push('\n');
    }
    out.push('\n');
    let _ = write!(out, "{:<12} {:<20}", "district", "submitting department");
    for c in SUBMISSION_COLUMNS {
        let _ = write!(out, " {c:>8}");
    }
    out.push('\n');
    for r in &a.submissions {
        let _ = write!(out, "{:<12} {:<20}", r.origin, r.department);
        for c in submission_cells(r) {
            let _ = write!(out, " {c:>8}");
        }
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One CSV: a row per district (level 区县), per deciding authority (level
/// 部门) and per submitting department (level 报送部门, its figures in
/// 报送条数, 退回条数 and the last columns).
fn csv(a: &EvaluationAnswer, names: &BTreeMap<String, String>) -> String {
    let mut out = String::from("\u{feff}层级,来源,来源名称,决定机关代码,报送部门,期间起,期间止");
    for c in COLUMNS {
        out.push(',');
        out.push_str(c);
    }
    out.push_str(",接收,重复,退回原因\r\n");
    let period = [
        a.from.clone().unwrap_or_default(),
        a.to.clone().unwrap_or_else(|| a.today.clone()),
    ];
    let mut push = |line: Vec<String>| {
        out.push_str(
            &line
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    };
    let rows = a
        .districts
        .iter()
        .map(|r| ("区县", r))
        .chain(a.departments.iter().map(|r| ("部门", r)));
    for (level, r) in rows {
        let mut line = vec![
            level.to_owned(),
            r.origin.clone(),
            name(names, &r.origin).to_owned(),
            r.authority.clone().unwrap_or_default(),
            String::new(),
        ];
        line.extend(period.clone());
        line.extend(cells(r));
        line.extend([String::new(), String::new(), String::new()]);
        push(line);
    }
    for r in &a.submissions {
        let mut line = vec![
            "报送部门".to_owned(),
            r.origin.clone(),
            name(names, &r.origin).to_owned(),
            String::new(),
            r.department.clone(),
        ];
        line.extend(period.clone());
        line.push(r.submitted.to_string());
        line.push(r.refused.to_string());
        line.extend((2..COLUMNS.len()).map(|_| String::new()));
        line.extend([r.accepted.to_string(), r.duplicates.to_string(), reasons(r)]);
        push(line);
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar per district: its on-time rate, the rate as text.
fn chart(a: &EvaluationAnswer, names: &BTreeMap<String, String>) -> String {
    const BAR: f64 = 420.0;
    let rows: Vec<&EvaluationRow> = a
        .districts
        .iter()
        .filter(|r| r.on_time_rate().is_some())
        .collect();
    let height = 28 * rows.len() + 10;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{height}\" role=\"img\" aria-label=\"各区县双公示按时率\">\n"
    );
    for (i, r) in rows.iter().enumerate() {
        let v = r.on_time_rate().unwrap_or(0.0);
        let y = 28 * i + 5;
        let colour = if v >= 0.95 {
            "#1b7f3b"
        } else if v >= 0.8 {
            "#b7791f"
        } else {
            "#c53030"
        };
        let _ = writeln!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text><rect x=\"150\" y=\"{y}\" width=\"{:.1}\" height=\"18\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 14,
            esc(name(names, &r.origin)),
            BAR * v,
            156.0 + BAR * v,
            y + 14,
            rate(r)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn html_table(
    rows: &[EvaluationRow],
    names: &BTreeMap<String, String>,
    departments: bool,
) -> String {
    let mut t = String::from("<table>\n<thead><tr><th>区县</th>");
    if departments {
        t.push_str("<th>决定机关代码</th>");
    }
    for c in COLUMNS {
        let _ = write!(t, "<th>{c}</th>");
    }
    t.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        let _ = write!(t, "<tr><td>{}</td>", esc(name(names, &r.origin)));
        if departments {
            let _ = write!(t, "<td>{}</td>", esc(r.authority.as_deref().unwrap_or("")));
        }
        for c in cells(r) {
            let _ = write!(t, "<td>{}</td>", esc(&c));
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</tbody>\n</table>\n");
    t
}

fn html_submissions(rows: &[SubmissionRow], names: &BTreeMap<String, String>) -> String {
    let mut t = String::from("<table>\n<thead><tr><th>区县</th><th>报送部门</th>");
    for c in SUBMISSION_COLUMNS {
        let _ = write!(t, "<th>{c}</th>");
    }
    t.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td>",
            esc(name(names, &r.origin)),
            esc(&r.department)
        );
        for c in submission_cells(r) {
            let _ = write!(t, "<td>{}</td>", esc(&c));
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</tbody>\n</table>\n");
    t
}

/// A printable page: title, period, chart, districts, departments,
/// submitting departments.
fn html(a: &EvaluationAnswer, names: &BTreeMap<String, String>, node: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>公共信用信息目标绩效考核 {period}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; margin: 2em; color: #1a202c; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; }}
table {{ border-collapse: collapse; font-size: .85em; }}
th, td {{ border: 1px solid #a0aec0; padding: .2em .5em; text-align: right; }}
th:first-child, td:first-child, td:nth-child(2) {{ text-align: left; }}
.meta {{ color: #4a5568; }}
@media print {{ body {{ margin: 1cm; }} h2 {{ page-break-after: avoid; }} table {{ page-break-inside: auto; }} }}
</style>
</head>
<body>
<h1>福州市公共信用信息平台 · 目标绩效考核数据</h1>
<p class="meta">考核期间：{period}；双公示期限：决定之日起 {deadline} 个工作日内公示；超期按报告日 {today} 计；数据来源：{node}（各来源签名日志，GET /v1/admin/evaluation）。</p>
<h2>各区县双公示按时率</h2>
{chart}<h2>各区县</h2>
{districts}<h2>各部门（按决定机关统一社会信用代码）</h2>
{departments}<h2>各报送部门：报送、退回及原因</h2>
{submissions}<p class="meta">口径：报送条数、退回条数按报送日（北京时间）在期间内计，由受理报送的节点统计（本节点及其对等节点报来的统计），退回原因按每条被退回记录的第一个问题所在字段或列计；双公示条数按决定日期在期间内的行政许可、行政处罚记录首次签发计；异议与信用修复按受理日期在期间内计，按期指在到期日当日或之前签发决定。</p>
</body>
</html>
"#,
        period = esc(&period(a)),
        deadline = a.deadline_working_days,
        today = esc(&a.today),
        node = esc(node),
        chart = chart(a, names),
        districts = html_table(&a.districts, names, false),
        departments = html_table(&a.departments, names, true),
        submissions = html_submissions(&a.submissions, names),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> EvaluationAnswer {
        let row = |origin: &str, authority: Option<&str>, on_time, late| EvaluationRow {
            origin: origin.into(),
            authority: authority.map(Into::into),
            published: on_time + late,
            on_time,
            late,
            objections: 2,
            objections_in_time: 1,
            objections_late: 1,
            ..EvaluationRow::default()
        };
        EvaluationAnswer {
            from: Some("2026-11-01".into()),
            to: Some("2026-11-30".into()),
            today: "2026-12-04".into(),
            deadline_working_days: 7,
            districts: vec![
                EvaluationRow {
                    submitted: Some(12),
                    refused: Some(2),
                    ..row("gulou", None, 9, 1)
                },
                EvaluationRow {
                    submitted: Some(0),
                    refused: Some(0),
                    ..row("taijiang", None, 0, 0)
                },
            ],
            departments: vec![row("gulou", Some("11350102003612345X"), 9, 1)],
            submissions: vec![SubmissionRow {
                origin: "gulou".into(),
                department: "鼓楼区市场监管局, 执法支队".into(),
                submitted: 12,
                accepted: 9,
                duplicates: 1,
                refused: 2,
                reasons: vec![
                    rongxin_protocol::tally::Reason {
                        field: "CF_CFLB".into(),
                        count: 1,
                        example: "unknown penalty type 9".into(),
                    },
                    rongxin_protocol::tally::Reason {
                        field: "subject.code".into(),
                        count: 1,
                        example: "check digit <5>".into(),
                    },
                ],
            }],
        }
    }

    fn names() -> BTreeMap<String, String> {
        BTreeMap::from([("gulou".to_owned(), "鼓楼区<>".to_owned())])
    }

    #[test]
    fn csv_has_one_row_per_district_and_department() {
        let text = csv(&answer(), &names());
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("\u{feff}层级,来源,来源名称,决定机关代码,报送部门"));
        assert!(lines[0].ends_with(",接收,重复,退回原因"), "{text}");
        assert_eq!(
            lines[1],
            "区县,gulou,鼓楼区<>,,,2026-11-01,2026-11-30,12,2,10,9,1,90.0%,2,1,1,0,0,0,0,,,"
        );
        assert!(lines[2].starts_with("区县,taijiang,taijiang,,,"), "{text}");
        assert!(
            lines[2].contains(",0,0,0,-,"),
            "no rate without records: {text}"
        );
        assert!(lines[3].starts_with("部门,gulou,鼓楼区<>,11350102003612345X,,"));
        assert!(lines[3].contains(",2026-11-30,-,-,10,"), "{text}");
        assert_eq!(
            lines[4],
            "报送部门,gulou,鼓楼区<>,,\"鼓楼区市场监管局, 执法支队\",2026-11-01,2026-11-30,12,2,,,,,,,,,,,,9,1,CF_CFLB 1（unknown penalty type 9）；subject.code 1（check digit <5>）"
        );
        // Every row has the header's number of columns.
        let columns = lines[0].split(',').count();
        assert!(
            lines[..4].iter().all(|l| l.split(',').count() == columns),
            "{text}"
        );
    }

    #[test]
    fn html_escapes_names_and_charts_only_districts_with_records() {
        let page = html(&answer(), &names(), "https://city:8100");
        assert!(page.contains("鼓楼区&lt;&gt;"));
        assert!(!page.contains("鼓楼区<>"));
        // One bar: taijiang published nothing in the period.
        assert_eq!(page.matches("<rect ").count(), 1, "{page}");
        assert!(page.contains("90.0%"));
        assert!(page.contains("考核期间：2026-11-01 至 2026-11-30"));
        assert!(page.contains("<td>鼓楼区市场监管局, 执法支队</td><td>12</td><td>9</td><td>1</td><td>2</td><td>CF_CFLB 1（unknown penalty type 9）；subject.code 1（check digit &lt;5&gt;）</td>"), "{page}");
    }

    #[test]
    fn the_table_lists_districts_then_departments() {
        let text = table(&answer(), &names());
        let gulou = text.find("gulou        鼓楼区").expect("district row");
        let dept = text.find("11350102003612345X").expect("department row");
        assert!(gulou < dept, "{text}");
        let submitting = text
            .find("鼓楼区市场监管局, 执法支队")
            .expect("submitting department row");
        assert!(dept < submitting, "{text}");
    }
}
