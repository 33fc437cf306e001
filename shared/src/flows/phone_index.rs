//! The phone index (SPEC section 9): kvCORE cannot look a contact up by
//! phone, so kvsync keeps, per scope (a kvCORE token secret and a default
//! country), which contacts have which main-card phone. This module orders
//! the index's I/O: a full build paged through `GET /contacts?limit=500`
//! (resumable), an incremental refresh through `filter[updated_at]`, the
//! freshness check before a phone lookup, and the write-through of every
//! contact kvsync writes. The table itself is
//! `crate::adapters::store::PhoneIndexStore`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::adapters::kvcore::{KvcoreError, MAX_PAGE_SIZE, Session};
use crate::adapters::store::{
    BuildCursor, IndexMeta, IndexedContact, MetaUpdate, PhoneIndexStore, StoreError,
};
use crate::domain::contact::{Region, e164_of};
use crate::domain::kv_contact::KvContact;
use crate::domain::matching::MAIN_CARD_PHONES;
use crate::domain::settings::Settings;

/// A lookup refreshes the index first when its last refresh is older
/// than this (SPEC section 9).
pub const REFRESH_AFTER: Duration = Duration::from_secs(60);
/// A refresh lists contacts changed since the watermark minus this, which
/// covers kvCORE's ~30 s list lag (SPEC section 7) with room for clock skew.
pub const OVERLAP_S: i64 = 120;
/// A full build runs again when the last one is older than this, dropping
/// deleted and archived contacts (SPEC section 9: at least daily).
pub const REBUILD_AFTER: Duration = Duration::from_secs(23 * 3600);
/// A lease outlives its holder's deadline by this much, so a crashed
/// holder's lease frees soon after.
const LEASE_GRACE_MS: i64 = 5_000;
/// A lookup waits at most this long for another invocation's refresh.
const WAIT_FOR_REFRESHER: Duration = Duration::from_secs(3);
/// Time left that a build or refresh needs to start one more page.
const PAGE_BUDGET: Duration = Duration::from_secs(4);

/// One index: the contacts one kvCORE token sees, their phones read in one
/// default country. Workflows that share both share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `<kvcore_token_secret>#<country>`: the table's partition key.
    pub id: String,
    pub region: Region,
}

impl Scope {
    pub fn of(settings: &Settings) -> Scope {
        Scope {
            id: format!(
                "{}#{}",
                settings.kvcore_token_secret,
                settings.default_country.code()
            ),
            region: settings.default_country,
        }
    }
}

/// A contact's main-card phones in E.164 (SPEC section 6 rule 2); Profile
/// Details phones and numbers that are not valid are left out.
pub fn phones_of(contact: &KvContact, region: Region) -> BTreeSet<String> {
    MAIN_CARD_PHONES
        .iter()
        .filter_map(|field| contact.text(field))
        .filter_map(|raw| e164_of(raw, region))
        .collect()
}

/// The main-card phones a contact has after kvsync wrote `written`
/// (`(field, value)` pairs) over its full record `before` (`None`: it was
/// just created from `written`).
pub fn phones_after<'a>(
    before: Option<&KvContact>,
    written: impl Iterator<Item = (&'a str, &'a serde_json::Value)>,
    region: Region,
) -> BTreeSet<String> {
    let mut fields: HashMap<&str, String> = MAIN_CARD_PHONES
        .iter()
        .filter_map(|field| Some((*field, before?.text(field)?.to_string())))
        .collect();
    for (field, value) in written {
        if MAIN_CARD_PHONES.contains(&field) {
            match value.as_str() {
                Some(text) => fields.insert(field, text.to_string()),
                None => fields.remove(field),
            };
        }
    }
    fields
        .values()
        .filter_map(|raw| e164_of(raw, region))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The scope's first full build has not finished (SPEC section 9: the
    /// event answers 503 `phone_index_building` and is kept).
    #[error("the phone index of this kvCORE token is still being built; retry later")]
    Building,
    #[error(transparent)]
    Kvcore(#[from] KvcoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one build run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildReport {
    /// The build finished (else it stopped for time and resumes next run).
    pub finished: bool,
    pub pages: u32,
    /// Contacts read by this build so far, this run and earlier ones.
    pub contacts_read: u64,
    /// Contacts indexed when it finished.
    pub contacts_indexed: Option<u64>,
    /// kvCORE's `total` on the last page read.
    pub total: Option<u64>,
}

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RefreshReport {
    /// Another invocation held the lease: nothing was done.
    pub skipped: bool,
    pub pages: u32,
    pub contacts_read: u64,
}

/// The index of one scope, driven with one kvCORE session.
pub struct PhoneIndex<'a> {
    pub store: &'a PhoneIndexStore,
    pub session: &'a Session<'a>,
    pub scope: &'a Scope,
    /// Who takes the lease: this invocation.
    pub owner: &'a str,
    pub deadline: Instant,
    pub deadline_ms: i64,
}

