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
use rongxin_protocol::api::{EvaluationAnswer, EvaluationRow, FederationAnswer};

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
const COLUMNS: [&str; 11] = [
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

fn cells(r: &EvaluationRow) -> [String; 11] {
    [
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
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One CSV: a row per district (level 区县) and per department (level 部门).
fn csv(a: &EvaluationAnswer, names: &BTreeMap<String, String>) -> String {
    let mut out = String::from("\u{feff}层级,来源,来源名称,决定机关代码,期间起,期间止");
    for c in COLUMNS {
        out.push(',');
        out.push_str(c);
    }
    out.push_str("\r\n");
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
            a.from.clone().unwrap_or_default(),
            a.to.clone().unwrap_or_else(|| a.today.clone()),
        ];
        line.extend(cells(r));
        out.push_str(
            &line
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
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

/// A printable page: title, period, chart, districts, departments.
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
{departments}<p class="meta">口径：双公示条数按决定日期在期间内的行政许可、行政处罚记录首次签发计；异议与信用修复按受理日期在期间内计，按期指在到期日当日或之前签发决定。</p>
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
            districts: vec![row("gulou", None, 9, 1), row("taijiang", None, 0, 0)],
            departments: vec![row("gulou", Some("11350102003612345X"), 9, 1)],
        }
    }

    fn names() -> BTreeMap<String, String> {
        BTreeMap::from([("gulou".to_owned(), "鼓楼区<>".to_owned())])
    }

    #[test]
    fn csv_has_one_row_per_district_and_department() {
        let text = csv(&answer(), &names());
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("\u{feff}层级,来源,来源名称,决定机关代码"));
        assert_eq!(
            lines[1],
            "区县,gulou,鼓楼区<>,,2026-11-01,2026-11-30,10,9,1,90.0%,2,1,1,0,0,0,0"
        );
        assert!(lines[2].starts_with("区县,taijiang,taijiang,,"), "{text}");
        assert!(
            lines[2].contains(",0,0,0,-,"),
            "no rate without records: {text}"
        );
        assert!(lines[3].starts_with("部门,gulou,鼓楼区<>,11350102003612345X,"));
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
    }

    #[test]
    fn the_table_lists_districts_then_departments() {
        let text = table(&answer(), &names());
        let gulou = text.find("gulou        鼓楼区").expect("district row");
        let dept = text.find("11350102003612345X").expect("department row");
        assert!(gulou < dept, "{text}");
    }
}
