//! What an import preview reports (SPEC section 13): one line per row and
//! the totals, as plain data the report writers render (a CSV and one
//! self-contained HTML page, `adapters::import_report`).

use super::decide::{Decision, Totals};

/// One row of the file and what the import would do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// 1 = the first row after the header.
    pub row: usize,
    /// First and last name as the row gives them.
    pub name: String,
    /// The row's first usable email, else its first email cell as written.
    pub email: String,
    /// The row's first usable phone (E.164), else as written.
    pub phone: String,
    pub decision: Decision,
    /// What was left out of the row (an invalid email, a phone, a date).
    pub problems: Vec<String>,
}

/// The whole preview.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub title: String,
    pub workflow_id: String,
    /// The file (or `Google Contacts` for a Google preview).
    pub source: String,
    /// Whose export the header looked like.
    pub export_kind: String,
    /// Hex SHA-256 of the file; the import's event id is made of it.
    pub sha256: Option<String>,
    /// RFC 3339.
    pub generated_at: String,
    /// kvCORE contacts listed, list requests, full-record reads.
    pub contacts_listed: usize,
    pub list_requests: u32,
    pub record_reads: u32,
    pub totals: Totals,
    pub rows: Vec<ReportRow>,
}
