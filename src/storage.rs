//! The weather log in MongoDB: typed documents, indexes for every query, CRUD, keyset
//! pagination and the stats aggregation.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{ClientOptions, Hint, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use crate::domain::{
    InvalidInput, Location, LogEntry, LogId, LogPatch, Measurements, Note, Place, Tags, Units,
    Weather,
};

/// The collection that holds the logs.
pub const LOGS_COLLECTION: &str = "logs";
/// Index for the newest-first list, and for `from`/`to` (and stats without a city).
const BY_TIME_INDEX: &str = "logged_at_desc_id_desc";
/// Index for everything filtered by city.
const BY_CITY_INDEX: &str = "city_logged_at_desc_id_desc";
/// How long one storage call may wait for a server (the driver's default is 30 s, far longer
/// than an HTTP client will wait).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A log as stored: measurements in metric units, times as BSON dates, and normalized keys for
/// the city filter.
#[derive(Debug, Serialize, Deserialize)]
struct LogDocument {
    #[serde(rename = "_id")]
    id: ObjectId,
    logged_at: bson::DateTime,
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
    note: Option<String>,
    tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlaceKey {
    city: String,
    country: Option<String>,
}

/// Which logs a list or stats request is about. Temperatures are in °C.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    /// A city query (`london` or `london,gb`), matched case-insensitively against the stored
    /// place name and, when given, country.
    pub city: Option<Place>,
    /// Logged at or after (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Logged at or before (inclusive).
    pub to: Option<DateTime<Utc>>,
    pub min_temp_c: Option<f64>,
    pub max_temp_c: Option<f64>,
}

/// An opaque position in the newest-first list: the `logged_at` and id of the last log shown.
/// Encoded as URL-safe base64 of `"<unix ms>:<id hex>"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    logged_at_ms: i64,
    id: ObjectId,
}

impl Cursor {
    /// Errors: anything that is not a cursor this service handed out.
    pub fn decode(text: &str) -> Result<Self, InvalidInput> {
        let invalid = || InvalidInput::new("cursor is not one this service returned");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        let (ms, id) = raw.split_once(':').ok_or_else(invalid)?;
        Ok(Cursor {
            logged_at_ms: ms.parse().map_err(|_| invalid())?,
            id: ObjectId::parse_str(id).map_err(|_| invalid())?,
        })
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.logged_at_ms, self.id.to_hex()))
    }
}

