//! Thumbnails over HTTP: `POST /api/v1/thumbnails` (a document in the body) and the
//! cached `GET /api/v1/documents/{id}/thumbnail`.

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH};
use spv::api::{
    CachedImage, DocumentInput, DocumentThumbnail, GetDocument, GetDocumentThumbnail, ImageFormat,
    RenderThumbnail, Thumbnail, ThumbnailBody, ThumbnailSize,
};
use spv::glyph::{Loaded, Package};
use spv::{Error, ErrorKind, Result};

use crate::Client;
use crate::call::Call;
use crate::image_size::image_size;
use crate::response::header_text;
use crate::service::remote_service;

/// The `.glyph` bytes of a parsed document: its JSON, re-packed with the package's files
/// when it came in one.
fn loaded_bytes(loaded: &Loaded) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(&loaded.document)
        .map_err(|e| Error::internal(format!("encoding the document failed: {e}")))?;
    let Some(package) = &loaded.package else {
        return Ok(json);
    };
    let files: Vec<(&str, &[u8])> = package
        .paths()
        .filter_map(|path| package.get(path).map(|bytes| (path, bytes.as_ref())))
        .collect();
    Package::write(&json, &files)
}

/// The format of an image answer: its `Content-Type`, else the one asked for.
fn answered_format(headers: &HeaderMap, asked: ImageFormat) -> ImageFormat {
    header_text(headers, CONTENT_TYPE)
        .and_then(|ct| {
            ImageFormat::ALL.into_iter().find(|f| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim() == f.content_type())
            })
        })
        .unwrap_or(asked)
}

/// The size of an answered image, from its header; a box size when the header is not
/// readable and the box is exact.
fn answered_size(format: ImageFormat, bytes: &[u8], asked: ThumbnailSize) -> Result<(u32, u32)> {
    if let Some(size) = image_size(format, bytes) {
        return Ok(size);
    }
    match asked {
        ThumbnailSize::Box { width, height, .. } => Ok((width, height)),
        ThumbnailSize::Longest { .. } => Err(Error::new(
            ErrorKind::Internal,
            format!(
                "the server's {} image ({} bytes) has no readable size in its header",
                format.extension(),
                bytes.len()
            ),
        )),
    }
}

/// The query of `GET /api/v1/documents/{id}/thumbnail` for `request`, in the order it is
/// sent.
fn thumbnail_query(request: &GetDocumentThumbnail) -> Vec<(&'static str, String)> {
    let (size, width, height, fit) = request.size.fields();
    let pairs = [
        ("page", Some(request.page.to_string())),
        ("size", size.map(|v| v.to_string())),
        ("width", width.map(|v| v.to_string())),
        ("height", height.map(|v| v.to_string())),
        ("fit", fit.map(|v| v.to_string())),
        ("format", Some(request.format.extension().to_owned())),
        ("lenient", Some(request.lenient.to_string())),
    ];
    pairs
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
}

