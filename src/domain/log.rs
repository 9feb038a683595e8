//! Weather log entries: their ids, and the user-written parts (note and tags).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Deserializer, Serialize};

use super::{InvalidInput, Weather};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Most tags on one log.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;

/// A log id: 24 hexadecimal digits at the HTTP edge, a MongoDB `ObjectId` in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogId(pub ObjectId);

impl FromStr for LogId {
    type Err = InvalidInput;

    /// Errors: anything but 24 hexadecimal digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectId::parse_str(s)
            .map(LogId)
            .map_err(|_| InvalidInput::new("a log id is 24 hexadecimal digits"))
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.to_hex())
    }
}

/// A free-text note of at most 500 characters.
#[derive(Clone, Debug, PartialEq)]
pub struct Note(String);

impl Note {
    /// Errors: more than 500 characters.
    pub fn parse(text: String) -> Result<Self, InvalidInput> {
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(InvalidInput::new(format!(
                "note must be at most {MAX_NOTE_CHARS} characters"
            )));
        }
        Ok(Note(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// At most 10 tags, each 1 to 32 characters after trimming; duplicates are dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tags(Vec<String>);

impl Tags {
    /// Errors: too many tags, or a tag that is empty or too long.
    pub fn parse(tags: Vec<String>) -> Result<Self, InvalidInput> {
        if tags.len() > MAX_TAGS {
            return Err(InvalidInput::new(format!(
                "at most {MAX_TAGS} tags are allowed"
            )));
        }
        let mut kept: Vec<String> = Vec::with_capacity(tags.len());
        for tag in tags {
            let tag = tag.trim();
            let chars = tag.chars().count();
            if chars == 0 || chars > MAX_TAG_CHARS {
                return Err(InvalidInput::new(format!(
                    "each tag must be 1 to {MAX_TAG_CHARS} characters"
                )));
            }
            if !kept.iter().any(|t| t == tag) {
                kept.push(tag.to_owned());
            }
        }
        Ok(Tags(kept))
    }

    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

/// The body of `PATCH /api/v1/logs/{id}`: only `note` and `tags` may change.
///
/// `"note": null` removes the note; a field left out stays as it is. Any other field is an
/// error (400), so a client cannot rewrite the measured weather.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPatchRequest {
    #[serde(default, deserialize_with = "present")]
    pub note: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

/// A checked [`LogPatchRequest`].
#[derive(Debug, PartialEq)]
pub struct LogPatch {
    /// `Some(None)` removes the note.
    pub note: Option<Option<Note>>,
    pub tags: Option<Tags>,
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

/// One weather log as the API shows it: the id, when it was logged, the weather (flattened, in
/// the requested units), and the user's note and tags.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    /// 24 hexadecimal digits.
    pub id: String,
    /// When the log was created, RFC 3339 UTC.
    pub logged_at: DateTime<Utc>,
    #[serde(flatten)]
    pub weather: Weather,
    pub note: Option<String>,
    pub tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let tags = Tags::parse(vec![" a ".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(tags.into_inner(), vec!["a", "b"]);
    }

    #[test]
    fn limits_are_enforced() {
        assert!(Note::parse("x".repeat(500)).is_ok());
        assert!(Note::parse("x".repeat(501)).is_err());
        assert!(Tags::parse(vec!["t".into(); 11]).is_err());
        assert!(Tags::parse(vec!["x".repeat(33)]).is_err());
        assert!(Tags::parse(vec!["  ".into()]).is_err());
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let clear: LogPatchRequest = serde_json::from_str(r#"{"note": null}"#).unwrap();
        assert_eq!(clear.note, Some(None));
        let keep: LogPatchRequest = serde_json::from_str(r#"{"tags": []}"#).unwrap();
        assert_eq!(keep.note, None);
        assert!(serde_json::from_str::<LogPatchRequest>(r#"{"city": "x"}"#).is_err());
    }
}
