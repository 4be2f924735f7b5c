//! Why a call to EC2 failed, sorted by what the caller should do about it: wait and retry
//! (throttled, transient), give up on this instance (not found), or fix the input (rejected).

use std::fmt;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::rate::Api;

/// The error codes with which EC2 (and the SDKs' conventions) say "slow down".
const THROTTLE_CODES: [&str; 4] = ["RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled"];

/// The error codes of a server-side fault that a later retry may not meet.
const TRANSIENT_CODES: [&str; 4] = ["InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"];

/// What kind of failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// EC2 refused the call for exceeding a rate limit.
    Throttled,
    /// The call did not complete (a timeout, a dropped connection, a server fault).
    Transient,
    /// The instance (or volume) named does not exist.
    NotFound,
    /// EC2 rejected the request itself; the same request fails again.
    Rejected,
}

/// A failed call to EC2.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Ec2Error {
    /// The API called.
    pub api: Api,
    /// What kind of failure it was.
    pub kind: ErrorKind,
    /// EC2's error code, when EC2 answered.
    pub code: Option<String>,
    /// What went wrong, with its causes.
    pub message: String,
}

impl Ec2Error {
    /// An error of this kind with no EC2 code: our own finding about an EC2 answer.
    pub fn new(api: Api, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { api, kind, code: None, message: message.into() }
    }

    /// Classifies an SDK error by its error code, or by where it failed when there is none.
    pub fn from_sdk<E, R>(api: Api, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let code = error.code().map(str::to_owned);
        let kind = match (&error, code.as_deref()) {
            (_, Some(code)) if THROTTLE_CODES.contains(&code) => ErrorKind::Throttled,
            (_, Some(code)) if TRANSIENT_CODES.contains(&code) => ErrorKind::Transient,
            (_, Some(code)) if code.ends_with(".NotFound") => ErrorKind::NotFound,
            (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _) => {
                ErrorKind::Transient
            }
            _ => ErrorKind::Rejected,
        };
        let message = match error.message() {
            Some(message) => message.to_owned(),
            None => DisplayErrorContext(&error).to_string(),
        };
        Self { api, kind, code, message }
    }

    /// Whether the same call may succeed if made again after a pause.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

impl fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "EC2 {}: {code}: {}", self.api, self.message),
            None => write!(f, "EC2 {}: {}", self.api, self.message),
        }
    }
}

impl From<Ec2Error> for infrakit_spi::Error {
    fn from(error: Ec2Error) -> Self {
        match error.kind {
            ErrorKind::Throttled | ErrorKind::Transient => Self::unavailable(error.to_string()),
            ErrorKind::NotFound => Self::not_found(error.to_string()),
            ErrorKind::Rejected => Self::failed(error.to_string()),
        }
    }
}
