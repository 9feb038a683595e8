//! The OpenWeatherMap client: one HTTP client with timeouts, and upstream's wire format mapped
//! into our own [`Weather`] here, so no other module sees it.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{
    Condition, Language, Location, Measurements, Place, Temperature, Units, Weather, Wind,
};
use crate::prometheus;

/// Name written into every [`Weather::provider`].
pub const PROVIDER: &str = "openweathermap";
/// Upstream's `Retry-After` is rarely sent; this is what we tell clients when it is missing.
const DEFAULT_RETRY_AFTER_S: u64 = 60;
/// Longest `Retry-After` we take from upstream: a day.
pub const MAX_RETRY_AFTER_S: u64 = 86_400;

/// Why a lookup failed upstream. The messages are safe to show: none holds the URL or the key.
/// `Clone`, because every caller waiting on one upstream call gets its error.
#[derive(Clone, Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no OpenWeatherMap API key is configured (set OPENWEATHER_API_KEY)")]
    NoApiKey,
    #[error("OpenWeatherMap does not know this place")]
    PlaceNotFound,
    #[error(
        "OpenWeatherMap rejected the configured API key (a new key can take a while to start working)"
    )]
    KeyRejected,
    #[error("OpenWeatherMap's rate limit was reached")]
    RateLimited { retry_after_s: u64 },
    #[error("OpenWeatherMap did not answer within {0:?}")]
    Timeout(Duration),
    /// No connection: refused, reset before an answer, or a host name that does not resolve.
    /// Nothing answered, so this is not [`UpstreamError::Failed`].
    #[error("could not reach OpenWeatherMap")]
    Unreachable,
    #[error("OpenWeatherMap failed: {0}")]
    Failed(String),
    /// Not an answer of OpenWeatherMap: our own call budget (`UPSTREAM_CALLS_PER_MINUTE`,
    /// `UPSTREAM_CALLS_PER_DAY`) refused the call before it was made.
    #[error("the budget of calls to OpenWeatherMap is used up for now")]
    BudgetExhausted { retry_after_s: u64 },
}

/// A client for OpenWeatherMap's current-weather endpoint (`GET /data/2.5/weather`).
#[derive(Clone)]
pub struct OpenWeatherClient {
    http: reqwest::Client,
    endpoint: Url,
    api_key: Option<SecretString>,
    timeout: Duration,
}

