//! The weather log as MongoDB stores it (and the cursor signing key), and its conversions to and
//! from the domain types.
//!
//! The conversions between BSON and the domain live here (`to_bson`, `to_chrono`, `object_id`):
//! inside `storage` ids are `ObjectId`s and times BSON dates (milliseconds); outside it, they are
//! [`LogId`] and `chrono` times.

use chrono::{DateTime, Utc};
use mongodb::bson::{self, oid::ObjectId};
use serde::{Deserialize, Serialize};

use crate::domain::{
    CacheStatus, Location, LogEntry, LogId, Measurements, Note, Tags, Units, Weather, name_key,
};

use super::query::{LogStats, PlaceStats};

/// A log as stored: measurements in metric units, times as BSON dates, and normalized keys for
/// the city filter.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LogDocument {
    #[serde(rename = "_id")]
    pub(super) id: ObjectId,
    pub(super) logged_at: bson::DateTime,
    /// Lower-case, NFKC-normalized name and country, matched by the `city` filter.
    place_key: PlaceKey,
    location: Location,
    observed_at: bson::DateTime,
    /// Always metric (°C, m/s), so stats never mix units.
    weather: Measurements,
    sunrise: Option<bson::DateTime>,
    sunset: Option<bson::DateTime>,
    timezone_offset_s: Option<i32>,
    provider: String,
    fetched_at: bson::DateTime,
    /// Where the answer came from; absent in logs stored before it was recorded.
    #[serde(default)]
    cache_status: Option<CacheStatus>,
    note: Option<String>,
    tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlaceKey {
    city: String,
    country: Option<String>,
}

impl LogDocument {
    /// A new log of `weather` (metric), logged now, with a fresh id.
    pub(super) fn new(
        weather: Weather,
        cache_status: CacheStatus,
        note: Option<Note>,
        tags: Tags,
    ) -> Self {
        Self {
            id: ObjectId::new(),
            logged_at: bson::DateTime::now(),
            place_key: PlaceKey {
                city: name_key(&weather.location.name),
                country: weather.location.country.as_deref().map(name_key),
            },
            observed_at: to_bson(weather.observed_at),
            weather: weather.measurements,
            sunrise: weather.sunrise.map(to_bson),
            sunset: weather.sunset.map(to_bson),
            timezone_offset_s: weather.timezone_offset_s,
            provider: weather.provider,
            fetched_at: to_bson(weather.fetched_at),
            cache_status: Some(cache_status),
            location: weather.location,
            note: note.map(Note::into_inner),
            tags: tags.into_inner(),
        }
    }

    /// The log as the API shows it, still in metric units.
    pub(super) fn into_entry(self) -> LogEntry {
        LogEntry {
            id: self.id.to_hex(),
            logged_at: to_chrono(self.logged_at),
            weather: Weather {
                location: self.location,
                observed_at: to_chrono(self.observed_at),
                units: Units::Metric,
                measurements: self.weather,
                sunrise: self.sunrise.map(to_chrono),
                sunset: self.sunset.map(to_chrono),
                timezone_offset_s: self.timezone_offset_s,
                provider: self.provider,
                fetched_at: to_chrono(self.fetched_at),
            },
            cache_status: self.cache_status,
            note: self.note,
            tags: self.tags,
        }
    }
}

/// What the stats pipeline (`LogFilter::stats_pipeline`) returns: one document with the
/// overall count and a group per place.
#[derive(Debug, Deserialize)]
pub(super) struct StatsDocument {
    count: u64,
    places: Vec<PlaceStatsDocument>,
}

/// One place's group of the stats pipeline, with BSON dates.
#[derive(Debug, Deserialize)]
struct PlaceStatsDocument {
    city: String,
    country: Option<String>,
    count: u64,
    temperature_avg: f64,
    temperature_min: f64,
    temperature_max: f64,
    humidity_avg: Option<f64>,
    first_logged_at: bson::DateTime,
    last_logged_at: bson::DateTime,
}

impl StatsDocument {
    pub(super) fn into_stats(self) -> LogStats {
        LogStats {
            count: self.count,
            places: self
                .places
                .into_iter()
                .map(|place| PlaceStats {
                    city: place.city,
                    country: place.country,
                    count: place.count,
                    temperature_avg: place.temperature_avg,
                    temperature_min: place.temperature_min,
                    temperature_max: place.temperature_max,
                    humidity_avg: place.humidity_avg,
                    first_logged_at: to_chrono(place.first_logged_at),
                    last_logged_at: to_chrono(place.last_logged_at),
                })
                .collect(),
        }
    }
}

/// The cursor signing key as stored in `service_keys`:
/// `{ _id: "cursor_signing_key", key: Binary(32 random bytes), created_at: Date }`. Only `key`
/// is read; `created_at` is for people. No `Debug`: the key must not reach a log line.
#[derive(Deserialize)]
pub(super) struct KeyDocument {
    pub(super) key: bson::Binary,
}

/// The stored id of a [`LogId`] (both are the same 12 bytes).
pub(super) fn object_id(id: LogId) -> ObjectId {
    ObjectId::from_bytes(id.bytes())
}

/// BSON dates are milliseconds since the epoch, so a time keeps its milliseconds and loses
/// anything finer.
pub(super) fn to_bson(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

pub(super) fn to_chrono(at: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_id_is_the_object_id_it_names() {
        let hex = "6b0d3e3965fd0591c5b06a8f";
        let id: LogId = hex.parse().unwrap();
        assert_eq!(object_id(id).to_hex(), hex);
        assert_eq!(id.to_string(), hex);
    }
}
