//! The shapes of the log's queries: which logs a request is about ([`LogFilter`]), where a page
//! starts ([`Cursor`], handed out signed as a [`SignedCursor`]), the `$match` stage, index
//! hints and the stats pipeline, and what the queries answer.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::Hint;
use sha2::Sha256;

use super::document::{LogDocument, to_bson};
use crate::domain::{InvalidInput, LogEntry, Place};

/// Index for the newest-first list, and for `from`/`to` (and stats without a city).
pub(super) const BY_TIME_INDEX: &str = "logged_at_desc_id_desc";
/// Index for everything filtered by city.
pub(super) const BY_CITY_INDEX: &str = "city_logged_at_desc_id_desc";

/// Which logs a list or stats request is about. Temperatures are in °C.
#[derive(Debug, Default, Clone, PartialEq)]
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

/// The length of a position: an `i64` of milliseconds and a 12-byte `ObjectId`.
const POSITION_BYTES: usize = 8 + 12;
/// The length of a tag: HMAC-SHA256 cut to its first 16 bytes (128 bits), plenty against
/// guessing, and a shorter cursor.
const TAG_BYTES: usize = 16;
/// The length of a signed cursor, before base64.
const SIGNED_BYTES: usize = POSITION_BYTES + TAG_BYTES;
/// The length of a cursor signing key: 32 random bytes, as long as a SHA-256 output.
pub(super) const KEY_BYTES: usize = 32;
/// The one answer to any cursor that fails a check, whichever check it failed.
const NOT_OURS: &str = "cursor is not one this service returned";

/// A position in the newest-first list: the `logged_at` and id of the last log shown.
///
/// Only the store makes one: after a page (`Cursor::after`), or from a [`SignedCursor`] whose
/// tag it checked (`LogStore::verify_cursor`). So a query never starts at a position that this
/// service did not hand out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    logged_at_ms: i64,
    id: ObjectId,
}

impl Cursor {
    /// The position just after `last`, the last log of a page.
    pub(super) fn after(last: &LogDocument) -> Self {
        Cursor {
            logged_at_ms: last.logged_at.timestamp_millis(),
            id: last.id,
        }
    }

    /// The 20 bytes that the tag signs: `logged_at_ms` big-endian, then the id.
    fn to_bytes(self) -> [u8; POSITION_BYTES] {
        let mut bytes = [0; POSITION_BYTES];
        bytes[..8].copy_from_slice(&self.logged_at_ms.to_be_bytes());
        bytes[8..].copy_from_slice(&self.id.bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8; POSITION_BYTES]) -> Self {
        let (ms, id) = bytes.split_at(8);
        Cursor {
            logged_at_ms: i64::from_be_bytes(ms.try_into().expect("8 bytes")),
            id: ObjectId::from_bytes(id.try_into().expect("12 bytes")),
        }
    }
}

/// A cursor as clients see it (`next_cursor`, then `cursor`): a position and its tag, 36 bytes
/// written as 48 characters of URL-safe base64 without padding.
///
/// | bytes    | content                                                                   |
/// |----------|---------------------------------------------------------------------------|
/// | `0..8`   | `logged_at` of the last log shown: unix milliseconds, big-endian `i64`    |
/// | `8..20`  | that log's id: its 12-byte `ObjectId`                                     |
/// | `20..36` | the tag: the first 16 bytes of HMAC-SHA256 of bytes `0..20`, with the key |
///
/// The position is readable, not secret; the tag makes it unforgeable. Parsing checks only
/// the shape; the store, which holds the key, checks the tag (`LogStore::verify_cursor`).
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCursor([u8; SIGNED_BYTES]);

impl SignedCursor {
    /// Reads a cursor as a client sent it.
    ///
    /// Errors: anything but URL-safe base64 (no padding) of 36 bytes.
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| InvalidInput::new(NOT_OURS))?;
        let bytes = bytes.try_into().map_err(|_| InvalidInput::new(NOT_OURS))?;
        Ok(SignedCursor(bytes))
    }

    fn position(&self) -> &[u8; POSITION_BYTES] {
        self.0[..POSITION_BYTES].try_into().expect("20 bytes")
    }

    fn tag(&self) -> &[u8] {
        &self.0[POSITION_BYTES..]
    }
}

