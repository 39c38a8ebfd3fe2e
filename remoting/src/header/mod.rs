//! Typed request and response headers. Each header is a plain struct whose fields map to
//! ext-field keys spelled exactly as the Java header classes spell them.
//!
//! Reading follows Java's `decodeCommandCustomHeader`: a required field that is missing is
//! an error, optional fields may be absent, and keys the header does not know are ignored.
//! Unlike Java, a value that does not parse (say `queueId=abc`) is an error rather than a
//! silent default, so the client gets a clear remark.

use crate::command::ExtFields;

pub mod admin;
pub mod broker;
pub mod namesrv;
pub mod pop;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("the custom field <{0}> is null")]
    Missing(&'static str),
    #[error("the custom field <{field}> has an invalid value {value:?}: expected {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A header that can be read from and written to ext fields.
pub trait CommandHeader: Sized {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError>;
    fn write_ext(&self, ext: &mut ExtFields);
}

/// A scalar header field type, parsed the way Java parses header fields.
pub trait FieldValue: Sized {
    const EXPECTED: &'static str;
    fn parse_field(text: &str) -> Option<Self>;
    fn to_field(&self) -> String;
}

impl FieldValue for String {
    const EXPECTED: &'static str = "a string";
    fn parse_field(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn to_field(&self) -> String {
        self.clone()
    }
}

macro_rules! integer_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const EXPECTED: &'static str = "an integer";
            fn parse_field(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn to_field(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
integer_field!(i32, i64);

impl FieldValue for bool {
    const EXPECTED: &'static str = "a boolean";
    /// Java's `Boolean.parseBoolean`: "true" in any case is true, anything else false.
    fn parse_field(text: &str) -> Option<Self> {
        Some(text.trim().eq_ignore_ascii_case("true"))
    }
    fn to_field(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for f64 {
    const EXPECTED: &'static str = "a number";
    fn parse_field(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn to_field(&self) -> String {
        self.to_string()
    }
}

#[doc(hidden)]
pub fn read_required<T: FieldValue>(ext: &ExtFields, key: &'static str) -> Result<T, HeaderError> {
    read_optional(ext, key)?.ok_or(HeaderError::Missing(key))
}

#[doc(hidden)]
pub fn read_optional<T: FieldValue>(ext: &ExtFields, key: &'static str) -> Result<Option<T>, HeaderError> {
    match ext.get(key) {
        None => Ok(None),
        Some(text) => T::parse_field(text).map(Some).ok_or_else(|| HeaderError::Invalid {
            field: key,
            value: text.to_string(),
            expected: T::EXPECTED,
        }),
    }
}

/// Declares a header struct. `req` fields must be present; `opt` fields are `Option`s.
/// The string after `=` is the ext-field key, exactly as Java names the field.
#[macro_export]
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $kind:ident $field:ident : $ty:ty = $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( pub $field: $crate::command_header!(@type $kind $ty), )*
        }

        impl $crate::header::CommandHeader for $name {
            fn from_ext(ext: &$crate::command::ExtFields) -> Result<Self, $crate::header::HeaderError> {
                Ok($name {
                    $( $field: $crate::command_header!(@read $kind ext $key), )*
                })
            }

            #[allow(unused_variables)]
            fn write_ext(&self, ext: &mut $crate::command::ExtFields) {
                $( $crate::command_header!(@write $kind self.$field, ext, $key); )*
            }
        }
    };
    (@type req $ty:ty) => { $ty };
    (@type opt $ty:ty) => { Option<$ty> };
    (@read req $ext:ident $key:literal) => { $crate::header::read_required($ext, $key)? };
    (@read opt $ext:ident $key:literal) => { $crate::header::read_optional($ext, $key)? };
    (@write req $value:expr, $ext:ident, $key:literal) => {
        $ext.insert($key, $crate::header::FieldValue::to_field(&$value));
    };
    (@write opt $value:expr, $ext:ident, $key:literal) => {
        if let Some(v) = &$value {
            $ext.insert($key, $crate::header::FieldValue::to_field(v));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    command_header! {
        pub struct Sample {
            req topic: String = "topic",
            req queue_id: i32 = "queueId",
            opt flag: bool = "flag",
        }
    }

    #[test]
    fn reads_known_fields_and_ignores_unknown_ones() {
        let ext: ExtFields = [("topic", "T"), ("queueId", "3"), ("AccessKey", "x")]
            .into_iter()
            .collect();
        let h = Sample::from_ext(&ext).unwrap();
        assert_eq!(h.topic, "T");
        assert_eq!(h.queue_id, 3);
        assert_eq!(h.flag, None);
    }

    #[test]
    fn missing_and_invalid_fields_are_errors() {
        let ext: ExtFields = [("topic", "T")].into_iter().collect();
        assert_eq!(Sample::from_ext(&ext), Err(HeaderError::Missing("queueId")));
        let ext: ExtFields = [("topic", "T"), ("queueId", "abc")].into_iter().collect();
        let err = Sample::from_ext(&ext).unwrap_err().to_string();
        assert!(err.contains("queueId") && err.contains("abc"), "{err}");
    }

    #[test]
    fn writes_fields_with_java_names() {
        let h = Sample {
            topic: "T".into(),
            queue_id: 1,
            flag: Some(true),
        };
        let mut ext = ExtFields::new();
        h.write_ext(&mut ext);
        assert_eq!(ext.get("queueId"), Some("1"));
        assert_eq!(ext.get("flag"), Some("true"));
    }
}