impl OpenWeatherClient {
    /// Builds the client once; `timeout` bounds each whole request (connect, send, read).
    ///
    /// Errors: a `base_url` that is not a URL, or a TLS set-up failure.
    pub fn new(
        base_url: &str,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        // `join` replaces the last path segment unless the base ends with a slash, which would
        // drop a path prefix such as `http://proxy/owm`.
        let base_url = format!("{}/", base_url.trim_end_matches('/'));
        let endpoint = Url::parse(&base_url)
            .and_then(|base| base.join("data/2.5/weather"))
            .map_err(|err| UpstreamError::Failed(format!("bad base URL: {err}")))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("weatherlog/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|err| UpstreamError::Failed(err.without_url().to_string()))?;
        Ok(Self {
            http,
            endpoint,
            api_key: api_key.filter(|key| !key.expose_secret().trim().is_empty()),
            timeout,
        })
    }

    /// Whether a key is configured (without one, every fetch is [`UpstreamError::NoApiKey`]).
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// Fetches the current weather for `place`, always in metric units.
    ///
    /// Errors: see [`UpstreamError`]; upstream 404 is `PlaceNotFound`, 401 `KeyRejected`, 429
    /// `RateLimited`, no answer in time `Timeout`, anything else `Failed`.
    #[tracing::instrument(name = "openweather.fetch_current", skip(self, place, lang), fields(place = %place.cache_key(), lang = lang.as_str()))]
    pub async fn fetch_current(
        &self,
        place: &Place,
        lang: &Language,
    ) -> Result<Weather, UpstreamError> {
        let api_key = self.api_key.as_ref().ok_or(UpstreamError::NoApiKey)?;
        let started = std::time::Instant::now();
        let fetched = self.request_current(api_key, place, lang).await;
        let outcome = match &fetched {
            Ok(_) => "ok",
            Err(UpstreamError::PlaceNotFound) => "not_found",
            Err(UpstreamError::KeyRejected) => "key_rejected",
            Err(UpstreamError::RateLimited { .. }) => "rate_limited",
            Err(UpstreamError::Timeout(_)) => "timeout",
            Err(_) => "error",
        };
        prometheus::upstream_request(PROVIDER, outcome, started.elapsed());
        fetched
    }

    /// One request to `GET /data/2.5/weather`, and its answer mapped into our schema.
    async fn request_current(
        &self,
        api_key: &SecretString,
        place: &Place,
        lang: &Language,
    ) -> Result<Weather, UpstreamError> {
        let mut request = self.http.get(self.endpoint.clone());
        request = match place {
            Place::City(query) => request.query(&[("q", query.as_str())]),
            Place::Coordinates { lat, lon } => request.query(&[("lat", lat), ("lon", lon)]),
        };
        let request = request.query(&[
            ("units", "metric"),
            ("lang", lang.as_str()),
            ("appid", api_key.expose_secret()),
        ]);

        // reqwest's errors print the URL, and the URL holds the key: strip it before any use.
        let response = request
            .send()
            .await
            .map_err(|err| self.transport_error(err))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                // Only upstream's own "city not found" means an unknown place. Any other 404 (a
                // wrong OPENWEATHER_BASE_URL, a proxy's error page) is a failure, and must not
                // be cached as "not found".
                let body = response.bytes().await.unwrap_or_default();
                return Err(match serde_json::from_slice::<WireError>(&body) {
                    Ok(error) if error.cod.to_string().trim_matches('"') == "404" => {
                        UpstreamError::PlaceNotFound
                    }
                    _ => UpstreamError::Failed(
                        "it answered HTTP 404 without OpenWeatherMap's error body".into(),
                    ),
                });
            }
            StatusCode::UNAUTHORIZED => return Err(UpstreamError::KeyRejected),
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after_s = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| retry_after_seconds(value.to_str().ok()?))
                    .unwrap_or(DEFAULT_RETRY_AFTER_S)
                    // What we tell clients is what we honour ourselves: at least a second, at
                    // most a day (`crate::upstream_pause`).
                    .clamp(1, MAX_RETRY_AFTER_S);
                return Err(UpstreamError::RateLimited { retry_after_s });
            }
            status => {
                return Err(UpstreamError::Failed(format!("it answered HTTP {status}")));
            }
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| self.transport_error(err))?;
        let wire: WireCurrent = serde_json::from_slice(&body).map_err(|err| {
            UpstreamError::Failed(format!(
                "its answer did not match the expected shape: {err}"
            ))
        })?;
        // Milliseconds, as MongoDB's dates store it: a fresh answer and a stored log agree.
        Ok(wire.into_weather(Utc::now().trunc_subsecs(3)))
    }

    fn transport_error(&self, err: reqwest::Error) -> UpstreamError {
        if err.is_timeout() {
            UpstreamError::Timeout(self.timeout)
        } else if err.is_connect() {
            // The cause (refused, DNS) goes to the log with the call's span, not to the client.
            tracing::warn!(error = %err.without_url(), "could not reach OpenWeatherMap");
            UpstreamError::Unreachable
        } else {
            UpstreamError::Failed(err.without_url().to_string())
        }
    }
}

