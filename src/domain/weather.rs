//! The current weather in the service's own schema (not OpenWeatherMap's wire format).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Units;

/// The current weather at one place, as this service answers it.
///
/// Stored and cached in metric units (°C, m/s); [`Weather::in_units`] converts on the way out.
/// An optional upstream field that was absent is `None` (JSON `null`), never `0`; it is still
/// sent, so the schema marks such fields required and nullable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(
    description = "The current weather at one place, in the unit system named by `units`. \
    A value OpenWeatherMap did not send is `null`, never `0`."
)]
pub struct Weather {
    /// The place as upstream resolved it.
    pub location: Location,
    /// When upstream measured it (OpenWeatherMap `dt`), RFC 3339 UTC.
    pub observed_at: DateTime<Utc>,
    /// The unit system of the numbers below.
    pub units: Units,
    #[serde(flatten)]
    pub measurements: Measurements,
    /// Sunrise (OpenWeatherMap `sys.sunrise`), RFC 3339 UTC.
    #[schema(required = true)]
    pub sunrise: Option<DateTime<Utc>>,
    /// Sunset (OpenWeatherMap `sys.sunset`), RFC 3339 UTC.
    #[schema(required = true)]
    pub sunset: Option<DateTime<Utc>>,
    /// The place's offset from UTC in seconds (OpenWeatherMap `timezone`; absent before 2017).
    #[schema(required = true)]
    pub timezone_offset_s: Option<i32>,
    /// Where the data came from: `"openweathermap"`.
    pub provider: String,
    /// When this service got it from upstream, RFC 3339 UTC.
    pub fetched_at: DateTime<Utc>,
}

/// Where an answer came from: the cache (`hit`), OpenWeatherMap just now (`miss`), or the
/// cache past its TTL because upstream failed (`stale`, stale-if-error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
}

/// The place a weather report is for (OpenWeatherMap `name`, `sys.country`, `coord`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    pub name: String,
    /// ISO 3166 country code as upstream gives it (`"GB"`); very old answers give a name.
    #[schema(required = true)]
    pub country: Option<String>,
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// The measured values, in the units of the enclosing [`Weather`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(description = "The measured values, in the unit system named by `units`.")]
pub struct Measurements {
    pub temperature: Temperature,
    /// Relative humidity, % (OpenWeatherMap `main.humidity`).
    #[schema(required = true)]
    pub humidity_pct: Option<u32>,
    /// Sea-level pressure, hPa (OpenWeatherMap `main.pressure`).
    #[schema(required = true)]
    pub pressure_hpa: Option<f64>,
    pub wind: Wind,
    /// Cloud cover, % (OpenWeatherMap `clouds.all`).
    #[schema(required = true)]
    pub clouds_pct: Option<u32>,
    /// Visibility, m, at most 10 000 (OpenWeatherMap `visibility`).
    #[schema(required = true)]
    pub visibility_m: Option<u32>,
    /// Rain in the last hour, mm (OpenWeatherMap `rain.1h`).
    #[schema(required = true)]
    pub rain_1h_mm: Option<f64>,
    /// Snow in the last hour, mm of water (OpenWeatherMap `snow.1h`).
    #[schema(required = true)]
    pub snow_1h_mm: Option<f64>,
    /// Weather conditions, most significant first (OpenWeatherMap `weather[]`).
    pub conditions: Vec<Condition>,
}

/// Temperatures: °C, °F or K (OpenWeatherMap `main.temp`, `feels_like`, `temp_min`, `temp_max`).
/// `min` and `max` are the spread across the area right now, not a daily forecast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Temperature {
    pub current: f64,
    #[schema(required = true)]
    pub feels_like: Option<f64>,
    #[schema(required = true)]
    pub min: Option<f64>,
    #[schema(required = true)]
    pub max: Option<f64>,
}

/// Wind: speed and gust in m/s or mph, direction in degrees from north (meteorological).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Wind {
    #[schema(required = true)]
    pub speed: Option<f64>,
    #[schema(required = true)]
    pub direction_deg: Option<f64>,
    #[schema(required = true)]
    pub gust: Option<f64>,
}

/// One weather condition, e.g. `{"main": "Rain", "description": "moderate rain", "icon": "10d"}`.
/// `description` is in the requested language; `icon` names an OpenWeatherMap icon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Condition {
    pub main: String,
    pub description: String,
    pub icon: String,
}

impl Weather {
    /// Converts metric values into `units` (temperatures and wind speeds; the rest is unit-free
    /// or the same in every system).
    pub fn in_units(mut self, units: Units) -> Self {
        debug_assert_eq!(
            self.units,
            Units::Metric,
            "only metric values are converted"
        );
        self.measurements = self.measurements.in_units(units);
        self.units = units;
        self
    }
}

/// A weather report (in metric units, as cached) that many requests read at once, with its
/// JSON in each unit system made the first time a request asks for it.
///
/// The lookup keeps answers a second in process memory, and a burst of requests for one place
/// all get the same report: each would clone it, convert it and serialize it again, for the
/// same bytes. With the JSON made once, a cache hit copies about 700 bytes instead.
#[derive(Debug)]
pub struct WeatherReport {
    weather: Weather,
    /// `weather.in_units(units)` as a JSON object, for each of the three unit systems (indexed
    /// by [`WeatherReport::slot`]), made on first use.
    json: [OnceLock<Box<str>>; 3],
}

impl WeatherReport {
    /// A report of `weather`, which must be in metric units (as upstream answers are cached).
    pub fn new(weather: Weather) -> Self {
        Self {
            weather,
            json: Default::default(),
        }
    }

    /// The weather, in metric units.
    pub fn weather(&self) -> &Weather {
        &self.weather
    }

    /// The weather in `units` as a JSON object (`{"location":…,"fetched_at":…}`): what
    /// serializing `weather().clone().in_units(units)` gives, made once per unit system.
    pub fn json(&self, units: Units) -> &str {
        self.json[Self::slot(units)].get_or_init(|| {
            serde_json::to_string(&self.weather.clone().in_units(units))
                .expect("a Weather always serializes")
                .into_boxed_str()
        })
    }

    fn slot(units: Units) -> usize {
        match units {
            Units::Metric => 0,
            Units::Imperial => 1,
            Units::Standard => 2,
        }
    }
}

impl Measurements {
    /// Converts metric measurements into `units`.
    pub fn in_units(mut self, units: Units) -> Self {
        let t = |c: f64| units.temperature_from_celsius(c);
        let s = |ms: f64| units.speed_from_metres_per_second(ms);
        let temperature = &mut self.temperature;
        temperature.current = t(temperature.current);
        temperature.feels_like = temperature.feels_like.map(t);
        temperature.min = temperature.min.map(t);
        temperature.max = temperature.max.map(t);
        self.wind.speed = self.wind.speed.map(s);
        self.wind.gust = self.wind.gust.map(s);
        self
    }
}
