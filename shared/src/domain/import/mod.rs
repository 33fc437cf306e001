//! A one-time import, previewed (SPEC section 13): the columns of a CSV
//! export (`columns`), a row → a canonical `Person` (`row`), the token's
//! contacts listed once (`listing`), and what the import would do with
//! each row (`decide`), by the same rules as an event. Pure; the flow is
//! `flows::import`.

pub mod carried;
pub mod columns;
pub mod decide;
pub mod listing;
pub mod report;
pub mod row;

pub use carried::ImportedPerson;
pub use columns::{ColumnError, ColumnMap, ExportKind, Target, parse_map, recognise};
pub use decide::{Change, Decision, RowSkip, Seen, Totals, decide, needs_full_record, precheck};
pub use listing::{Listing, verify_full};
pub use report::{Report, ReportRow};
pub use row::{RowPerson, person_of, record_of};
