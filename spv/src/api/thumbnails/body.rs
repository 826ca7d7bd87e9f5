//! [`ThumbnailBody`], the JSON body of `POST /api/v1/thumbnails`: read by the server,
//! written by `spv-client`, one definition for both.

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{ImageFormat, ThumbnailSize};
use crate::{Error, Result};

/// The JSON body of `POST /api/v1/thumbnails`.
///
/// Size: either `size` (the longer side) or `width` and `height` (with `fit`); neither
/// means `size` 256.
///
/// ```
/// use spv::api::{ThumbnailBody, ThumbnailSize, ThumbnailSource};
///
/// let body = ThumbnailBody::inline(br#"{"format":"glyph"}"#).with_size(ThumbnailSize::Longest { size: 64 });
/// let json = serde_json::to_string(&body).unwrap();
/// assert_eq!(json, r#"{"document":"eyJmb3JtYXQiOiJnbHlwaCJ9","page":0,"size":64,"lenient":false}"#);
/// let back: ThumbnailBody = serde_json::from_str(&json).unwrap();
/// assert!(matches!(back.source().unwrap(), ThumbnailSource::Inline(bytes) if &*bytes == br#"{"format":"glyph"}"#));
/// assert_eq!(back.size().unwrap(), ThumbnailSize::Longest { size: 64 });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThumbnailBody {
    /// The `.glyph` document: its JSON inline as an object, a base64 string of a `.glyph`
    /// file (JSON or package), or the id (a hyphenated UUID) of a stored document the
    /// caller may read, rendered through the same caches and with the same ETags as
    /// `GET /api/v1/documents/{id}/thumbnail`.
    #[cfg_attr(feature = "http", schema(value_type = Object))]
    pub document: serde_json::Value,
    /// Zero-based page index (default 0).
    #[serde(default, deserialize_with = "crate::api::whole::usize")]
    pub page: usize,
    /// The longer side in pixels (default 256).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::whole::option_u32"
    )]
    pub size: Option<u32>,
    /// Box width in pixels (with `height`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::whole::option_u32"
    )]
    pub width: Option<u32>,
    /// Box height in pixels (with `width`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::whole::option_u32"
    )]
    pub height: Option<u32>,
    /// How the page fits the box: `contain` (default), `cover` or `fill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(example = "contain"))]
    pub fit: Option<String>,
    /// `png` (default), `webp`, `jpeg` or `auto` (WebP when `Accept` allows it, else PNG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(example = "auto"))]
    pub format: Option<String>,
    /// Paint placeholders for missing assets instead of failing.
    #[serde(default)]
    pub lenient: bool,
}

/// Where the document of a [`ThumbnailBody`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThumbnailSource {
    /// A `.glyph` file's bytes, sent in the request.
    Inline(Arc<[u8]>),
    /// A stored document, by id.
    #[cfg(feature = "api")]
    Stored(uuid::Uuid),
}

impl ThumbnailBody {
    /// A body carrying the `.glyph` file `bytes` (as base64), page 0 at 256 px as PNG.
    pub fn inline(bytes: &[u8]) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        ThumbnailBody {
            document: serde_json::Value::String(encoded),
            ..ThumbnailBody::default()
        }
    }

    /// A body naming the stored document `id`, page 0 at 256 px as PNG.
    #[cfg(feature = "api")]
    pub fn stored(id: uuid::Uuid) -> Self {
        ThumbnailBody {
            document: serde_json::Value::String(id.hyphenated().to_string()),
            ..ThumbnailBody::default()
        }
    }

    /// Sets `size`, or `width`, `height` and `fit`.
    pub fn with_size(mut self, size: ThumbnailSize) -> Self {
        let (longest, width, height, fit) = size.fields();
        self.size = longest;
        self.width = width;
        self.height = height;
        self.fit = fit.map(str::to_owned);
        self
    }

    /// Sets the format.
    pub fn with_format(mut self, format: ImageFormat) -> Self {
        self.format = Some(format.extension().to_owned());
        self
    }

    /// The document: the inline JSON re-encoded, the decoded base64 file, or a stored
    /// document's id. Anything else is refused, naming what was found.
    pub fn source(&self) -> Result<ThumbnailSource> {
        match &self.document {
            serde_json::Value::Object(_) => serde_json::to_vec(&self.document)
                .map(|bytes| ThumbnailSource::Inline(bytes.into()))
                .map_err(|e| Error::internal(format!("re-encoding the document failed: {e}"))),
            serde_json::Value::String(text) => {
                // A hyphenated UUID is never base64: `-` is not in its alphabet.
                #[cfg(feature = "api")]
                if text.len() == 36
                    && let Ok(id) = uuid::Uuid::try_parse(text)
                {
                    return Ok(ThumbnailSource::Stored(id));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map(|bytes| ThumbnailSource::Inline(bytes.into()))
                    .map_err(|e| {
                        Error::invalid_request(format!(
                            "document: the string is neither a document id (a UUID) nor valid base64 ({e}); {EXPECTED}"
                        ))
                    })
            }
            other => Err(Error::invalid_request(format!(
                "document: got {}; {EXPECTED}",
                json_type(other)
            ))),
        }
    }

    /// The size the body asks for (see [`ThumbnailSize::from_fields`]).
    pub fn size(&self) -> Result<ThumbnailSize> {
        ThumbnailSize::from_fields(self.size, self.width, self.height, self.fit.as_deref())
    }
}

/// What `document` may be, for messages.
const EXPECTED: &str =
    "expected a .glyph JSON object, a base64 .glyph file or a stored document's id";

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(document: serde_json::Value) -> ThumbnailBody {
        ThumbnailBody {
            document,
            ..ThumbnailBody::default()
        }
    }

    #[test]
    fn documents_inline_base64_or_stored() {
        let inline = body(serde_json::json!({"format": "glyph"}));
        assert_eq!(
            inline.source().unwrap(),
            ThumbnailSource::Inline(Arc::from(&br#"{"format":"glyph"}"#[..]))
        );
        let encoded = body(serde_json::json!("eyJhIjoxfQ=="));
        assert_eq!(
            encoded.source().unwrap(),
            ThumbnailSource::Inline(Arc::from(&br#"{"a":1}"#[..]))
        );
        assert!(body(serde_json::json!("%%%")).source().is_err());
        let err = body(serde_json::json!(3)).source().unwrap_err();
        assert!(
            err.to_string().starts_with("document: got a number"),
            "{err}"
        );
    }

    #[cfg(feature = "api")]
    #[test]
    fn a_hyphenated_uuid_names_a_stored_document() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            ThumbnailBody::stored(id).source().unwrap(),
            ThumbnailSource::Stored(id)
        );
        // The simple form is 32 base64 digits: read as base64, as before.
        let simple = body(serde_json::json!(id.simple().to_string()));
        assert!(matches!(
            simple.source().unwrap(),
            ThumbnailSource::Inline(_)
        ));
    }
}