impl PhoneIndex<'_> {
    /// Makes sure the index can answer a lookup: built (else `Building`)
    /// and refreshed within `REFRESH_AFTER`. When another invocation is
    /// refreshing, waits for it a little, never past the deadline, then
    /// goes on with the index as it is.
    pub async fn ready(&self, now_ms: i64) -> Result<(), IndexError> {
        let meta = self.store.meta(&self.scope.id).await?;
        self.freshen(&meta, now_ms).await
    }

    /// `Building` before the first build; a refresh when stale.
    async fn freshen(&self, meta: &IndexMeta, now_ms: i64) -> Result<(), IndexError> {
        if meta.built_at_ms.is_none() {
            return Err(IndexError::Building);
        }
        if !is_stale(meta, now_ms) {
            return Ok(());
        }
        let report = self.refresh(now_ms).await?;
        if report.skipped {
            self.wait_for_refresher(meta.last_refresh_ms).await?;
        }
        Ok(())
    }

    /// The contacts indexed under an E.164 number, lowest id first.
    pub async fn candidates(&self, e164: &str) -> Result<Vec<u64>, IndexError> {
        Ok(self.store.candidates(&self.scope.id, e164).await?)
    }

    /// `ready`, then `candidates` for a first number, in one round trip
    /// when the index is fresh: the scope's state and the entries are read
    /// together, and the entries again only after a refresh.
    pub async fn ready_with_candidates(
        &self,
        e164: &str,
        now_ms: i64,
    ) -> Result<Vec<u64>, IndexError> {
        let (meta, candidates) =
            tokio::join!(self.store.meta(&self.scope.id), self.candidates(e164));
        let meta = meta?;
        if !is_stale(&meta, now_ms) && meta.built_at_ms.is_some() {
            return candidates;
        }
        self.freshen(&meta, now_ms).await?;
        self.candidates(e164).await
    }

    /// An entry whose contact is gone or lost the phone (SPEC section 9).
    pub async fn forget(&self, e164: &str, contact_id: u64) -> Result<(), IndexError> {
        Ok(self
            .store
            .remove_entry(&self.scope.id, e164, contact_id)
            .await?)
    }

    /// Lists the contacts changed since the watermark (minus the overlap)
    /// and updates their entries; one refresher per scope at a time.
    pub async fn refresh(&self, now_ms: i64) -> Result<RefreshReport, IndexError> {
        let Some(meta) = self.take_lease(now_ms).await? else {
            return Ok(RefreshReport {
                skipped: true,
                ..RefreshReport::default()
            });
        };
        let result = self.refresh_holding_lease(&meta, now_ms).await;
        let update = match &result {
            Ok((_, watermark_s)) => MetaUpdate {
                watermark_s: Some(*watermark_s),
                last_refresh_ms: Some(now_ms),
                ..MetaUpdate::default()
            },
            Err(_) => MetaUpdate::default(),
        };
        self.store
            .release(&self.scope.id, self.owner, &update)
            .await?;
        result.map(|(report, _)| report)
    }

    /// The refresh proper; answers the report and the new watermark (when
    /// it started, so what changed while it ran is listed again next time).
    async fn refresh_holding_lease(
        &self,
        meta: &IndexMeta,
        now_ms: i64,
    ) -> Result<(RefreshReport, i64), IndexError> {
        let started_s = now_ms / 1000;
        let since = meta.watermark_s.unwrap_or(started_s) - OVERLAP_S;
        let since_text = since.max(0).to_string();
        let filter = [("filter[updated_at]", since_text.as_str())];
        let mut report = RefreshReport::default();
        for page in 1.. {
            let listed = self.session.list_page(&filter, page, MAX_PAGE_SIZE).await?;
            report.pages += 1;
            report.contacts_read += listed.data.len() as u64;
            let more = listed.has_more();
            self.index_page(&listed.data, now_ms, false).await?;
            if !more {
                break;
            }
            if Instant::now() + PAGE_BUDGET >= self.deadline {
                // Out of time: the watermark stays, so the next refresh
                // lists this stretch again.
                return Ok((report, meta.watermark_s.unwrap_or(since + OVERLAP_S)));
            }
        }
        Ok((report, started_s))
    }

    /// Runs a full build, or resumes the one in progress, until it finishes
    /// or the deadline nears. `progress` hears about every page read.
    pub async fn build(
        &self,
        now_ms: i64,
        progress: &mut (dyn FnMut(&BuildReport) + Send),
    ) -> Result<BuildReport, IndexError> {
        let Some(meta) = self.take_lease(now_ms).await? else {
            return Err(StoreError::Unavailable(
                "another invocation is building or refreshing this phone index".into(),
            )
            .into());
        };
        let mut cursor = meta.build.unwrap_or(BuildCursor {
            started_ms: now_ms,
            next_page: 1,
            contacts_read: 0,
        });
        let mut report = BuildReport {
            contacts_read: cursor.contacts_read,
            ..BuildReport::default()
        };
        let result = self.build_pages(&mut cursor, &mut report, progress).await;
        let update = match (&result, report.finished) {
            (Ok(()), true) => {
                let indexed = self
                    .store
                    .drop_unseen(&self.scope.id, cursor.started_ms)
                    .await?;
                report.contacts_indexed = Some(indexed);
                MetaUpdate {
                    built_at_ms: Some(cursor.started_ms),
                    // A first build's watermark is its start; a rebuild
                    // keeps the refreshes' own.
                    watermark_s: Some(meta.watermark_s.unwrap_or(cursor.started_ms / 1000)),
                    last_refresh_ms: meta.last_refresh_ms.or(Some(cursor.started_ms)),
                    contacts: Some(indexed),
                    build: Some(None),
                }
            }
            // Stopped for time, or failed part-way: resume from the cursor.
            _ => MetaUpdate {
                build: Some(Some(cursor)),
                ..MetaUpdate::default()
            },
        };
        self.store
            .release(&self.scope.id, self.owner, &update)
            .await?;
        result.map(|()| report)
    }

    async fn build_pages(
        &self,
        cursor: &mut BuildCursor,
        report: &mut BuildReport,
        progress: &mut (dyn FnMut(&BuildReport) + Send),
    ) -> Result<(), IndexError> {
        loop {
            if Instant::now() + PAGE_BUDGET >= self.deadline {
                return Ok(());
            }
            let listed = self
                .session
                .list_page(&[], cursor.next_page, MAX_PAGE_SIZE)
                .await?;
            self.index_page(&listed.data, cursor.started_ms, true)
                .await?;
            cursor.next_page += 1;
            cursor.contacts_read += listed.data.len() as u64;
            report.pages += 1;
            report.contacts_read = cursor.contacts_read;
            report.total = listed.total.or(report.total);
            report.finished = !listed.has_more();
            progress(report);
            if report.finished {
                return Ok(());
            }
            // Saved after every page, so a run that is killed (not just
            // out of time) loses at most one page.
            let saved = MetaUpdate {
                build: Some(Some(*cursor)),
                ..MetaUpdate::default()
            };
            self.store.save(&self.scope.id, self.owner, &saved).await?;
        }
    }

    /// Updates the entries of one page of list rows (whose main-card phones
    /// are list fields, SPEC section 7).
    async fn index_page(
        &self,
        rows: &[KvContact],
        seen_ms: i64,
        restamp: bool,
    ) -> Result<(), IndexError> {
        let changes: Vec<IndexedContact> = rows
            .iter()
            .map(|row| IndexedContact {
                contact_id: row.id,
                phones: phones_of(row, self.scope.region),
            })
            .collect();
        let ids: Vec<u64> = changes.iter().map(|c| c.contact_id).collect();
        let previous = self.store.indexed(&self.scope.id, &ids).await?;
        self.store
            .apply(&self.scope.id, &changes, &previous, seen_ms, restamp)
            .await?;
        Ok(())
    }

    async fn take_lease(&self, now_ms: i64) -> Result<Option<IndexMeta>, IndexError> {
        let until = self.deadline_ms + LEASE_GRACE_MS;
        Ok(self
            .store
            .take_lease(&self.scope.id, self.owner, until, now_ms)
            .await?)
    }

    /// Polls until the other refresher is done, at most `WAIT_FOR_REFRESHER`
    /// and never past the deadline.
    async fn wait_for_refresher(&self, seen_refresh_ms: Option<i64>) -> Result<(), IndexError> {
        let give_up = (Instant::now() + WAIT_FOR_REFRESHER).min(self.deadline - PAGE_BUDGET / 2);
        let pause = Duration::from_millis(150);
        while Instant::now() + pause < give_up {
            tokio::time::sleep(pause).await;
            let meta = self.store.meta(&self.scope.id).await?;
            if meta.lease_owner.is_none() || meta.last_refresh_ms != seen_refresh_ms {
                return Ok(());
            }
        }
        tracing::warn!(
            "the phone index refresh by another invocation is slow; looking up in the index as it is"
        );
        Ok(())
    }
}

