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
    /// Calls `f` with the field's text, without allocating it where the type allows.
    fn with_field<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.to_field())
    }
}

impl FieldValue for String {
    const EXPECTED: &'static str = "a string";
    fn parse_field(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn to_field(&self) -> String {
        self.clone()
    }
    fn with_field<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(self)
    }
}

macro_rules! integer_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const EXPECTED: &'static str = "an integer";
            fn parse_field(text: &str) -> Option<Self> {
                crate::text::parse_int(text)
            }
            fn to_field(&self) -> String {
                self.to_string()
            }
            fn with_field<R>(&self, f: impl FnOnce(&str) -> R) -> R {
                f(crate::text::decimal(i64::from(*self), &mut [0; 20]))
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
    fn with_field<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(if *self { "true" } else { "false" })
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
pub fn parse_required<T: FieldValue>(text: Option<&str>, key: &'static str) -> Result<T, HeaderError> {
    parse_optional(text, key)?.ok_or(HeaderError::Missing(key))
}

#[doc(hidden)]
pub fn parse_optional<T: FieldValue>(text: Option<&str>, key: &'static str) -> Result<Option<T>, HeaderError> {
    match text {
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
                // One pass over the fields, each key matched against this header's keys
                // (compiled to length and constant-byte compares), rather than one search
                // of the fields per key.
                $( let mut $field: Option<&str> = None; )*
                for (key, value) in ext.iter() {
                    match key {
                        $( $key => $field = Some(value), )*
                        _ => {}
                    }
                }
                Ok($name {
                    $( $field: $crate::command_header!(@read $kind $field $key), )*
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
    (@read req $text:ident $key:literal) => { $crate::header::parse_required($text, $key)? };
    (@read opt $text:ident $key:literal) => { $crate::header::parse_optional($text, $key)? };
    (@write req $value:expr, $ext:ident, $key:literal) => {
        $crate::header::FieldValue::with_field(&$value, |text| $ext.insert($key, text));
    };
    (@write opt $value:expr, $ext:ident, $key:literal) => {
        if let Some(v) = &$value {
            $crate::header::FieldValue::with_field(v, |text| $ext.insert($key, text));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_fields_write_the_same_text_as_to_string() {
        for v in [0i64, 7, -7, 10, 99, -100, 1 << 40, i64::MAX, i64::MIN, i32::MIN as i64] {
            assert_eq!(v.with_field(str::to_string), v.to_string());
        }
        for v in [0i32, -1, i32::MAX, i32::MIN] {
            assert_eq!(v.with_field(str::to_string), v.to_string());
        }
    }

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
