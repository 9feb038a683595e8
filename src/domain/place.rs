//! A place to look the weather up for: a city name or coordinates.

use serde::{Deserialize, Deserializer};
use unicode_normalization::UnicodeNormalization;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::InvalidInput;

/// Longest city query we accept, in characters (the longest place names are under 100).
pub const MAX_CITY_CHARS: usize = 120;

/// Characters that NFKC normalization turns into a comma (fullwidth, small and vertical
/// commas), so they separate the parts of a city query just as `,` does.
const COMMAS: &str = r",\ufe10\ufe50\uff0c";
/// Control characters (Unicode `Cc`, as `char::is_control`), which a city must not contain.
const CONTROLS: &str = r"\u0000-\u001f\u007f-\u009f";
/// White space other than control characters (those are excluded anyway).
const SPACES: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Where to look the weather up.
///
/// Built only through [`Place::city`] and [`Place::coordinates`], which normalize the input, so
/// two spellings of one place produce the same upstream query and the same cache key.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    /// A city query in OpenWeatherMap's `q` form: `name`, `name,CC` or `name,state,CC`,
    /// already normalized (NFKC, lower case, single spaces): `"london,gb"`.
    City(String),
    /// Latitude and longitude in degrees, rounded to 2 decimals (about 1 km), so that nearby
    /// coordinates share one cache entry.
    Coordinates { lat: f64, lon: f64 },
}

impl Place {
    /// Parses a city query such as `" London , GB "`.
    ///
    /// Normalization: Unicode NFKC, then lower case, then runs of white space folded into one
    /// space and each comma-separated part trimmed. So `london`, ` London ` and `LONDON` are one
    /// place, while `London,GB` and `London,CA` are two.
    ///
    /// Errors: an empty name or part, control characters, or more than 120 characters.
    pub fn city(input: &str) -> Result<Self, InvalidInput> {
        let normalized = nfkc_lowercase(input);
        if normalized.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "city must not contain control characters",
            ));
        }
        // The parts, trimmed, their white space folded, joined by commas: into one string.
        let mut query = String::with_capacity(normalized.len());
        let mut parts = 0;
        for part in normalized.split(',') {
            if parts > 0 {
                query.push(',');
            }
            let start = query.len();
            for (i, word) in part.split_whitespace().enumerate() {
                if i > 0 {
                    query.push(' ');
                }
                query.push_str(word);
            }
            if query.len() == start {
                return Err(InvalidInput::new(
                    "city must be a place name, optionally followed by ,COUNTRY (e.g. London,GB)",
                ));
            }
            parts += 1;
        }
        if parts > 3 {
            return Err(InvalidInput::new(
                "city has too many parts: use name, name,CC or name,state,CC",
            ));
        }
        if query.chars().count() > MAX_CITY_CHARS {
            return Err(InvalidInput::new(format!(
                "city must be at most {MAX_CITY_CHARS} characters"
            )));
        }
        Ok(Place::City(query))
    }

    /// Checks and rounds coordinates: latitude −90..=90, longitude −180..=180 degrees.
    pub fn coordinates(lat: f64, lon: f64) -> Result<Self, InvalidInput> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidInput::new("lat must be between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(InvalidInput::new("lon must be between -180 and 180"));
        }
        let round = |v: f64| (v * 100.0).round() / 100.0 + 0.0; // `+ 0.0` turns -0.0 into 0.0
        Ok(Place::Coordinates {
            lat: round(lat),
            lon: round(lon),
        })
    }

    /// Builds a place from the optional `city`, `lat` and `lon` inputs of a request: either a
    /// city, or both coordinates, never both kinds.
    pub fn from_parts(
        city: Option<&str>,
        lat: Option<f64>,
        lon: Option<f64>,
    ) -> Result<Self, InvalidInput> {
        match (city, lat, lon) {
            (Some(city), None, None) => Place::city(city),
            (None, Some(lat), Some(lon)) => Place::coordinates(lat, lon),
            (Some(_), _, _) => Err(InvalidInput::new(
                "give either city or lat and lon, not both",
            )),
            (None, None, None) => Err(InvalidInput::new("give a city, or lat and lon")),
            (None, _, _) => Err(InvalidInput::new("lat and lon must be given together")),
        }
    }

    /// The place's part of a cache key: `city:london,gb` or `coord:51.51,-0.13`. Two spellings
    /// of one place have one key, since both were normalized into the same `Place`.
    pub fn cache_key(&self) -> String {
        match self {
            Place::City(query) => format!("city:{query}"),
            Place::Coordinates { lat, lon } => format!("coord:{lat:.2},{lon:.2}"),
        }
    }

    /// The name part of a city query (before the first comma), normalized; `None` for coordinates.
    pub fn city_name(&self) -> Option<&str> {
        match self {
            Place::City(query) => query.split(',').next(),
            Place::Coordinates { .. } => None,
        }
    }

    /// The country part of a city query (after the last comma, when there is one).
    pub fn country(&self) -> Option<&str> {
        match self {
            Place::City(query) => query.rsplit_once(',').map(|(_, country)| country),
            Place::Coordinates { .. } => None,
        }
    }
}

