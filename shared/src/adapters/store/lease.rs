//! A lease on one item: who runs something right now (the phone index's
//! refresher per scope, the Google poller per workflow), and until when.
//! Taken with a conditional write, so two holders never overlap; a holder
//! that dies loses it when `lease_until_ms` passes. Attributes
//! `lease_owner` (S) and `lease_until_ms` (N, unix ms).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{Item, StoreError, n, s, unavailable};

/// Takes the lease on the item at `key` for `owner` until `until_ms`, when
/// it is free, expired (`now_ms` past it) or `owner`'s already. Answers
/// the whole item then, or `None` while another holder's lease runs.
pub(super) async fn take(
    client: &Client,
    table: &str,
    key: Item,
    owner: &str,
    until_ms: i64,
    now_ms: i64,
) -> Result<Option<Item>, StoreError> {
    let taken = client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("SET lease_owner = :owner, lease_until_ms = :until")
        .condition_expression(
            "attribute_not_exists(lease_until_ms) OR lease_until_ms < :now OR lease_owner = :owner",
        )
        .expression_attribute_values(":owner", s(owner))
        .expression_attribute_values(":until", n(until_ms))
        .expression_attribute_values(":now", n(now_ms))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match taken {
        Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}
