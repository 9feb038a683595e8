//! HTTP handlers, one module per resource. Each parses its input into domain types, calls the
//! lookup or the store, and shapes the JSON answer.

pub mod health;
pub mod logs;
pub mod stats;
pub mod weather;

use serde::Deserialize;

use crate::domain::{InvalidInput, Language, Units};

/// The output options most routes share: `units` (default `metric`) and `lang` (default `en`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputQuery {
    #[serde(default)]
    pub units: Units,
    pub lang: Option<String>,
}

/// Parses an optional `lang` parameter, defaulting to English.
pub(crate) fn language(lang: Option<&str>) -> Result<Language, InvalidInput> {
    lang.map(Language::parse)
        .transpose()
        .map(Option::unwrap_or_default)
}