/// A `Retry-After` value in seconds from now: either of its forms (RFC 9110 §10.2.3), a
/// number of seconds or an HTTP-date. `None` when it is neither.
fn retry_after_seconds(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse() {
        return Some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let left = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(left.as_secs_f64().ceil() as u64)
}

// Upstream's wire format (https://openweathermap.org/current#fields_json). Numbers are read as
// f64 throughout: old answers write integers as floats (`"deg": 313.001`).

#[derive(Deserialize)]
struct WireCurrent {
    coord: WireCoord,
    #[serde(default)]
    weather: Vec<WireCondition>,
    main: WireMain,
    visibility: Option<f64>,
    wind: Option<WireWind>,
    clouds: Option<WireClouds>,
    rain: Option<WirePrecipitation>,
    snow: Option<WirePrecipitation>,
    dt: i64,
    sys: Option<WireSys>,
    timezone: Option<i32>,
    #[serde(default)]
    name: String,
}

/// Upstream's error body: `{"cod": "404", "message": "city not found"}` (`cod` is a string
/// for some errors and a number for others).
#[derive(Deserialize)]
struct WireError {
    cod: serde_json::Value,
}

#[derive(Deserialize)]
struct WireCoord {
    lat: f64,
    lon: f64,
}

#[derive(Deserialize)]
struct WireCondition {
    main: String,
    description: String,
    icon: String,
}

#[derive(Deserialize)]
struct WireMain {
    temp: f64,
    feels_like: Option<f64>,
    temp_min: Option<f64>,
    temp_max: Option<f64>,
    pressure: Option<f64>,
    humidity: Option<f64>,
}

#[derive(Deserialize)]
struct WireWind {
    speed: Option<f64>,
    deg: Option<f64>,
    gust: Option<f64>,
}

#[derive(Deserialize)]
struct WireClouds {
    all: Option<f64>,
}

#[derive(Deserialize)]
struct WirePrecipitation {
    #[serde(rename = "1h")]
    one_hour: Option<f64>,
}

#[derive(Deserialize)]
struct WireSys {
    country: Option<String>,
    sunrise: Option<i64>,
    sunset: Option<i64>,
}

impl WireCurrent {
    fn into_weather(self, fetched_at: DateTime<Utc>) -> Weather {
        let sys = self.sys.unwrap_or(WireSys {
            country: None,
            sunrise: None,
            sunset: None,
        });
        let wind = self.wind.unwrap_or(WireWind {
            speed: None,
            deg: None,
            gust: None,
        });
        let whole = |value: f64| value.round().max(0.0) as u32;
        Weather {
            location: Location {
                name: self.name,
                country: sys.country.filter(|c| !c.is_empty()),
                lat: self.coord.lat,
                lon: self.coord.lon,
            },
            observed_at: from_unix(self.dt).unwrap_or(fetched_at),
            units: Units::Metric,
            measurements: Measurements {
                temperature: Temperature {
                    current: self.main.temp,
                    feels_like: self.main.feels_like,
                    min: self.main.temp_min,
                    max: self.main.temp_max,
                },
                humidity_pct: self.main.humidity.map(whole),
                pressure_hpa: self.main.pressure,
                wind: Wind {
                    speed: wind.speed,
                    direction_deg: wind.deg,
                    gust: wind.gust,
                },
                clouds_pct: self.clouds.and_then(|c| c.all).map(whole),
                visibility_m: self.visibility.map(whole),
                rain_1h_mm: self.rain.and_then(|r| r.one_hour),
                snow_1h_mm: self.snow.and_then(|s| s.one_hour),
                conditions: self
                    .weather
                    .into_iter()
                    .map(|c| Condition {
                        main: c.main,
                        description: c.description,
                        icon: c.icon,
                    })
                    .collect(),
            },
            sunrise: sys.sunrise.and_then(from_unix),
            sunset: sys.sunset.and_then(from_unix),
            timezone_offset_s: self.timezone,
            provider: PROVIDER.to_owned(),
            fetched_at,
        }
    }
}

fn from_unix(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather_from(fixture: &str) -> Weather {
        let path = format!(
            "{}/tests/fixtures/openweathermap/current/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read_to_string(path).expect("the fixture exists");
        let wire: WireCurrent = serde_json::from_str(&body).expect("a current-weather answer");
        wire.into_weather(Utc::now())
    }

    #[test]
    fn a_full_answer_maps_every_field() {
        let weather = weather_from("warsaw_pl_heavy_rain.json");
        assert_eq!(weather.location.name, "Warsaw");
        assert_eq!(weather.location.country.as_deref(), Some("PL"));
        assert_eq!(weather.measurements.rain_1h_mm, Some(8.24));
        assert!(weather.measurements.wind.gust.is_some());
        assert_eq!(weather.provider, PROVIDER);
    }

    #[test]
    fn absent_optional_fields_stay_absent() {
        // 2014's answer: no feels_like, visibility, timezone or gust.
        let weather = weather_from("kochi_in_metric_legacy_2014.json");
        assert_eq!(weather.measurements.temperature.feels_like, None);
        assert_eq!(weather.measurements.visibility_m, None);
        assert_eq!(weather.measurements.wind.gust, None);
        assert_eq!(weather.timezone_offset_s, None);
        assert_eq!(weather.measurements.rain_1h_mm, None);
    }

    #[test]
    fn snow_and_negative_temperatures_are_kept() {
        let weather = weather_from("curacautin_cl_snow_negative_metric.json");
        assert_eq!(weather.measurements.temperature.current, -1.44);
        assert_eq!(weather.measurements.snow_1h_mm, Some(1.37));
        assert_eq!(weather.location.name, "Curacautín");
    }
}
