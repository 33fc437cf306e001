//! What an AWS SDK error says, in words an operator can act on: the
//! service's error code, else what kind of transport failure it was. One
//! reading for DynamoDB, SQS and Secrets Manager alike.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// The service's error code (`ProvisionedThroughputExceededException`),
/// else [`transport_text`].
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match error.as_service_error().and_then(|e| e.code()) {
        Some(code) => code.to_string(),
        None => transport_text(error),
    }
}

/// A short description of an SDK transport error (timeouts, DNS, refused).
pub(crate) fn transport_text<E, R>(error: &SdkError<E, R>) -> String {
    match error {
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(_) => "could not connect".to_string(),
        SdkError::ResponseError(_) => "unreadable response".to_string(),
        SdkError::ConstructionFailure(_) => "request could not be built".to_string(),
        _ => "service error".to_string(),
    }
}
