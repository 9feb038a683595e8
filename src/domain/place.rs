//! A place to look the weather up for (a city name or coordinates), and a response language.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::InvalidInput;

/// Longest city query we accept, in characters (the longest place names are under 100).
const MAX_CITY_CHARS: usize = 120;

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
        let normalized: String = input.nfkc().collect::<String>().to_lowercase();
        if normalized.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "city must not contain control characters",
            ));
        }
        let parts: Vec<String> = normalized
            .split(',')
            .map(|part| part.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if parts.iter().any(String::is_empty) {
            return Err(InvalidInput::new(
                "city must be a place name, optionally followed by ,COUNTRY (e.g. London,GB)",
            ));
        }
        if parts.len() > 3 {
            return Err(InvalidInput::new(
                "city has too many parts: use name, name,CC or name,state,CC",
            ));
        }
        let query = parts.join(",");
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

/// The cache-key form of a place: `city:london,gb` or `coord:51.51,-0.13`.
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::City(query) => write!(f, "city:{query}"),
            Place::Coordinates { lat, lon } => write!(f, "coord:{lat:.2},{lon:.2}"),
        }
    }
}

/// Normalizes a place name the way [`Place::city`] does, for matching stored logs by name.
pub(crate) fn name_key(name: &str) -> String {
    name.nfkc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An OpenWeatherMap language code for the `description` text (`en`, `pt_br`, `zh_cn`, …),
/// lower case. Default `en`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Language(String);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_city_share_a_key() {
        let keys: Vec<String> = ["london", " London ", "LONDON", "\u{FF2C}ondon"]
            .iter()
            .map(|s| Place::city(s).unwrap().to_string())
            .collect();
        assert!(keys.iter().all(|k| k == "city:london"), "{keys:?}");
    }

    #[test]
    fn countries_split_the_key() {
        let gb = Place::city("London,GB").unwrap().to_string();
        let ca = Place::city("London, CA").unwrap().to_string();
        assert_eq!(gb, "city:london,gb");
        assert_eq!(ca, "city:london,ca");
    }

    #[test]
    fn unicode_names_are_normalized() {
        // "é" written as one code point and as "e" plus a combining accent.
        let composed = Place::city("Curacaut\u{00ED}n").unwrap();
        let decomposed = Place::city("Curacauti\u{0301}n").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(Place::city("МОСКВА").unwrap().to_string(), "city:москва");
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
            Place::coordinates(51.5072, -0.1276).unwrap().to_string(),
            "coord:51.51,-0.13"
        );
        assert!(Place::coordinates(91.0, 0.0).is_err());
        assert!(Place::coordinates(0.0, f64::NAN).is_err());
    }

    #[test]
    fn language_codes() {
        assert_eq!(Language::parse("PT_br").unwrap().as_str(), "pt_br");
        assert!(Language::parse("english").is_err());
        assert!(Language::parse("e1").is_err());
    }
}
