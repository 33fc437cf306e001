//! The reports of an import preview, written to disk (SPEC section 13): a
//! CSV with one line per row (the `csv` crate quotes what needs it), and
//! one self-contained HTML page: totals, a chart of the outcomes (inline
//! SVG), a table to search and sort (inline script over the rows as JSON),
//! each update's changes side by side. No server, no network: every style
//! and script is in the page.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::domain::import::{Decision, Report, ReportRow, RowSkip};
use crate::domain::matching::MatchedBy;

const TEMPLATE: &str = include_str!("import_report.html");

#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {message}")]
pub struct ReportError {
    pub path: String,
    pub message: String,
}

fn error(path: &Path, message: impl ToString) -> ReportError {
    ReportError {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 11] = [
    "row",
    "outcome",
    "reason",
    "detail",
    "name",
    "email",
    "phone",
    "contact_id",
    "matched_by",
    "changes",
    "problems",
];

/// Writes the CSV report: a header, then one line per row.
pub fn write_csv(path: &Path, report: &Report) -> Result<(), ReportError> {
    let mut writer = csv::Writer::from_path(path).map_err(|e| error(path, e))?;
    writer
        .write_record(CSV_HEADER)
        .map_err(|e| error(path, e))?;
    for row in &report.rows {
        writer
            .write_record(csv_line(row))
            .map_err(|e| error(path, e))?;
    }
    writer.flush().map_err(|e| error(path, e))
}

fn csv_line(row: &ReportRow) -> [String; 11] {
    let (reason, detail) = reason(&row.decision);
    let (contact_id, matched_by) = contact(&row.decision);
    let changes = changes(&row.decision)
        .iter()
        .map(|(field, old, new)| {
            format!("{field}: {} -> {new}", old.as_deref().unwrap_or("(empty)"))
        })
        .collect::<Vec<_>>()
        .join("; ");
    [
        row.row.to_string(),
        row.decision.outcome().to_string(),
        reason.to_string(),
        detail,
        row.name.clone(),
        row.email.clone(),
        row.phone.clone(),
        contact_id.map(|id| id.to_string()).unwrap_or_default(),
        matched_by.unwrap_or_default().to_string(),
        changes,
        row.problems.join("; "),
    ]
}

fn reason(decision: &Decision) -> (&'static str, String) {
    match decision {
        Decision::Skip { reason, .. } => (reason.code(), reason.explain()),
        Decision::Update { matched_by, .. } | Decision::Unchanged { matched_by, .. } => {
            ("", format!("matched by {}", matched_name(*matched_by)))
        }
        Decision::Create { .. } => ("", "no match in kvCORE".to_string()),
    }
}

fn matched_name(by: MatchedBy) -> &'static str {
    match by {
        MatchedBy::Email => "email",
        MatchedBy::Phone => "phone",
    }
}

fn contact(decision: &Decision) -> (Option<u64>, Option<&'static str>) {
    match decision {
        Decision::Update {
            contact_id,
            matched_by,
            ..
        }
        | Decision::Unchanged {
            contact_id,
            matched_by,
        } => (Some(*contact_id), Some(matched_name(*matched_by))),
        Decision::Skip { contact_id, .. } => (*contact_id, None),
        Decision::Create { .. } => (None, None),
    }
}

