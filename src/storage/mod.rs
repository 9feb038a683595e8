//! The weather log in MongoDB: the store (connecting, indexes, CRUD, pages, stats).
//!
//! Split by concept: this file talks to MongoDB; `document` is the stored shape and its
//! conversions; `query` holds the filters, cursors, hints and pipeline the calls send. The
//! store's methods take and return domain types only (`LogEntry`, `LogId`, chrono times); the
//! BSON that `LogFilter::list_query` and `stats_pipeline` build is public only so that tests
//! can `explain` it.

mod document;
mod query;

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};

pub use query::{Cursor, LogFilter, LogPage, LogStats, PlaceStats};

use crate::domain::{CacheStatus, LogEntry, LogId, LogPatch, Note, Tags, Weather};
use document::{LogDocument, StatsDocument, object_id};
use query::{BY_CITY_INDEX, BY_TIME_INDEX};

/// The collection that holds the logs.
pub const LOGS_COLLECTION: &str = "logs";
/// How long one storage call may wait for a server (the driver's default is 30 s, far longer
/// than an HTTP client will wait).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);

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

    /// Stores a new log of `weather` (metric), with where that answer came from
    /// (`cache_status`: a stale one is stored as such), and returns it as stored.
    #[tracing::instrument(name = "storage.insert", skip_all)]
    pub async fn insert(
        &self,
        weather: Weather,
        cache_status: CacheStatus,
        note: Option<Note>,
        tags: Tags,
    ) -> Result<LogEntry, StorageError> {
        let document = LogDocument::new(weather, cache_status, note, tags);
        self.logs.insert_one(&document).await?;
        Ok(document.into_entry())
    }

    /// One log by id, or `None`.
    #[tracing::instrument(name = "storage.get", skip(self))]
    pub async fn get(&self, id: LogId) -> Result<Option<LogEntry>, StorageError> {
        let found = self.logs.find_one(doc! { "_id": object_id(id) }).await?;
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
            .find_one_and_update(doc! { "_id": object_id(id) }, update)
            .return_document(ReturnDocument::After)
            .await?;
        Ok(updated.map(LogDocument::into_entry))
    }

    /// Deletes one log; `false` when there was none with that id.
    #[tracing::instrument(name = "storage.delete", skip(self))]
    pub async fn delete(&self, id: LogId) -> Result<bool, StorageError> {
        let result = self.logs.delete_one(doc! { "_id": object_id(id) }).await?;
        Ok(result.deleted_count == 1)
    }

    /// A page of at most `limit` logs, newest first, starting after `cursor`.
    ///
    /// Keyset pagination ([`LogFilter::list_query`]): the cursor becomes a range condition on
    /// the `(logged_at, _id)` index, so page 1000 costs what page 1 does, and logs added
    /// meanwhile (all newer) never shift later pages.
    #[tracing::instrument(name = "storage.list", skip(self))]
    pub async fn list(
        &self,
        filter: &LogFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<LogPage, StorageError> {
        let (query, hint) = filter.list_query(cursor);
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
            documents.last().map(Cursor::after)
        } else {
            None
        };
        Ok(LogPage {
            items: documents.into_iter().map(LogDocument::into_entry).collect(),
            next_cursor,
        })
    }

    /// Per-place and overall stats, computed by MongoDB in one aggregation pipeline.
    #[tracing::instrument(name = "storage.stats", skip(self))]
    pub async fn stats(&self, filter: &LogFilter) -> Result<LogStats, StorageError> {
        let stats = self
            .recreating_indexes(|| async {
                let mut cursor = self
                    .logs
                    .aggregate(filter.stats_pipeline())
                    .hint(filter.hint())
                    .with_type::<StatsDocument>()
                    .await?;
                cursor.try_next().await
            })
            .await?;
        // No matching log means no group at all.
        Ok(stats.map(StatsDocument::into_stats).unwrap_or_default())
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

    /// The database, for tests and readiness.
    pub fn database(&self) -> &Database {
        &self.database
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
