//! The shapes of the log's queries: which logs a request is about ([`LogFilter`]), where a page
//! starts ([`Cursor`]), the `$match` stage, index hints and the stats pipeline, and what the
//! queries answer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::Hint;

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

    /// The position just after `last`, the last log of a page.
    pub(super) fn after(last: &LogDocument) -> Self {
        Cursor {
            logged_at_ms: last.logged_at.timestamp_millis(),
            id: last.id,
        }
    }
}

/// One page of logs, newest first, in metric units.
#[derive(Debug)]
pub struct LogPage {
    pub items: Vec<LogEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
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
        let stage = filter.list_query(None).0;
        assert_eq!(stage.get_str("place_key.city"), Ok("{\"$ne\": null}"));
    }
}