/// One page of logs, newest first, in metric units.
#[derive(Debug)]
pub struct LogPage {
    pub items: Vec<LogEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// Stats for one place, in metric units.
#[derive(Debug, Deserialize)]
pub struct PlaceStats {
    pub city: String,
    pub country: Option<String>,
    pub count: u64,
    pub temperature_avg: f64,
    pub temperature_min: f64,
    pub temperature_max: f64,
    pub humidity_avg: Option<f64>,
    pub first_logged_at: bson::DateTime,
    pub last_logged_at: bson::DateTime,
}

/// Stats over all matching logs: the overall count and one entry per place, busiest first.
#[derive(Debug, Default, Deserialize)]
pub struct LogStats {
    pub count: u64,
    pub places: Vec<PlaceStats>,
}

/// Why a storage call failed. Shown to users only as "storage unavailable".
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("MongoDB error: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The last error says why: a wrong password or a refused database name look like this too.
    #[error("MongoDB was not reachable within {0:?}; the last attempt failed with: {1}")]
    Unreachable(Duration, #[source] mongodb::error::Error),
}

/// The log store, shared by all workers (clones share one connection pool).
#[derive(Clone)]
pub struct LogStore {
    database: Database,
    logs: Collection<LogDocument>,
}

impl LogStore {
    /// Connects, waiting for MongoDB with exponential backoff for at most `startup_timeout` (a
    /// container may still be starting), then creates the indexes.
    ///
    /// Errors: a malformed URI, MongoDB unreachable for the whole `startup_timeout`, or index
    /// creation refused.
    pub async fn connect(
        uri: &str,
        database: &str,
        startup_timeout: Duration,
    ) -> Result<Self, StorageError> {
        let mut options = ClientOptions::parse(uri).await?;
        options.app_name = Some("weatherlog".into());
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout = Some(SERVER_SELECTION_TIMEOUT);
        let client = Client::with_options(options)?;
        let store = Self::from_database(client.database(database));

        let started = Instant::now();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(3))
            .without_max_times();
        (|| store.ping())
            .retry(backoff)
            // Bound the wall time, not just the sleeps: each failed ping itself waits up to the
            // server selection timeout.
            .when(|_| started.elapsed() < startup_timeout)
            .notify(|err, wait| {
                tracing::warn!(error = %err, "MongoDB not reachable yet; retrying in {wait:?}");
            })
            .await
            .map_err(|err| match err {
                StorageError::Mongo(err) => StorageError::Unreachable(started.elapsed(), err),
                other => other,
            })?;
        store.create_indexes().await?;
        Ok(store)
    }

    /// Wraps an already connected database (no ping, no indexes).
    pub fn from_database(database: Database) -> Self {
        Self {
            logs: database.collection(LOGS_COLLECTION),
            database,
        }
    }

    /// Creates the indexes every query of the API uses; existing ones are left as they are.
    #[tracing::instrument(name = "storage.create_indexes", skip(self))]
    pub async fn create_indexes(&self) -> Result<(), StorageError> {
        let named = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        self.logs
            .create_indexes([
                named(doc! { "logged_at": -1, "_id": -1 }, BY_TIME_INDEX),
                named(
                    doc! { "place_key.city": 1, "logged_at": -1, "_id": -1 },
                    BY_CITY_INDEX,
                ),
            ])
            .await?;
        Ok(())
    }

    /// Round-trip time of a `ping` command.
    pub async fn ping(&self) -> Result<Duration, StorageError> {
        let started = Instant::now();
        self.database.run_command(doc! { "ping": 1 }).await?;
        Ok(started.elapsed())
    }

    /// Stores a new log of `weather` (metric) and returns it as stored.
    #[tracing::instrument(name = "storage.insert", skip_all)]
    pub async fn insert(
        &self,
        weather: Weather,
        note: Option<Note>,
        tags: Tags,
    ) -> Result<LogEntry, StorageError> {
        let document = LogDocument::new(weather, note, tags, bson::DateTime::now());
        self.logs.insert_one(&document).await?;
        Ok(document.into_entry())
    }

    /// One log by id, or `None`.
    #[tracing::instrument(name = "storage.get", skip(self))]
    pub async fn get(&self, id: LogId) -> Result<Option<LogEntry>, StorageError> {
        let found = self.logs.find_one(doc! { "_id": id.0 }).await?;
        Ok(found.map(LogDocument::into_entry))
    }

    /// Changes note and tags in one atomic update; returns the log after it, or `None`.
    #[tracing::instrument(name = "storage.update", skip(self, patch))]
    pub async fn update(
        &self,
        id: LogId,
        patch: LogPatch,
    ) -> Result<Option<LogEntry>, StorageError> {
        let mut set = Document::new();
        let mut unset = Document::new();
        match patch.note {
            Some(Some(note)) => {
                set.insert("note", note.into_inner());
            }
            Some(None) => {
                unset.insert("note", "");
            }
            None => {}
        }
        if let Some(tags) = patch.tags {
            set.insert("tags", tags.into_inner());
        }
        let mut update = Document::new();
        if !set.is_empty() {
            update.insert("$set", set);
        }
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        let updated = self
            .logs
            .find_one_and_update(doc! { "_id": id.0 }, update)
            .return_document(ReturnDocument::After)
            .await?;
        Ok(updated.map(LogDocument::into_entry))
    }

    /// Deletes one log; `false` when there was none with that id.
    #[tracing::instrument(name = "storage.delete", skip(self))]
    pub async fn delete(&self, id: LogId) -> Result<bool, StorageError> {
        let result = self.logs.delete_one(doc! { "_id": id.0 }).await?;
        Ok(result.deleted_count == 1)
    }

    /// A page of at most `limit` logs, newest first, starting after `cursor`.
    ///
    /// Keyset pagination: the cursor becomes a range condition on the `(logged_at, _id)` index,
    /// so page 1000 costs what page 1 does, and logs added meanwhile (all newer) never shift
    /// later pages.
    #[tracing::instrument(name = "storage.list", skip(self))]
    pub async fn list(
        &self,
        filter: &LogFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<LogPage, StorageError> {
        let (query, hint) = Self::list_query(filter, cursor);
        let mut documents: Vec<LogDocument> = self
            .recreating_indexes(|| async {
                self.logs
                    .find(query.clone())
                    .sort(doc! { "logged_at": -1, "_id": -1 })
                    .hint(hint.clone())
                    .limit(i64::from(limit) + 1) // one more than asked: is there a next page?
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        let next_cursor = if documents.len() > limit as usize {
            documents.truncate(limit as usize);
            documents.last().map(|last| Cursor {
                logged_at_ms: last.logged_at.timestamp_millis(),
                id: last.id,
            })
        } else {
            None
        };
        Ok(LogPage {
            items: documents.into_iter().map(LogDocument::into_entry).collect(),
            next_cursor,
        })
    }

    /// The filter and index hint of [`LogStore::list`], public so tests can `explain` them.
    pub fn list_query(filter: &LogFilter, cursor: Option<Cursor>) -> (Document, Hint) {
        let mut query = Self::match_stage(filter);
        if let Some(cursor) = cursor {
            let at = bson::DateTime::from_millis(cursor.logged_at_ms);
            query.insert(
                "$or",
                vec![
                    doc! { "logged_at": { "$lt": at } },
                    doc! { "logged_at": at, "_id": { "$lt": cursor.id } },
                ],
            );
        }
        (query, Self::hint(filter))
    }

    /// Per-place and overall stats, computed by MongoDB in one aggregation pipeline.
    #[tracing::instrument(name = "storage.stats", skip(self))]
    pub async fn stats(&self, filter: &LogFilter) -> Result<LogStats, StorageError> {
        let stats = self
            .recreating_indexes(|| async {
                let mut cursor = self
                    .logs
                    .aggregate(Self::stats_pipeline(filter))
                    .hint(Self::hint(filter))
                    .with_type::<LogStats>()
                    .await?;
                cursor.try_next().await
            })
            .await?;
        // No matching log means no group at all.
        Ok(stats.unwrap_or_default())
    }

    /// Runs a query that names an index; when MongoDB refuses it because the index is gone (the
    /// collection was dropped, or the server came back empty), creates the indexes again and
    /// retries once, instead of failing until the next restart.
    async fn recreating_indexes<T, F, Fut>(&self, query: F) -> Result<T, StorageError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = mongodb::error::Result<T>>,
    {
        match query().await {
            Err(err) if is_missing_index(&err) => {
                tracing::warn!(error = %err, "an index is missing; creating the indexes again");
                self.create_indexes().await?;
                Ok(query().await?)
            }
            result => Ok(result?),
        }
    }

    /// The pipeline of [`LogStore::stats`], public so tests can `explain` it.
    pub fn stats_pipeline(filter: &LogFilter) -> Vec<Document> {
        let temperature = "$weather.temperature.current";
        vec![
            doc! { "$match": Self::match_stage(filter) },
            doc! { "$group": {
                "_id": { "city": "$place_key.city", "country": "$place_key.country" },
                "city": { "$first": "$location.name" },
                "country": { "$first": "$location.country" },
                "count": { "$sum": 1 },
                "temperature_avg": { "$avg": temperature },
                "temperature_min": { "$min": temperature },
                "temperature_max": { "$max": temperature },
                "humidity_avg": { "$avg": "$weather.humidity_pct" },
                "first_logged_at": { "$min": "$logged_at" },
                "last_logged_at": { "$max": "$logged_at" },
            }},
            doc! { "$sort": { "count": -1, "city": 1, "country": 1 } },
            doc! { "$group": {
                "_id": Bson::Null,
                "count": { "$sum": "$count" },
                "places": { "$push": "$$ROOT" },
            }},
        ]
    }

    /// The `$match` of a filter. Every value is a literal (a string, a date, a number), so user
    /// input can never become a query operator.
    fn match_stage(filter: &LogFilter) -> Document {
        let mut query = Document::new();
        if let Some(place) = &filter.city {
            if let Some(name) = place.city_name() {
                query.insert("place_key.city", name);
            }
            if let Some(country) = place.country() {
                query.insert("place_key.country", country);
            }
        }
        let mut logged_at = Document::new();
        if let Some(from) = filter.from {
            logged_at.insert("$gte", bson::DateTime::from_millis(from.timestamp_millis()));
        }
        if let Some(to) = filter.to {
            logged_at.insert("$lte", bson::DateTime::from_millis(to.timestamp_millis()));
        }
        if !logged_at.is_empty() {
            query.insert("logged_at", logged_at);
        }
        let mut temperature = Document::new();
        if let Some(min) = filter.min_temp_c {
            temperature.insert("$gte", min);
        }
        if let Some(max) = filter.max_temp_c {
            temperature.insert("$lte", max);
        }
        if !temperature.is_empty() {
            query.insert("weather.temperature.current", temperature);
        }
        query
    }

    /// The index that serves a filter: by city when there is one, else by time. Given as a hint
    /// so that even an unfiltered stats run reads the index rather than scanning the collection.
    fn hint(filter: &LogFilter) -> Hint {
        let name = if filter.city.is_some() {
            BY_CITY_INDEX
        } else {
            BY_TIME_INDEX
        };
        Hint::Name(name.to_owned())
    }

    /// The database, for tests and readiness.
    pub fn database(&self) -> &Database {
        &self.database
    }
}

impl LogDocument {
    fn new(weather: Weather, note: Option<Note>, tags: Tags, logged_at: bson::DateTime) -> Self {
        let date = |at: DateTime<Utc>| bson::DateTime::from_millis(at.timestamp_millis());
        Self {
            id: ObjectId::new(),
            logged_at,
            place_key: PlaceKey {
                city: crate::domain::name_key(&weather.location.name),
                country: weather
                    .location
                    .country
                    .as_deref()
                    .map(crate::domain::name_key),
            },
            observed_at: date(weather.observed_at),
            weather: weather.measurements,
            sunrise: weather.sunrise.map(date),
            sunset: weather.sunset.map(date),
            timezone_offset_s: weather.timezone_offset_s,
            provider: weather.provider,
            fetched_at: date(weather.fetched_at),
            location: weather.location,
            note: note.map(Note::into_inner),
            tags: tags.into_inner(),
        }
    }

    fn into_entry(self) -> LogEntry {
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
            note: self.note,
            tags: self.tags,
        }
    }
}

/// Whether MongoDB refused a query because the index it names does not exist
/// ("hint provided does not correspond to an existing index").
fn is_missing_index(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        mongodb::error::ErrorKind::Command(command) => {
            command.message.to_lowercase().contains("hint")
        }
        _ => false,
    }
}

/// BSON dates are milliseconds since the epoch; so are these.
pub(crate) fn to_chrono(at: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip() {
        let cursor = Cursor {
            logged_at_ms: 1_785_574_532_123,
            id: ObjectId::new(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn a_forged_cursor_is_rejected() {
        for text in ["", "not base64!", "bm8gY29sb24", "MTIzOnh5eg"] {
            assert!(Cursor::decode(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn user_values_stay_literal_in_the_match_stage() {
        let filter = LogFilter {
            city: Some(Place::city("{\"$ne\": null}").unwrap()),
            ..LogFilter::default()
        };
        let stage = LogStore::list_query(&filter, None).0;
        assert_eq!(stage.get_str("place_key.city"), Ok("{\"$ne\": null}"));
    }
}
