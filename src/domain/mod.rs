//! Domain types: values parsed and checked at the HTTP edge, so handlers only see valid ones.

mod language;
mod place;
mod units;
mod weather;
mod weather_log;

pub use language::Language;
pub(crate) use place::name_key;
pub use place::{Place, city_pattern, city_schema, deserialize_city};
pub use units::Units;
pub use weather::{
    CacheStatus, Condition, Location, Measurements, Temperature, Weather, WeatherReport, Wind,
};
pub use weather_log::{LogEntry, LogId, LogPatch, NewLog, Note, Tags, tag_pattern};

/// Rust's white space (the Unicode `White_Space` property, which `str::trim` and
/// `split_whitespace` use) as the inside of a regex character class. Spelled out because `\s`
/// means slightly different sets in ECMA-262, Python and Rust regexes.
pub const WHITE_SPACE: &str =
    r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Why an input value was rejected; the message is safe to show to the user.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
