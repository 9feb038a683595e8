//! What the log routes take: the bodies and query strings as the API document describes them,
//! and the `TryFrom` conversions that check them into domain values before any work is done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{
    InvalidInput, Language, LogPatch, NewLog, Note, Place, Tags, Units, city_schema,
};
use crate::routes::responses::nullable;
use crate::storage::{LogFilter, SignedCursor};

/// Default and largest page size of the list.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// Body of `POST /api/v1/logs`: a `city`, or `lat` and `lon`; an optional `note` (≤ 500
/// characters), `tags` (≤ 10, each ≤ 32 characters) and `lang` for the description.
///
/// A field given as `null` counts as left out.
// The rule "a `city`, or `lat` and `lon`" is added to the schema in `crate::openapi`: a struct
// of optional fields cannot say it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"city": "Warsaw,PL", "note": "Umbrella weather", "tags": ["rain", "commute"]}))]
pub struct CreateLogRequest {
    /// The place by name; give either `city`, or `lat` and `lon`.
    #[schema(schema_with = nullable_city)]
    pub city: Option<String>,
    /// Latitude in degrees, −90 to 90; give it with `lon`, instead of `city`.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Longitude in degrees, −180 to 180; give it with `lat`, instead of `city`.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
    /// A free-text note, at most 500 characters.
    #[schema(value_type = Option<Note>)]
    pub note: Option<String>,
    /// At most 10 tags, each 1 to 32 characters after trimming.
    #[serde(default)]
    #[schema(value_type = Tags)]
    pub tags: Vec<String>,
    /// Language of the condition descriptions (`en`, `de`, `pt_br`, …).
    #[schema(value_type = Option<Language>)]
    pub lang: Option<String>,
}

/// A city query that may also be `null` (meaning: not given).
fn nullable_city() -> utoipa::openapi::schema::Object {
    nullable(city_schema())
}

/// Checks every field of the body, before the upstream call, so bad input costs nothing.
impl TryFrom<CreateLogRequest> for NewLog {
    type Error = InvalidInput;

    fn try_from(body: CreateLogRequest) -> Result<Self, Self::Error> {
        Ok(NewLog {
            place: Place::from_parts(body.city.as_deref(), body.lat, body.lon)?,
            note: body.note.map(Note::parse).transpose()?,
            tags: Tags::parse(body.tags)?,
            lang: body
                .lang
                .as_deref()
                .map(Language::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// Query of `POST`, `GET /{id}` and `PATCH`: only `units` for the answer.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitsQuery {
    /// Unit system of the answer: `metric` (°C, m/s), `imperial` (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
}

/// Query of `GET /api/v1/logs`. `min_temp`/`max_temp` are in `units`; `from`/`to` are RFC 3339
/// (write `+` as `%2B` in a URL, or use `Z`).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only logs of this place: the name, matched exactly but case-insensitively, optionally
    /// with `,COUNTRY` (`warsaw` or `warsaw,pl`).
    #[param(schema_with = city_schema)]
    pub city: Option<String>,
    /// Only logs logged at or after this time (RFC 3339).
    #[param(example = "2026-11-30T00:00:00Z")]
    pub from: Option<DateTime<Utc>>,
    /// Only logs logged at or before this time (RFC 3339); not before `from`.
    #[param(example = "2026-12-01T00:00:00Z")]
    pub to: Option<DateTime<Utc>>,
    /// Only logs at least this warm, in `units`.
    pub min_temp: Option<f64>,
    /// Only logs at most this warm, in `units`; not below `min_temp`.
    pub max_temp: Option<f64>,
    /// Unit system of the answer and of `min_temp`/`max_temp`: `metric` (°C, m/s), `imperial`
    /// (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
    /// Page size, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page, as it was given. Any
    /// other value is refused with 400: the service signs its cursors.
    // No `example`: each database has its own key, so any cursor written here would be refused
    // (and scripts/fuzz, which sends the examples, would rightly fail on it).
    pub cursor: Option<String>,
}

/// A checked [`ListQuery`]: which logs, how many, from where.
#[derive(Debug)]
pub struct ListRequest {
    pub filter: LogFilter,
    /// 1 to 100.
    pub limit: u32,
    /// Of the right shape only: the store, which holds the key, checks its tag
    /// (`LogStore::verify_cursor`).
    pub cursor: Option<SignedCursor>,
}

impl TryFrom<&ListQuery> for ListRequest {
    type Error = InvalidInput;

    fn try_from(query: &ListQuery) -> Result<Self, Self::Error> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(InvalidInput::new(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(ListRequest {
            cursor: query
                .cursor
                .as_deref()
                .map(SignedCursor::parse)
                .transpose()?,
            filter: log_filter(
                query.city.as_deref(),
                query.from,
                query.to,
                query.units,
                (query.min_temp, query.max_temp),
            )?,
            limit,
        })
    }
}

/// Builds a storage filter from query values; temperatures are given in `units`.
///
/// Errors: `from` after `to`, a temperature that is not a number, `min_temp` above `max_temp`,
/// or a malformed city.
pub(crate) fn log_filter(
    city: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    units: Units,
    (min_temp, max_temp): (Option<f64>, Option<f64>),
) -> Result<LogFilter, InvalidInput> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(InvalidInput::new("from must not be after to"));
    }
    for value in [min_temp, max_temp].into_iter().flatten() {
        if !value.is_finite() {
            return Err(InvalidInput::new("temperatures must be numbers"));
        }
    }
    if let (Some(min), Some(max)) = (min_temp, max_temp)
        && min > max
    {
        return Err(InvalidInput::new("min_temp must not be above max_temp"));
    }
    Ok(LogFilter {
        city: city.map(Place::city).transpose()?,
        from,
        to,
        min_temp_c: min_temp.map(|t| units.temperature_to_celsius(t)),
        max_temp_c: max_temp.map(|t| units.temperature_to_celsius(t)),
    })
}

/// The body of `PATCH /api/v1/logs/{id}`: only `note` and `tags` may change.
///
/// `"note": null` removes the note; a field left out stays as it is. Any other field is an
/// error (400), so a client cannot rewrite the measured weather. At least one of the two must
/// be given (and `tags` not as `null`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogPatchRequest {
    /// The new note; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Note>)]
    pub note: Option<Option<String>>,
    /// The new tags, replacing the old ones; `null` leaves them as they are.
    #[schema(value_type = Option<Tags>)]
    pub tags: Option<Vec<String>>,
}

impl TryFrom<LogPatchRequest> for LogPatch {
    type Error = InvalidInput;

    fn try_from(request: LogPatchRequest) -> Result<Self, Self::Error> {
        if request.note.is_none() && request.tags.is_none() {
            return Err(InvalidInput::new("give note or tags to change"));
        }
        Ok(LogPatch {
            note: request
                .note
                .map(|n| n.map(Note::parse).transpose())
                .transpose()?,
            tags: request.tags.map(Tags::parse).transpose()?,
        })
    }
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_null_from_absent() {
        let clear: LogPatchRequest = serde_json::from_str(r#"{"note": null}"#).unwrap();
        assert_eq!(clear.note, Some(None));
        let keep: LogPatchRequest = serde_json::from_str(r#"{"tags": []}"#).unwrap();
        assert_eq!(keep.note, None);
        assert!(serde_json::from_str::<LogPatchRequest>(r#"{"city": "x"}"#).is_err());
    }
}
