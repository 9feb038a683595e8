//! The weather log in MongoDB: the store (connecting, indexes, the cursor signing key, CRUD,
//! pages, stats).
//!
//! Split by concept: this file talks to MongoDB; `document` is the stored shape and its
//! conversions; `query` holds the filters, cursors (and their signing), hints and pipeline the
//! calls send. The store's methods take and return domain types only (`LogEntry`, `LogId`,
//! chrono times) and cursors; the BSON that `LogFilter::list_query` and `stats_pipeline` build
//! is public only so that tests can `explain` it.

mod document;
mod query;

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures_util::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{self, Binary, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};

use crate::prometheus;
pub use query::{Cursor, LogFilter, LogPage, LogStats, PlaceStats, SignedCursor};

use crate::domain::{CacheStatus, InvalidInput, LogEntry, LogId, LogPatch, Note, Tags, Weather};
use document::{KeyDocument, LogDocument, StatsDocument, object_id};
use query::{BY_CITY_INDEX, BY_TIME_INDEX, CursorKey, KEY_BYTES};

/// The collection that holds the logs.
pub const LOGS_COLLECTION: &str = "logs";
/// The collection of the service's own secrets: for now one document, the cursor signing key.
pub const KEYS_COLLECTION: &str = "service_keys";
/// The `_id` of the cursor signing key's document in [`KEYS_COLLECTION`].
pub const CURSOR_KEY_ID: &str = "cursor_signing_key";
/// How long one storage call may wait for a server (the driver's default is 30 s, far longer
/// than an HTTP client will wait).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a storage call failed. Shown to users only as "storage unavailable".
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("MongoDB error: {0}")]
    Mongo(#[source] mongodb::error::Error),
    /// The last error says why: a wrong password or a refused database name look like this too.
    #[error("MongoDB was not reachable within {0:?}; the last attempt failed with: {1}")]
    Unreachable(Duration, #[source] mongodb::error::Error),
    /// The key document was changed by hand; deleting it makes a new key (and ends every
    /// cursor handed out so far).
    #[error(
        "the document {CURSOR_KEY_ID:?} in {KEYS_COLLECTION:?} holds no {KEY_BYTES}-byte binary \
         `key`; delete it and restart to make a new one"
    )]
    BadCursorKey,
}

/// Every failed MongoDB call passes through here (`?`), so this is where they are counted.
impl From<mongodb::error::Error> for StorageError {
    fn from(err: mongodb::error::Error) -> Self {
        prometheus::store_error("mongodb");
        StorageError::Mongo(err)
    }
}

/// The log store, shared by all workers (clones share one connection pool).
#[derive(Clone)]
pub struct LogStore {
    database: Database,
    logs: Collection<LogDocument>,
    /// Signs each page's `next_cursor` and checks each `cursor` sent back.
    cursor_key: CursorKey,
}

impl LogStore {
    /// Connects, waiting for MongoDB with exponential backoff for at most `startup_timeout` (a
    /// container may still be starting), then prepares the database ([`LogStore::open`]).
    ///
    /// Errors: a malformed URI, MongoDB unreachable for the whole `startup_timeout`, or what
    /// [`LogStore::open`] fails with.
    pub async fn connect(
        uri: &str,
        database: &str,
        startup_timeout: Duration,
    ) -> Result<Self, StorageError> {
        let mut options = ClientOptions::parse(uri).await?;
        options.app_name = Some("weatherlog".into());
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout = Some(SERVER_SELECTION_TIMEOUT);
        let database = Client::with_options(options)?.database(database);

        let started = Instant::now();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(3))
            .without_max_times();
        (|| ping(&database))
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
        Self::open(database).await
    }

    /// Prepares an already connected database: reads the cursor signing key (creating it on
    /// the first start, see `read_or_create_cursor_key`) and creates the indexes.
    ///
    /// Errors: MongoDB refused a call, or the stored key is not 32 bytes.
    pub async fn open(database: Database) -> Result<Self, StorageError> {
        let store = Self {
            cursor_key: read_or_create_cursor_key(&database).await?,
            logs: database.collection(LOGS_COLLECTION),
            database,
        };
        store.create_indexes().await?;
        Ok(store)
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
        ping(&self.database).await
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
        prometheus::log_created();
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

    /// The position in a cursor that this service handed out, checked against its key in
    /// memory: no database query, so a refused cursor costs nothing.
    ///
    /// Errors: a cursor that this service (or another replica on the same database) did not
    /// sign: forged, changed, or signed before the key was replaced.
    pub fn verify_cursor(&self, cursor: &SignedCursor) -> Result<Cursor, InvalidInput> {
        self.cursor_key.verify(cursor)
    }

    /// A page of at most `limit` logs, newest first, starting after `cursor` (from
    /// [`LogStore::verify_cursor`]); its `next_cursor` comes signed.
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
            documents
                .last()
                .map(|last| self.cursor_key.sign(Cursor::after(last)))
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

/// Round-trip time of a `ping` command.
async fn ping(database: &Database) -> Result<Duration, StorageError> {
    let started = Instant::now();
    database.run_command(doc! { "ping": 1 }).await?;
    Ok(started.elapsed())
}

/// The cursor signing key stored in MongoDB, written first by whichever replica starts first:
/// so every replica on one database signs alike, and a restart keeps old cursors valid.
///
/// One upsert with `$setOnInsert` inserts a fresh random key only when none is stored, and
/// returns the stored one either way. Two replicas that start together may both find none;
/// then one insert wins, and the other, told so, reads the winner's key.
async fn read_or_create_cursor_key(database: &Database) -> Result<CursorKey, StorageError> {
    let keys = database.collection::<KeyDocument>(KEYS_COLLECTION);
    let this_key = doc! { "_id": CURSOR_KEY_ID };
    let mut fresh = [0; KEY_BYTES];
    // As `uuid::Uuid::new_v4` does, treat an operating system without randomness as a bug.
    getrandom::fill(&mut fresh).expect("the operating system gives random bytes");
    let created = doc! { "$setOnInsert": {
        "key": Binary { subtype: BinarySubtype::Generic, bytes: fresh.to_vec() },
        "created_at": bson::DateTime::now(),
    }};
    let upserted = keys
        .find_one_and_update(this_key.clone(), created)
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await;
    let stored = match upserted {
        Ok(Some(stored)) => Some(stored),
        // Lost the race to another replica, whose key is stored now. MongoDB says so with a
        // duplicate key error, a MongoDB-wire server such as SecantusDB with no document.
        Ok(None) => keys.find_one(this_key).await?,
        Err(err) if is_duplicate_key(&err) => keys.find_one(this_key).await?,
        Err(err) => return Err(err.into()),
    };
    let key = stored
        .and_then(|stored| <[u8; KEY_BYTES]>::try_from(stored.key.bytes).ok())
        .ok_or(StorageError::BadCursorKey)?;
    Ok(CursorKey::new(&key))
}

/// Whether a write failed because a document with its `_id` (or another unique key) exists.
fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match err.kind.as_ref() {
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        _ => false,
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