/// The wire form: 48 characters of URL-safe base64.
impl fmt::Display for SignedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// The secret that signs cursors, the same for every replica on one database (the store reads
/// it from MongoDB at start-up). Holds the keyed HMAC state, ready to clone for each cursor.
#[derive(Clone)]
pub(super) struct CursorKey(Hmac<Sha256>);

impl CursorKey {
    pub(super) fn new(key: &[u8; KEY_BYTES]) -> Self {
        CursorKey(Hmac::new_from_slice(key).expect("HMAC takes a key of any length"))
    }

    /// The cursor to hand out for `cursor`.
    pub(super) fn sign(&self, cursor: Cursor) -> SignedCursor {
        let position = cursor.to_bytes();
        let tag = self.mac(&position).finalize().into_bytes();
        let mut signed = [0; SIGNED_BYTES];
        signed[..POSITION_BYTES].copy_from_slice(&position);
        signed[POSITION_BYTES..].copy_from_slice(&tag[..TAG_BYTES]);
        SignedCursor(signed)
    }

    /// The position of a cursor that this key signed.
    ///
    /// Errors: a tag that does not match (a forged or changed cursor, or one signed with
    /// another key). The comparison takes the same time wherever the tags differ.
    pub(super) fn verify(&self, signed: &SignedCursor) -> Result<Cursor, InvalidInput> {
        self.mac(signed.position())
            .verify_truncated_left(signed.tag())
            .map_err(|_| InvalidInput::new(NOT_OURS))?;
        Ok(Cursor::from_bytes(signed.position()))
    }

    /// The HMAC of `position`, not yet finalized: a copy of the keyed state, so the key is
    /// prepared once, not per cursor.
    fn mac(&self, position: &[u8; POSITION_BYTES]) -> Hmac<Sha256> {
        self.0.clone().chain_update(position)
    }
}

/// Never the key: it must not reach a log line.
impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// One page of logs, newest first, in metric units.
#[derive(Debug)]
pub struct LogPage {
    pub items: Vec<LogEntry>,
    /// Where the next page starts, signed; `None` on the last page.
    pub next_cursor: Option<SignedCursor>,
}

/// Stats for one place, in metric units (°C, %).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceStats {
    /// The name and country as upstream gave them in the first log of the group.
    pub city: String,
    pub country: Option<String>,
    pub count: u64,
    pub temperature_avg: f64,
    pub temperature_min: f64,
    pub temperature_max: f64,
    /// `None` when no log of the place had a humidity.
    pub humidity_avg: Option<f64>,
    pub first_logged_at: DateTime<Utc>,
    pub last_logged_at: DateTime<Utc>,
}

/// Stats over all matching logs: the overall count and one entry per place, busiest first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogStats {
    pub count: u64,
    pub places: Vec<PlaceStats>,
}

impl LogFilter {
    /// The filter and index hint of `LogStore::list`, public so tests can `explain` them. The
    /// cursor becomes a range condition on `(logged_at, _id)`: keyset pagination.
    pub fn list_query(&self, cursor: Option<Cursor>) -> (Document, Hint) {
        let mut query = self.match_stage();
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
        (query, self.hint())
    }

