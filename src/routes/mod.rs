//! HTTP handlers, one module per resource. Each parses its input into domain types, calls the
//! lookup or the store, and shapes the JSON answer.

pub mod examples;
pub mod health;
pub mod logs;
pub mod responses;
pub mod stats;
pub mod weather;

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use utoipa::IntoParams;

use crate::domain::{Language, Units};

/// The output options most routes share: `units` (default `metric`) and `lang` (default `en`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// Unit system of the answer: `metric` (°C, m/s), `imperial` (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
    /// Language of the condition descriptions (`en`, `de`, `pt_br`, …).
    #[serde(default)]
    #[param(value_type = Option<Language>)]
    pub lang: Language,
}

/// A JSON request body that must be an object.
///
/// serde's derived `Deserialize` for a struct also takes an array of its fields in order, so
/// `[null, null]` read as `{"note": null, "tags": null}` and cleared a log's note (found by
/// scripts/fuzz). This asks for a map only and hands it to `T`, so `T`'s own errors, with their
/// line and column, stay as they were.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectOnly(PhantomData))
            .map(JsonObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LogPatchRequest;

    #[test]
    fn a_body_must_be_an_object_not_an_array_of_fields() {
        let array = serde_json::from_str::<JsonObject<LogPatchRequest>>("[null, null]");
        assert!(
            array
                .unwrap_err()
                .to_string()
                .contains("expected a JSON object")
        );
        let object = serde_json::from_str::<JsonObject<LogPatchRequest>>(r#"{"note": null}"#);
        assert_eq!(object.unwrap().0.note, Some(None));
    }

    #[test]
    fn field_errors_keep_their_position() {
        let err = serde_json::from_str::<JsonObject<LogPatchRequest>>(r#"{"temperature": 30}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown field `temperature`, expected `note` or `tags` at line 1 column 14"
        );
    }
}
