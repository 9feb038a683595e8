//! The language of the condition descriptions, as OpenWeatherMap names it.

use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::InvalidInput;

/// An OpenWeatherMap language code for the `description` text (`en`, `pt_br`, `zh_cn`, …),
/// lower case. Default `en`.
///
/// Deserializes from a string through [`Language::parse`], so a query struct with a
/// `Language` field hands its handler a valid code.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Language(String);

impl TryFrom<String> for Language {
    type Error = InvalidInput;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Language::parse(&input)
    }
}

impl Language {
    /// Accepts two letters, optionally followed by `_` and two more (`pt_br`); case-insensitive.
    pub fn parse(input: &str) -> Result<Self, InvalidInput> {
        let code = input.trim().to_ascii_lowercase();
        let bytes = code.as_bytes();
        let letters = |range: &[u8]| range.iter().all(u8::is_ascii_lowercase);
        let valid = match bytes.len() {
            2 => letters(bytes),
            5 => letters(&bytes[..2]) && bytes[2] == b'_' && letters(&bytes[3..]),
            _ => false,
        };
        if valid {
            Ok(Language(code))
        } else {
            Err(InvalidInput::new(
                "lang must be an OpenWeatherMap language code such as en, de or pt_br",
            ))
        }
    }

    /// The code as upstream expects it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Language {
    fn default() -> Self {
        Language("en".into())
    }
}

/// [`Language::parse`]'s rule as a JSON Schema pattern (the service also trims white space
/// around the code, which the document does not advertise).
pub const LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}(_[a-zA-Z]{2})?$";

/// A language code in the API document: `en`, `de`, `pt_br`, … (case-insensitive).
impl PartialSchema for Language {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An OpenWeatherMap language code for the condition descriptions: two letters, \
                 optionally `_` and two more (`en`, `de`, `pt_br`); case-insensitive. Default `en`.",
            ))
            .pattern(Some(LANGUAGE_PATTERN))
            .examples(["pl"])
            .into()
    }
}

impl ToSchema for Language {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_language_rule_is_the_parser_rule_without_padding() {
        let pattern = regex::Regex::new(LANGUAGE_PATTERN).expect("the pattern compiles");
        for input in [
            "en", "pt_br", "PT_BR", "De", "e1", "english", "pt-br", "", "p_br", "pt_b", "ü",
        ] {
            assert_eq!(
                pattern.is_match(input),
                Language::parse(input).is_ok(),
                "{input:?}"
            );
        }
        // The service also trims white space, which the document does not offer.
        assert!(Language::parse(" en ").is_ok() && !pattern.is_match(" en "));
    }

    #[test]
    fn language_codes() {
        assert_eq!(Language::parse("PT_br").unwrap().as_str(), "pt_br");
        assert!(Language::parse("english").is_err());
        assert!(Language::parse("e1").is_err());
    }
}