    /// The pipeline of `LogStore::stats`, public so tests can `explain` it: one group per place
    /// (by its normalized key), busiest first, then one group over them all.
    pub fn stats_pipeline(&self) -> Vec<Document> {
        let temperature = "$weather.temperature.current";
        vec![
            doc! { "$match": self.match_stage() },
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
    fn match_stage(&self) -> Document {
        let mut query = Document::new();
        if let Some(place) = &self.city {
            if let Some(name) = place.city_name() {
                query.insert("place_key.city", name);
            }
            if let Some(country) = place.country() {
                query.insert("place_key.country", country);
            }
        }
        let mut logged_at = Document::new();
        if let Some(from) = self.from {
            logged_at.insert("$gte", to_bson(from));
        }
        if let Some(to) = self.to {
            logged_at.insert("$lte", to_bson(to));
        }
        if !logged_at.is_empty() {
            query.insert("logged_at", logged_at);
        }
        let mut temperature = Document::new();
        if let Some(min) = self.min_temp_c {
            temperature.insert("$gte", min);
        }
        if let Some(max) = self.max_temp_c {
            temperature.insert("$lte", max);
        }
        if !temperature.is_empty() {
            query.insert("weather.temperature.current", temperature);
        }
        query
    }

    /// The index that serves a filter: by city when there is one, else by time. Given as a hint
    /// so that even an unfiltered stats run reads the index rather than scanning the collection.
    pub(super) fn hint(&self) -> Hint {
        let name = if self.city.is_some() {
            BY_CITY_INDEX
        } else {
            BY_TIME_INDEX
        };
        Hint::Name(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CursorKey {
        CursorKey::new(&[byte; KEY_BYTES])
    }

    fn cursor() -> Cursor {
        Cursor {
            logged_at_ms: 1_796_030_009_894,
            id: ObjectId::parse_str("6b0d3e3965fd0591c5b06a90").unwrap(),
        }
    }

    /// What the store makes of `text` sent back as a cursor: parsed, then checked with `key`.
    fn sent_back(key: &CursorKey, text: &str) -> Result<Cursor, InvalidInput> {
        key.verify(&SignedCursor::parse(text)?)
    }

    #[test]
    fn a_signed_cursor_survives_the_round_trip() {
        let text = key(1).sign(cursor()).to_string();

        assert_eq!(text.len(), 48, "{text}");
        assert_eq!(sent_back(&key(1), &text), Ok(cursor()));
    }

    #[test]
    fn text_that_is_not_36_bytes_of_base64_is_refused() {
        let text = key(1).sign(cursor()).to_string();
        let truncated = &text[..44];
        let longer = format!("{text}AAAA");
        let padded = format!("{text}==");
        // The old, unsigned form: base64 of "<ms>:<hex id>".
        let unsigned = "MTc5NjAzMDAwOTg5NDo2YjBkM2UzOTY1ZmQwNTkxYzViMDZhOTA";
        for text in ["", "not base64!", truncated, &longer, &padded, unsigned] {
            let refused = SignedCursor::parse(text);
            assert_eq!(refused, Err(InvalidInput::new(NOT_OURS)), "{text:?}");
        }
    }

    #[test]
    fn a_cursor_changed_in_any_byte_is_refused() {
        let signed = key(1).sign(cursor());
        for at in 0..SIGNED_BYTES {
            let mut changed = signed.clone();
            changed.0[at] ^= 0x01;
            let text = changed.to_string();
            assert_eq!(
                sent_back(&key(1), &text),
                Err(InvalidInput::new(NOT_OURS)),
                "byte {at} changed"
            );
        }
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        // A real position with a made-up tag, as someone without the key would write it.
        let mut forged = [0; SIGNED_BYTES];
        forged[..POSITION_BYTES].copy_from_slice(&cursor().to_bytes());
        let text = SignedCursor(forged).to_string();

        assert_eq!(sent_back(&key(1), &text), Err(InvalidInput::new(NOT_OURS)));
    }

    #[test]
    fn a_cursor_signed_with_another_key_is_refused() {
        let text = key(2).sign(cursor()).to_string();

        assert_eq!(sent_back(&key(1), &text), Err(InvalidInput::new(NOT_OURS)));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", key(0xAB)), "CursorKey(..)");
    }

    #[test]
    fn user_values_stay_literal_in_the_match_stage() {
        let filter = LogFilter {
            city: Some(Place::city("{\"$ne\": null}").unwrap()),
            ..LogFilter::default()
        };
        let stage = filter.list_query(None).0;
        assert_eq!(stage.get_str("place_key.city"), Ok("{\"$ne\": null}"));
    }
}
