//! Domain types: values parsed and checked at the HTTP edge, so handlers only see valid ones.

mod log;
mod place;
mod units;
mod weather;

pub use log::{LogEntry, LogId, LogPatch, LogPatchRequest, Note, Tags};
pub(crate) use place::name_key;
pub use place::{Language, Place};
pub use units::Units;
pub use weather::{Condition, Location, Measurements, Temperature, Weather, Wind};

/// Why an input value was rejected; the message is safe to show to the user.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