/// Deserializes a city query through [`Place::city`], for `#[serde(deserialize_with)]` on a
/// path or query field that holds a city.
pub fn deserialize_city<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Place, D::Error> {
    let input = String::deserialize(deserializer)?;
    Place::city(&input).map_err(serde::de::Error::custom)
}

/// [`Place::city`]'s rule as a JSON Schema pattern: one to three comma-separated parts, each
/// with at least one character that is not white space, and no control characters.
///
/// The length limit is a separate `maxLength`. Not covered: the ten "digit comma" symbols
/// U+1F101..U+1F10A, which NFKC turns into a digit and a comma.
pub fn city_pattern() -> String {
    let any = format!("[^{COMMAS}{CONTROLS}]");
    let visible = format!("[^{COMMAS}{CONTROLS}{SPACES}]");
    let part = format!("{any}*{visible}{any}*");
    format!("^{part}([{COMMAS}]{part}){{0,2}}$")
}

/// The schema of a city query (`name`, `name,CC` or `name,state,CC`) in the API document.
pub fn city_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A place name, optionally followed by `,COUNTRY` (ISO 3166 code) or \
             `,STATE,COUNTRY`, as OpenWeatherMap takes it. Case, repeated white space and \
             Unicode compatibility forms do not matter: `london`, ` London ` and `LONDON` are \
             one place. At most 120 characters, no control characters.",
        ))
        .min_length(Some(1))
        .max_length(Some(MAX_CITY_CHARS))
        .pattern(Some(city_pattern()))
        .examples(["Warsaw,PL"])
}

/// A place in the API document, as query parameters: `city`, or `lat` and `lon`, never both
/// kinds ([`Place::from_parts`]). Serialized as a `form`-style exploded object, so it stands
/// for those parameters themselves.
impl PartialSchema for Place {
    fn schema() -> RefOr<Schema> {
        let degrees = |limit: f64, what: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .minimum(Some(-limit))
                .maximum(Some(limit))
                .description(Some(what))
        };
        let by_city = ObjectBuilder::new()
            .title(Some("by city"))
            .property("city", city_schema())
            .required("city")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let by_coordinates = ObjectBuilder::new()
            .title(Some("by coordinates"))
            .property("lat", degrees(90.0, "Latitude in degrees, −90 to 90."))
            .property("lon", degrees(180.0, "Longitude in degrees, −180 to 180."))
            .required("lat")
            .required("lon")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .item(by_city)
            .item(by_coordinates)
            .description(Some(
                "Where to look the weather up: `city`, or `lat` and `lon` (not both kinds).",
            ))
            .examples([
                serde_json::json!({ "city": "Warsaw,PL" }),
                serde_json::json!({ "lat": 38.72, "lon": -9.14 }),
            ])
            .into()
    }
}

impl ToSchema for Place {}

