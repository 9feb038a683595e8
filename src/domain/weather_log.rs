//! The weather log's entries: their ids, the user-written parts (note and tags), a new log
//! and a change to one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::{CacheStatus, InvalidInput, Language, Place, WHITE_SPACE, Weather};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Most tags on one log.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;
/// [`LogId::from_str`] as a JSON Schema pattern.
pub const LOG_ID_PATTERN: &str = "^[0-9a-fA-F]{24}$";

/// A log id: 24 hexadecimal digits at the HTTP edge, the 12 bytes of a MongoDB `ObjectId` in
/// storage (which converts it; nothing else here knows about BSON).
///
/// Deserializes from a string through [`LogId::from_str`], so `web::Path<LogId>` hands a handler
/// a valid id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LogId([u8; 12]);

impl TryFrom<String> for LogId {
    type Error = InvalidInput;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        input.parse()
    }
}

impl LogId {
    /// The id's 12 bytes.
    pub fn bytes(self) -> [u8; 12] {
        self.0
    }
}

impl FromStr for LogId {
    type Err = InvalidInput;

    /// Errors: anything but 24 hexadecimal digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0; 12];
        hex::decode_to_slice(s, &mut bytes)
            .map_err(|_| InvalidInput::new("a log id is 24 hexadecimal digits"))?;
        Ok(LogId(bytes))
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A log id in the API document: a string of 24 hexadecimal digits.
impl PartialSchema for LogId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A log id: 24 hexadecimal digits (a MongoDB ObjectId).",
            ))
            .pattern(Some(LOG_ID_PATTERN))
            .examples(["6b0d3e3965fd0591c5b06a8f"])
            .into()
    }
}

impl ToSchema for LogId {}

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

/// A note in the API document: a string of at most 500 characters (Unicode code points, as
/// JSON Schema counts them and as [`Note::parse`] does).
impl PartialSchema for Note {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A free-text note, at most 500 characters."))
            .max_length(Some(MAX_NOTE_CHARS))
            .examples(["Umbrella weather"])
            .into()
    }
}

impl ToSchema for Note {}

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

/// [`Tags::parse`]'s rule for one tag as a JSON Schema pattern: after trimming white space
/// (Rust's `str::trim`, spelled out because `\s` differs between regex dialects), 1 to 32
/// characters. A plain `maxLength` would reject the padded tags the service accepts.
pub fn tag_pattern() -> String {
    let inner = MAX_TAG_CHARS - 2;
    format!(
        "^[{WHITE_SPACE}]*[^{WHITE_SPACE}]([\\s\\S]{{0,{inner}}}[^{WHITE_SPACE}])?[{WHITE_SPACE}]*$"
    )
}

/// Tags in the API document: an array of at most 10 strings, each 1 to 32 characters once
/// trimmed (duplicates are allowed in, and dropped).
impl PartialSchema for Tags {
    fn schema() -> RefOr<Schema> {
        let tag = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("1 to 32 characters after trimming white space."))
            .min_length(Some(1))
            .pattern(Some(tag_pattern()));
        ArrayBuilder::new()
            .items(tag)
            .max_items(Some(MAX_TAGS))
            .description(Some(
                "At most 10 tags, each 1 to 32 characters after trimming white space; \
                 surrounding white space is trimmed and duplicates are dropped.",
            ))
            .examples([serde_json::json!(["rain", "commute"])])
            .into()
    }
}

impl ToSchema for Tags {}

/// A checked change to a log (from the body of `PATCH /api/v1/logs/{id}`): only the note
/// and the tags can change.
#[derive(Debug, PartialEq)]
pub struct LogPatch {
    /// `Some(None)` removes the note.
    pub note: Option<Option<Note>>,
    pub tags: Option<Tags>,
}

/// A checked new log: where to look the weather up, in which language, and the user's note
/// and tags. Built from the request body with `TryFrom` (in `routes::logs`), which checks
/// every field before any work is done.
#[derive(Debug, PartialEq)]
pub struct NewLog {
    pub place: Place,
    pub lang: Language,
    pub note: Option<Note>,
    pub tags: Tags,
}

/// One weather log as the API shows it: the id, when it was logged, the weather (flattened, in
/// the requested units), and the user's note and tags.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogEntry {
    /// 24 hexadecimal digits.
    #[schema(value_type = LogId)]
    pub id: String,
    /// When the log was created, RFC 3339 UTC.
    pub logged_at: DateTime<Utc>,
    #[serde(flatten)]
    pub weather: Weather,
    /// Where the weather came from when the log was created: `hit`, `miss`, or `stale` (the
    /// last good answer while upstream failed; `fetched_at` tells its age). `null` for logs
    /// created before this was recorded.
    #[schema(required = true)]
    pub cache_status: Option<CacheStatus>,
    /// The user's note, or `null`.
    #[schema(value_type = Option<Note>, required = true)]
    pub note: Option<String>,
    /// The user's tags, trimmed and without duplicates (possibly empty).
    #[schema(value_type = Tags)]
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
    fn the_documented_tag_rule_is_the_parser_rule() {
        let pattern = regex::Regex::new(&tag_pattern()).expect("the pattern compiles");
        let longest = "x".repeat(MAX_TAG_CHARS);
        let padded = format!(" \t{longest}\u{3000} ");
        let too_long = "x".repeat(MAX_TAG_CHARS + 1);
        let tags = [
            "rain",
            " rain ",
            "heavy rain",
            "\u{1C}", // a control character that is not white space
            longest.as_str(),
            padded.as_str(),
            "",
            " ",
            "\t\n",
            "\u{85}\u{3000}",
            too_long.as_str(),
        ];
        for tag in tags {
            assert_eq!(
                pattern.is_match(tag),
                Tags::parse(vec![tag.to_owned()]).is_ok(),
                "{tag:?}"
            );
        }
    }

    #[test]
    fn the_documented_id_rule_is_the_parser_rule() {
        let pattern = regex::Regex::new(LOG_ID_PATTERN).expect("the pattern compiles");
        for id in [
            "6b0d3e3965fd0591c5b06a8f",
            "6B0D3E3965FD0591C5B06A8F",
            "6b0d3e3965fd0591c5b06a8",
            "6b0d3e3965fd0591c5b06a8f0",
            "6b0d3e3965fd0591c5b06a8g",
            "",
        ] {
            assert_eq!(pattern.is_match(id), id.parse::<LogId>().is_ok(), "{id:?}");
        }
    }
}
