//! How an object becomes a stored record: its serde JSON plus GLUDB's
//! automatic keys `id`, `_create_date` and `_last_update`.

use serde_json::Value;

use crate::{Error, Result, Storable};

/// A new record id: a UUID4 as 32 lowercase hex chars, as GLUDB makes them.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The current time in GLUDB's format, e.g. `UTC:2026-11-27T02:00:00.123456`.
pub fn now_timestamp() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Formats a UTC time in GLUDB's `UTC:YYYY-MM-DDTHH:MM:SS.ffffff` format.
pub fn format_timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "UTC:{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses GLUDB's `UTC:YYYY-MM-DDTHH:MM:SS.ffffff` format (the `UTC:`
/// prefix and the fraction are optional).
///
/// ```
/// use gludb_core::record::{format_timestamp, parse_timestamp};
/// let t = parse_timestamp("UTC:2026-11-27T02:03:04.000123").unwrap();
/// assert_eq!(format_timestamp(t), "UTC:2026-11-27T02:03:04.000123");
/// assert!(parse_timestamp("yesterday").is_none());
/// ```
pub fn parse_timestamp(text: &str) -> Option<time::OffsetDateTime> {
    use time::macros::format_description;
    let text = text.strip_prefix("UTC:").unwrap_or(text);
    let with_fraction =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    let without = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, with_fraction)
        .or_else(|_| time::PrimitiveDateTime::parse(text, without))
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// GLUDB's automatic keys of one stored record: when it was first saved and
/// when it was last saved (see
/// [`Storable::find_one_with_meta`]).
///
/// A key is `None` when the record lacks it, or holds something other
/// than a time in GLUDB's format (a record written by hand, or restored
/// from elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecordMeta {
    /// `_create_date`: set by the first save, kept by later ones.
    pub created: Option<time::OffsetDateTime>,
    /// `_last_update`: set by every save.
    pub last_update: Option<time::OffsetDateTime>,
}

impl RecordMeta {
    /// The automatic keys of a stored record, read from its JSON text.
    ///
    /// ```
    /// use gludb_core::record::{RecordMeta, parse_timestamp};
    /// let meta = RecordMeta::of_json(
    ///     r#"{"id":"a","_create_date":"UTC:2026-11-27T02:00:00.000001","_last_update":7}"#,
    /// );
    /// assert_eq!(meta.created, parse_timestamp("UTC:2026-11-27T02:00:00.000001"));
    /// assert_eq!(meta.last_update, None);
    /// ```
    pub fn of_json(json: &str) -> RecordMeta {
        #[derive(serde::Deserialize)]
        struct Keys {
            #[serde(rename = "_create_date")]
            created: Option<Value>,
            #[serde(rename = "_last_update")]
            last_update: Option<Value>,
        }
        let time = |value: Option<Value>| value.as_ref()?.as_str().and_then(parse_timestamp);
        // Only an object (serde would also read a struct from an array).
        if !json.trim_start().starts_with('{') {
            return RecordMeta::default();
        }
        match serde_json::from_str::<Keys>(json) {
            Ok(keys) => RecordMeta {
                created: time(keys.created),
                last_update: time(keys.last_update),
            },
            Err(_) => RecordMeta::default(),
        }
    }

    /// The automatic keys of a stored record.
    pub fn of_record(record: &crate::StoredRecord) -> RecordMeta {
        RecordMeta::of_json(&record.value)
    }
}

/// The JSON text stored for `object`: its fields, `id`, and both timestamps
/// set to `now` (the backend keeps an existing record's `_create_date`).
///
/// Fails with [`Error::Encode`] if the text would not decode back into `T`
/// (see [`check_reads_back`]), so nothing unreadable is ever stored.
pub(crate) fn encode<T: Storable>(object: &T, now: &str) -> Result<String> {
    let type_name = T::type_info().type_name();
    let encode_error = |reason: String| Error::Encode {
        type_name: type_name.to_owned(),
        reason,
    };
    let value = serde_json::to_value(object).map_err(|e| encode_error(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(encode_error(
            "it does not serialize to a JSON object (check its serde attributes)".into(),
        ));
    };
    fields.insert("id".into(), Value::String(object.id().to_owned()));
    fields.insert("_create_date".into(), Value::String(now.to_owned()));
    fields.insert("_last_update".into(), Value::String(now.to_owned()));
    let text = serde_json::to_string(&fields).map_err(|e| encode_error(e.to_string()))?;
    check_reads_back::<T>(&text).map_err(encode_error)?;
    Ok(text)
}

/// Decodes `text` into `T` exactly as every reader does (`find_*`, restore),
/// and says why it failed, if it did.
///
/// serde_json writes values it cannot read: NaN and infinite floats become
/// `null`, and nothing limits the nesting it writes while it reads at most
/// 128 levels. Such a record would fail every read, and a backup copying it
/// could never be restored, so `save` refuses it instead. The cost is one
/// decode of the record per save, the same as reading it once.
fn check_reads_back<T: Storable>(text: &str) -> std::result::Result<(), String> {
    let Err(e) = serde_json::from_str::<T>(text) else {
        return Ok(());
    };
    // serde_json's messages say what failed, not why the value was written
    // that way; name the two known causes when the message matches one.
    let message = e.to_string();
    let hint = if message.starts_with("invalid type: null") {
        " (serde_json writes NaN or infinite floats as null)"
    } else if message.starts_with("recursion limit exceeded") {
        " (serde_json reads JSON nested at most 128 levels deep)"
    } else {
        ""
    };
    Err(format!("the value would not read back: {message}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_chars() {
        let id = new_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(id, new_id());
    }

    #[test]
    fn timestamps_use_gludbs_format() {
        let t = time::macros::datetime!(2026-11-27 02:03:04.000123 UTC);
        assert_eq!(format_timestamp(t), "UTC:2026-11-27T02:03:04.000123");
    }
}