/// Normalizes a place name the way [`Place::city`] does, for matching stored logs by name.
pub(crate) fn name_key(name: &str) -> String {
    nfkc_lowercase(name)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` in Unicode NFKC, lower case. ASCII text is its own NFKC form, so the common case
/// skips the normalizer (a decomposition and a recomposition of every character).
fn nfkc_lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.nfkc().collect::<String>().to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_city_share_a_key() {
        let keys: Vec<String> = ["london", " London ", "LONDON", "\u{FF2C}ondon"]
            .iter()
            .map(|s| Place::city(s).unwrap().cache_key())
            .collect();
        assert!(keys.iter().all(|k| k == "city:london"), "{keys:?}");
    }

    #[test]
    fn countries_split_the_key() {
        let gb = Place::city("London,GB").unwrap().cache_key();
        let ca = Place::city("London, CA").unwrap().cache_key();
        assert_eq!(gb, "city:london,gb");
        assert_eq!(ca, "city:london,ca");
    }

    #[test]
    fn unicode_names_are_normalized() {
        // "é" written as one code point and as "e" plus a combining accent.
        let composed = Place::city("Curacaut\u{00ED}n").unwrap();
        let decomposed = Place::city("Curacauti\u{0301}n").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(Place::city("МОСКВА").unwrap().cache_key(), "city:москва");
    }

    #[test]
    fn the_ascii_shortcut_normalizes_as_nfkc_does() {
        let every_ascii: String = (0..128u8).map(char::from).collect();
        assert_eq!(
            nfkc_lowercase(&every_ascii),
            every_ascii.nfkc().collect::<String>().to_lowercase()
        );
    }

    #[test]
    fn empty_or_odd_cities_are_rejected() {
        for input in ["", "   ", ",GB", "London,", "a,b,c,d", "Lon\ndon"] {
            assert!(Place::city(input).is_err(), "{input:?} was accepted");
        }
    }

    #[test]
    fn coordinates_are_checked_and_rounded() {
        assert_eq!(
            Place::coordinates(51.5072, -0.1276).unwrap().cache_key(),
            "coord:51.51,-0.13"
        );
        assert!(Place::coordinates(91.0, 0.0).is_err());
        assert!(Place::coordinates(0.0, f64::NAN).is_err());
    }

    /// Whether the API document's schema for a city accepts `input`.
    fn documented_city(input: &str) -> bool {
        let pattern = regex::Regex::new(&city_pattern()).expect("the pattern compiles");
        (1..=MAX_CITY_CHARS).contains(&input.chars().count()) && pattern.is_match(input)
    }

    #[test]
    fn the_documented_city_rule_is_the_parser_rule() {
        let longest = "x".repeat(MAX_CITY_CHARS);
        let too_long = "x".repeat(MAX_CITY_CHARS + 1);
        let inputs = [
            "Warsaw,PL",
            " London , GB ",
            "New York,NY,US",
            "São Paulo",
            "МОСКВА",
            "\u{FF2C}ondon",
            "a\u{FF0C}b", // a fullwidth comma separates parts, as NFKC makes it a comma
            "\u{1C}x",    // a control character
            longest.as_str(),
            "",
            "   ",
            "\u{3000}",
            ",GB",
            "London,",
            "a, ,b",
            "a\u{FF0C}",
            "a,b,c,d",
            "Lon\ndon",
            "\u{85}x",
            too_long.as_str(),
        ];
        for input in inputs {
            assert_eq!(
                documented_city(input),
                Place::city(input).is_ok(),
                "{input:?}"
            );
        }
    }

    #[test]
    fn the_documented_city_rule_differs_only_in_how_length_is_counted() {
        // The service counts characters after normalization, the document before it: so it
        // accepts more than 120 characters of padding, and refuses a few characters that
        // NFKC expands past 120 (U+FDFA is 18 characters).
        let padded = format!("a{}", " ".repeat(MAX_CITY_CHARS));
        assert!(Place::city(&padded).is_ok() && !documented_city(&padded));
        let expanding = "\u{FDFA}".repeat(7);
        assert!(Place::city(&expanding).is_err() && documented_city(&expanding));
    }
}
