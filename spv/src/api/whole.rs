//! Whole numbers as JSON Schema's `integer` reads them: `3` and `3.0` alike.
//!
//! serde refuses `3.0` for an integer field, but JSON (and so a client generated from the
//! OpenAPI document) may write any whole number with a fraction of zero. The fields of
//! request bodies that count things use these with `#[serde(deserialize_with = ..)]`.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Body {
//!     #[serde(deserialize_with = "spv::api::whole::usize")]
//!     page: usize,
//! }
//! let body: Body = serde_json::from_str(r#"{"page": 2.0}"#).unwrap();
//! assert_eq!(body.page, 2);
//! assert!(serde_json::from_str::<Body>(r#"{"page": 2.5}"#).is_err());
//! assert!(serde_json::from_str::<Body>(r#"{"page": -1}"#).is_err());
//! ```

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A whole number from 0 to `u64::MAX`, written with or without a zero fraction.
struct Whole(u64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WholeVisitor;
        impl Visitor<'_> for WholeVisitor {
            type Value = Whole;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number >= 0")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole, E> {
                Ok(Whole(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole, E> {
                u64::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Whole, E> {
                // 2^64 as f64: every whole float below it fits a u64.
                const LIMIT: f64 = 18_446_744_073_709_551_616.0;
                if v.fract() == 0.0 && (0.0..LIMIT).contains(&v) {
                    // Whole and in range, so the cast is exact.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Ok(Whole(v as u64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(WholeVisitor)
    }
}

fn narrow<T: TryFrom<u64>, E: de::Error>(Whole(v): Whole) -> Result<T, E> {
    T::try_from(v).map_err(|_| {
        E::invalid_value(
            de::Unexpected::Unsigned(v),
            &format!(
                "a whole number of at most {} bits",
                std::mem::size_of::<T>() * 8
            )
            .as_str(),
        )
    })
}

/// A `usize`, `3` or `3.0`.
pub fn usize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    narrow(Whole::deserialize(deserializer)?)
}

/// An optional `u32`, `3` or `3.0`.
pub fn option_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<Whole>::deserialize(deserializer)?
        .map(narrow)
        .transpose()
}

/// A list of `usize`, each `3` or `3.0`.
pub fn vec_usize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<usize>, D::Error> {
    Vec::<Whole>::deserialize(deserializer)?
        .into_iter()
        .map(narrow)
        .collect()
}

/// A list of `u32`, each `3` or `3.0`.
pub fn vec_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u32>, D::Error> {
    Vec::<Whole>::deserialize(deserializer)?
        .into_iter()
        .map(narrow)
        .collect()
}