/// Whether a lookup must refresh first.
pub fn is_stale(meta: &IndexMeta, now_ms: i64) -> bool {
    meta.last_refresh_ms
        .is_none_or(|at| now_ms - at > REFRESH_AFTER.as_millis() as i64)
}

/// Whether the scheduled indexer should run a full build rather than a
/// refresh: never built, a build in progress, or the last one too old.
pub fn needs_build(meta: &IndexMeta, now_ms: i64) -> bool {
    meta.build.is_some()
        || meta
            .built_at_ms
            .is_none_or(|at| now_ms - at > REBUILD_AFTER.as_millis() as i64)
}

/// Writes a contact kvsync just created or updated into the index (SPEC
/// section 9), so an event that follows never misses it. `before` is what
/// its main card held (empty for a create), `after` what it holds now.
/// Nothing is sent when its phones did not change, none at all included
/// (an update that touches no main-card phone, or a contact without
/// phones: the index has nothing to find it by, and a missing contact item
/// reads as no phones to a later write or refresh).
pub async fn write_through(
    store: &PhoneIndexStore,
    scope: &Scope,
    contact_id: u64,
    before: BTreeSet<String>,
    after: BTreeSet<String>,
    now_ms: i64,
) -> Result<(), StoreError> {
    if before == after {
        return Ok(());
    }
    let previous = HashMap::from([(contact_id, before)]);
    let change = IndexedContact {
        contact_id,
        phones: after,
    };
    store
        .apply(&scope.id, &[change], &previous, now_ms, true)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact(value: serde_json::Value) -> KvContact {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn entries_are_the_main_card_phones_in_e164() {
        let c = contact(json!({
            "id": 7,
            "cell_phone_1": "(239) 555-0100",
            "home_phone": 2395550101_u64,
            "work_phone": "+44 20 7946 0018",
            "cell_phone_2": "239 555 0102",
        }));
        let phones: Vec<String> = phones_of(&c, Region::default()).into_iter().collect();
        assert_eq!(phones, ["+12395550100", "+12395550101", "+442079460018"]);
    }

    #[test]
    fn the_same_number_twice_is_one_entry_and_junk_none() {
        let c = contact(
            json!({"id": 7, "cell_phone_1": "239.555.0100", "home_phone": "+1 239 555 0100", "work_phone": "n/a"}),
        );
        assert_eq!(phones_of(&c, Region::default()).len(), 1);
    }

    #[test]
    fn phones_after_a_write_replace_the_fields_written() {
        let before =
            contact(json!({"id": 7, "cell_phone_1": "239 555 0100", "home_phone": "239 555 0101"}));
        let new_cell = json!("+12395550199");
        let after = phones_after(
            Some(&before),
            [("cell_phone_1", &new_cell)].into_iter(),
            Region::default(),
        );
        assert_eq!(
            after.into_iter().collect::<Vec<_>>(),
            ["+12395550101", "+12395550199"]
        );
        let created = phones_after(
            None,
            [("work_phone", &new_cell), ("email", &json!("a@b.co"))].into_iter(),
            Region::default(),
        );
        assert_eq!(created.into_iter().collect::<Vec<_>>(), ["+12395550199"]);
    }

    #[test]
    fn freshness_and_rebuilds() {
        let now = 10_000_000_000;
        let fresh = IndexMeta {
            built_at_ms: Some(now - 3_600_000),
            last_refresh_ms: Some(now - 59_000),
            ..IndexMeta::default()
        };
        assert!(!is_stale(&fresh, now));
        assert!(!needs_build(&fresh, now));
        let old = IndexMeta {
            last_refresh_ms: Some(now - 61_000),
            built_at_ms: Some(now - 24 * 3_600_000),
            ..fresh.clone()
        };
        assert!(is_stale(&old, now));
        assert!(needs_build(&old, now), "at least daily");
        assert!(is_stale(&IndexMeta::default(), now));
        assert!(needs_build(&IndexMeta::default(), now), "never built");
        let resuming = IndexMeta {
            build: Some(BuildCursor {
                started_ms: now,
                next_page: 3,
                contacts_read: 1000,
            }),
            ..fresh
        };
        assert!(needs_build(&resuming, now), "a build in progress resumes");
    }

    #[test]
    fn scopes_are_token_and_country() {
        let settings = |country: &str| {
            let mut item = crate::domain::settings::Item::from([
                (
                    "kvcore_token_secret".to_string(),
                    crate::domain::settings::Attr::S("kvsync/token".into()),
                ),
                (
                    "webhook_secret".to_string(),
                    crate::domain::settings::Attr::S("w".into()),
                ),
            ]);
            item.insert(
                "default_country".into(),
                crate::domain::settings::Attr::S(country.into()),
            );
            crate::domain::settings::parse("wf", &item).unwrap().0
        };
        assert_eq!(Scope::of(&settings("US")).id, "kvsync/token#US");
        assert_ne!(Scope::of(&settings("US")), Scope::of(&settings("GB")));
    }
}
