//! A CSV export on disk, read for an import (SPEC section 13): UTF-8 with or
//! without a byte-order mark, `,` or `;` between fields (sniffed from the
//! header row, as spreadsheet programs in comma-decimal locales write `;`),
//! quoted fields that hold the delimiter, quotes or newlines (RFC 4180, as
//! the `csv` crate reads it). Also the file's SHA-256, which names the
//! import's event (applying the same file twice queues nothing twice).

use std::path::Path;

use sha2::{Digest, Sha256};

/// A file that cannot be read as a CSV export, said with where.
#[derive(Debug, thiserror::Error)]
pub enum ImportFileError {
    #[error("reading {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path} is empty: an export starts with a header row")]
    Empty { path: String },
    #[error("{path}, row {row}: {message}")]
    Row {
        path: String,
        row: usize,
        message: String,
    },
}

/// The file, read: its header and a reader over its rows.
pub struct ImportFile {
    pub path: String,
    pub headers: Vec<String>,
    /// `b','` or `b';'`.
    pub delimiter: u8,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    reader: csv::Reader<std::io::Cursor<Vec<u8>>>,
    row: usize,
}

/// The UTF-8 byte-order mark some programs (Excel's "CSV UTF-8") write first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl ImportFile {
    /// Reads `path` whole (an export of 10,000 contacts is a few MiB).
    pub fn open(path: &Path) -> Result<ImportFile, ImportFileError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| ImportFileError::Io {
            path: shown.clone(),
            error,
        })?;
        ImportFile::from_bytes(&shown, bytes)
    }

    /// Reads a file already in memory (`path` names it in errors).
    pub fn from_bytes(path: &str, bytes: Vec<u8>) -> Result<ImportFile, ImportFileError> {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let body = bytes.strip_prefix(BOM).unwrap_or(&bytes).to_vec();
        let delimiter = sniff_delimiter(&body);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(std::io::Cursor::new(body));
        let headers = reader
            .headers()
            .map_err(|e| ImportFileError::Row {
                path: path.to_string(),
                row: 0,
                message: format!("the header row cannot be read: {e}"),
            })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect::<Vec<_>>();
        if headers.iter().all(|h| h.is_empty()) {
            return Err(ImportFileError::Empty {
                path: path.to_string(),
            });
        }
        Ok(ImportFile {
            path: path.to_string(),
            headers,
            delimiter,
            sha256,
            reader,
            row: 0,
        })
    }

    /// The next row: its number (1 = the first after the header) and its
    /// fields; `None` at the end. Blank lines are skipped (not counted).
    pub fn next_row(&mut self) -> Option<Result<(usize, csv::StringRecord), ImportFileError>> {
        let mut record = csv::StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => return None,
                Ok(true) if record.iter().all(|f| f.trim().is_empty()) => continue,
                Ok(true) => {
                    self.row += 1;
                    return Some(Ok((self.row, record)));
                }
                Err(error) => {
                    self.row += 1;
                    let message = match error.kind() {
                        csv::ErrorKind::Utf8 { .. } => {
                            "is not UTF-8; save the export as \"CSV UTF-8\"".to_string()
                        }
                        _ => error.to_string(),
                    };
                    return Some(Err(ImportFileError::Row {
                        path: self.path.clone(),
                        row: self.row,
                        message,
                    }));
                }
            }
        }
    }
}

/// `;` when the header row (outside quotes) has more semicolons than
/// commas, else `,`.
fn sniff_delimiter(body: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for &b in body {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(file: &mut ImportFile) -> Vec<(usize, Vec<String>)> {
        std::iter::from_fn(|| file.next_row())
            .map(|r| {
                let (n, record) = r.unwrap();
                (n, record.iter().map(String::from).collect())
            })
            .collect()
    }

    #[test]
    fn a_bom_semicolons_and_quoted_newlines() {
        let text = "\u{feff}First Name;E-mail Address;Notes\r\nAnn;ann@example.com;\"line one\nline; two\"\r\n\r\nBo;\"bo@example.com\";\n";
        let mut file = ImportFile::from_bytes("t.csv", text.as_bytes().to_vec()).unwrap();
        assert_eq!(file.delimiter, b';');
        assert_eq!(file.headers, ["First Name", "E-mail Address", "Notes"]);
        let rows = rows(&mut file);
        assert_eq!(rows.len(), 2, "the blank line is no row");
        assert_eq!(rows[0].1[2], "line one\nline; two");
        assert_eq!(
            rows[1],
            (2, vec!["Bo".into(), "bo@example.com".into(), "".into()])
        );
    }

    #[test]
    fn commas_by_default_and_the_hash_is_of_the_bytes() {
        let text = b"Email,Phone\n\"a;b@example.com\",1\n".to_vec();
        let file = ImportFile::from_bytes("t.csv", text.clone()).unwrap();
        assert_eq!(file.delimiter, b',');
        assert_eq!(file.sha256, hex::encode(Sha256::digest(&text)));
        assert_eq!(file.sha256.len(), 64);
    }

    #[test]
    fn not_utf8_names_the_row() {
        let mut text = b"Email,Name\nann@example.com,Ann\nbo@example.com,B".to_vec();
        text.push(0xE9);
        text.extend_from_slice(b"\n");
        let mut file = ImportFile::from_bytes("t.csv", text).unwrap();
        assert!(file.next_row().unwrap().is_ok());
        let error = file.next_row().unwrap().unwrap_err().to_string();
        assert!(
            error.contains("row 2") && error.contains("UTF-8"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_file_says_so() {
        assert!(matches!(
            ImportFile::from_bytes("t.csv", Vec::new()),
            Err(ImportFileError::Empty { .. })
        ));
    }
}