fn changes(decision: &Decision) -> Vec<(String, Option<String>, String)> {
    match decision {
        Decision::Create { changes } | Decision::Update { changes, .. } => changes
            .iter()
            .map(|c| (c.field.clone(), c.old.clone(), c.new.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes the HTML report.
pub fn write_html(path: &Path, report: &Report) -> Result<(), ReportError> {
    std::fs::write(path, html(report)).map_err(|e| error(path, e))
}

/// The HTML page of a report.
pub fn html(report: &Report) -> String {
    let rows: Vec<Value> = report.rows.iter().map(row_json).collect();
    // Inside <script>, `</script>` (or any `<`) in a name must not end it.
    let data = serde_json::to_string(&rows)
        .unwrap_or_else(|_| "[]".to_string())
        .replace('<', "\\u003c");
    TEMPLATE
        .replace("{{TITLE}}", &escape(&report.title))
        .replace("{{META}}", &meta(report))
        .replace("{{SUMMARY}}", &summary(report))
        .replace("{{CHART}}", &chart(report))
        .replace("{{DATA}}", &data)
}

fn row_json(row: &ReportRow) -> Value {
    let (code, detail) = reason(&row.decision);
    let (contact_id, _) = contact(&row.decision);
    let changes: Vec<Value> = changes(&row.decision)
        .into_iter()
        .map(|(field, old, new)| json!([field, old, new]))
        .collect();
    json!([
        row.row,
        row.decision.outcome(),
        code,
        detail,
        row.name,
        row.email,
        row.phone,
        contact_id,
        changes,
        row.problems,
    ])
}

fn meta(report: &Report) -> String {
    let mut meta = format!(
        "Workflow <b>{}</b> · {} · export: {} · {} kvCORE contacts listed in {} list requests, \
         {} full records read · written {}",
        escape(&report.workflow_id),
        escape(&report.source),
        escape(&report.export_kind),
        report.contacts_listed,
        report.list_requests,
        report.record_reads,
        escape(&report.generated_at),
    );
    if let Some(sha) = &report.sha256 {
        let _ = write!(meta, " · SHA-256 <code>{}</code>", escape(sha));
    }
    meta.push_str(" · Nothing has been written to kvCORE.");
    meta
}

fn summary(report: &Report) -> String {
    let t = &report.totals;
    let card = |class: &str, label: &str, n: usize| {
        format!(
            "<div class=\"card {class}\"><div class=\"n\" id=\"total-{class}\">{n}</div><div>{label}</div></div>"
        )
    };
    let mut html = String::from("<div class=\"cards\">");
    html.push_str(&card("rows", "rows", t.rows));
    html.push_str(&card("create", "to create", t.create));
    html.push_str(&card("update", "to update", t.update));
    html.push_str(&card("unchanged", "unchanged", t.unchanged));
    html.push_str(&card("skip", "skipped", t.skip));
    html.push_str("</div><div class=\"reasons\" id=\"reasons\">");
    for (code, n) in &t.skipped_by_reason {
        let _ = write!(
            html,
            "<span>{}: <b data-reason=\"{code}\">{n}</b></span>",
            escape(code)
        );
    }
    html.push_str("</div>");
    html
}

/// A bar per outcome, scaled to the largest, with its count.
fn chart(report: &Report) -> String {
    let t = &report.totals;
    let bars = [
        ("create", t.create, "#2e7d32"),
        ("update", t.update, "#1565c0"),
        ("unchanged", t.unchanged, "#757575"),
        ("skip", t.skip, "#c62828"),
    ];
    let most = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (width, bar_height, gap, label_width) = (600.0, 28.0, 10.0, 90.0);
    let height = bars.len() as f64 * (bar_height + gap) + gap;
    let mut svg = format!(
        "<svg class=\"chart\" id=\"chart\" role=\"img\" aria-label=\"Rows by outcome\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (label, n, color)) in bars.iter().enumerate() {
        let y = gap + i as f64 * (bar_height + gap);
        let w = (width - label_width - 70.0) * (*n as f64) / most as f64;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\" font-size=\"14\">{label}</text>\
             <rect x=\"{label_width}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_height}\" fill=\"{color}\" rx=\"3\"/>\
             <text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"14\">{n}</text>",
            ty = y + bar_height * 0.7,
            tx = label_width + w + 6.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The reason of a skip row, for callers that print one line per row.
pub fn skip_text(reason: RowSkip) -> String {
    format!("{} ({})", reason.code(), reason.explain())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::import::{Change, Totals};

    fn report() -> Report {
        let rows = vec![
            ReportRow {
                row: 1,
                name: "Ann </script><b>Lee".into(),
                email: "ann@example.com".into(),
                phone: String::new(),
                decision: Decision::Update {
                    contact_id: 1001,
                    matched_by: MatchedBy::Email,
                    changes: vec![Change {
                        field: "cell_phone_1".into(),
                        old: Some("(239) 555-0100".into()),
                        new: "+12395550142".into(),
                    }],
                },
                problems: vec![],
            },
            ReportRow {
                row: 2,
                name: "Bo, \"B\"".into(),
                email: "bo@example.com".into(),
                phone: String::new(),
                decision: Decision::Skip {
                    reason: RowSkip::DuplicateRow { row: 1 },
                    contact_id: None,
                },
                problems: vec!["column \"Phone\" is not a valid number; it was left out".into()],
            },
        ];
        Report {
            title: "Import preview".into(),
            workflow_id: "demo".into(),
            source: "contacts.csv".into(),
            export_kind: "Google Contacts".into(),
            sha256: Some("ab".repeat(32)),
            generated_at: "2026-12-07T05:00:00Z".into(),
            contacts_listed: 10,
            list_requests: 1,
            record_reads: 1,
            totals: Totals::of(rows.iter().map(|r| &r.decision)),
            rows,
        }
    }

    #[test]
    fn the_csv_has_one_line_per_row_quoted_as_needed() {
        let dir = std::env::temp_dir().join(format!("kvsync-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv");
        write_csv(&path, &report()).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(reader.headers().unwrap(), CSV_HEADER.as_slice());
        let lines: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(&lines[0][1], "update");
        assert_eq!(&lines[0][9], "cell_phone_1: (239) 555-0100 -> +12395550142");
        assert_eq!(&lines[1][2], "duplicate_row");
        assert_eq!(&lines[1][3], "same person as row 1");
        assert_eq!(&lines[1][4], "Bo, \"B\"");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_what_rows_say() {
        let page = html(&report());
        assert!(page.contains("id=\"total-update\">1<"));
        assert!(page.contains("id=\"total-skip\">1<"));
        assert!(page.contains("data-reason=\"duplicate_row\">1<"));
        assert!(page.contains("<svg class=\"chart\""));
        assert!(
            !page.contains("</script><b>"),
            "a name cannot end the data script"
        );
        assert!(!page.contains("{{"), "every placeholder is filled");
        for remote in ["http://", "https://", "src=", "href="] {
            let outside_svg_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(
                !outside_svg_namespace.contains(remote),
                "nothing is fetched: {remote}"
            );
        }
    }
}