impl Client {
    /// A signed URL of a stored document's thumbnail (`request`'s id, page, size, format
    /// and `lenient`; its principal and `If-None-Match` are not part of a URL): anyone
    /// holding it, a CDN say, gets that thumbnail until `expires` without a credential.
    /// `keys` are the server's `SPV_URL_SIGNING_KEYS` (the first signs).
    ///
    /// ```
    /// use spv_client::{Client, SigningKeys};
    /// use spv_client::api::GetDocumentThumbnail;
    ///
    /// let keys: SigningKeys = "ab".repeat(32).parse().unwrap();
    /// let client = Client::builder("https://spv.example/spv").build().unwrap();
    /// let id = uuid::Uuid::nil();
    /// let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
    /// let url = client
    ///     .signed_thumbnail_url(&GetDocumentThumbnail::new(None, id), &keys, expires)
    ///     .unwrap();
    /// assert!(url.starts_with(&format!(
    ///     "https://spv.example/spv/api/v1/documents/{id}/thumbnail?page=0&size=256&format=png\
    ///      &lenient=false&expires=2000000000&signature="
    /// )), "{url}");
    /// ```
    pub fn signed_thumbnail_url(
        &self,
        request: &GetDocumentThumbnail,
        keys: &crate::SigningKeys,
        expires: std::time::SystemTime,
    ) -> Result<String> {
        let expires = expires
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Error::invalid_request("expires: before 1970"))?
            .as_secs();
        let path = format!("/api/v1/documents/{}/thumbnail", request.id);
        let url = self.url(&path, &thumbnail_query(request))?;
        keys.sign(url.as_str(), expires)
    }

    async fn render_thumbnail(&self, request: RenderThumbnail) -> Result<Thumbnail> {
        if request.assets.is_some() {
            return Err(Error::invalid_request(
                "assets: an asset resolver cannot travel to a server; upload the assets \
                 (UploadAsset) and refer to them as `sha256:<hex>` sources",
            ));
        }
        let bytes = match &request.document {
            DocumentInput::Bytes(bytes) => ThumbnailBody::inline(bytes),
            DocumentInput::Loaded(loaded) => ThumbnailBody::inline(&loaded_bytes(loaded)?),
        };
        let body = ThumbnailBody {
            page: request.page,
            lenient: request.lenient,
            ..bytes.with_size(request.size).with_format(request.format)
        };
        // Rendering changes nothing on the server, so it is repeated like a GET when the
        // render pool is saturated (503 with Retry-After).
        let call = Call::new(Method::POST, "/api/v1/thumbnails")
            .json(&body)?
            .idempotent();
        let (headers, bytes) = self.bytes(call).await?;
        let format = answered_format(&headers, request.format);
        let (width, height) = answered_size(format, &bytes, request.size)?;
        Ok(Thumbnail {
            bytes,
            width,
            height,
            format,
            warnings: Vec::new(),
            timing: Default::default(),
        })
    }

    async fn document_thumbnail(&self, request: GetDocumentThumbnail) -> Result<DocumentThumbnail> {
        let mut call = Call::new(
            Method::GET,
            format!("/api/v1/documents/{}/thumbnail", request.id),
        );
        for (name, value) in thumbnail_query(&request) {
            call = call.query(name, Some(value));
        }
        let call = call.header(IF_NONE_MATCH, request.if_none_match.as_deref())?;
        let (thumbnail, document) = futures_util::future::try_join(
            async {
                let response = self.send(call).await?;
                let not_modified = response.status() == reqwest::StatusCode::NOT_MODIFIED;
                let headers = response.headers().clone();
                let bytes = if not_modified {
                    None
                } else {
                    let limit = self.inner.max_response_bytes;
                    Some(crate::response::read_limited(response, limit, "thumbnail").await?)
                };
                Ok((headers, bytes))
            },
            self.get_document(GetDocument {
                principal: None,
                id: request.id,
            }),
        )
        .await?;
        let (headers, bytes) = thumbnail;
        let image = match bytes {
            None => None,
            Some(bytes) => {
                let format = answered_format(&headers, request.format);
                let (width, height) = answered_size(format, &bytes, request.size)?;
                Some(CachedImage {
                    bytes: Arc::from(bytes),
                    format,
                    width,
                    height,
                    warnings: Vec::new(),
                })
            }
        };
        Ok(DocumentThumbnail {
            document: Some(document),
            etag: header_text(&headers, ETAG),
            image,
            memory_hit: None,
            blob_hit: None,
            rendered: None,
        })
    }
}

remote_service! {
    RenderThumbnail => Thumbnail, render_thumbnail;
    GetDocumentThumbnail => DocumentThumbnail, document_thumbnail;
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use spv::glyph::ImageFit;

    use super::*;

    #[test]
    fn the_format_comes_from_the_content_type() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            answered_format(&headers, ImageFormat::Jpeg),
            ImageFormat::Jpeg
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/webp"));
        assert_eq!(
            answered_format(&headers, ImageFormat::Png),
            ImageFormat::Webp
        );
    }

    #[test]
    fn an_unreadable_image_size_is_an_error_unless_the_box_is_known() {
        let err = answered_size(
            ImageFormat::Png,
            b"nope",
            ThumbnailSize::Longest { size: 5 },
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        let boxed = ThumbnailSize::Box {
            width: 3,
            height: 4,
            fit: ImageFit::Fill,
        };
        assert_eq!(
            answered_size(ImageFormat::Png, b"nope", boxed).unwrap(),
            (3, 4)
        );
    }
}
