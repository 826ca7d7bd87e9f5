//! Assets over HTTP: streamed uploads, downloads whole or into a writer, metadata,
//! lists and deletion.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use reqwest::header::{CONTENT_TYPE, ETAG};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use spv::api::{
    Asset, AssetContent, AssetList, DeleteAsset, GetAsset, GetAssetMeta, ListAssets, UploadAsset,
    UploadedAsset,
};
use spv::{Error, ErrorKind, Result};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use crate::Client;
use crate::call::Call;
use crate::response::{copy_limited, header_text, read_json};
use crate::service::remote_service;

/// The size of the chunks an upload is read and sent in.
const UPLOAD_CHUNK: usize = 64 * 1024;

fn asset_path(id: Uuid) -> String {
    format!("/api/v1/assets/{id}")
}

/// When an upload last moved, and whether its body has ended.
struct Progress(Mutex<(Instant, bool)>);

impl Progress {
    fn touch(&self, done: bool) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *state = (Instant::now(), state.1 || done);
    }

    fn get(&self) -> (Instant, bool) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The upload's body: `reader` in chunks, recording progress (and the end).
fn body_stream(
    reader: Box<dyn AsyncRead + Send + Unpin>,
    progress: Arc<Progress>,
) -> impl Stream<Item = io::Result<bytes::Bytes>> + Send + 'static {
    let chunks = ReaderStream::with_capacity(reader, UPLOAD_CHUNK);
    futures_util::stream::unfold((chunks, progress), |(mut chunks, progress)| async move {
        match chunks.next().await {
            Some(chunk) => {
                progress.touch(false);
                Some((chunk, (chunks, progress)))
            }
            None => {
                progress.touch(true);
                None
            }
        }
    })
}

/// Completes with an error once nothing moved for `idle`: neither a chunk of the body
/// taken by the connection nor, after the body ended, an answer.
async fn watchdog(progress: Arc<Progress>, idle: Duration) -> Error {
    loop {
        let (last, done) = progress.get();
        let quiet = last.elapsed();
        if quiet >= idle {
            let what = if done {
                format!("the server did not answer the upload within {idle:?}")
            } else {
                format!("the upload stalled: nothing was sent for {idle:?}")
            };
            return Error::new(ErrorKind::Io, what);
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

impl Client {
    async fn upload_asset(&self, request: UploadAsset) -> Result<UploadedAsset> {
        // A fresh token first: a streamed body cannot be sent again after a 401.
        self.inner.auth.bearer(self).await?;
        let idle = self.inner.timeout;
        let progress = Arc::new(Progress(Mutex::new((Instant::now(), false))));
        let stream = body_stream(request.body, progress.clone());
        let call = Call::new(Method::POST, "/api/v1/assets")
            .query("filename", request.filename.as_deref())
            .header(CONTENT_TYPE, Some("application/octet-stream"))?
            .stream(reqwest::Body::wrap_stream(stream));
        let answer = async {
            let response = self.send(call).await?;
            let created = response.status() == StatusCode::CREATED;
            let asset: Asset = read_json(response).await?;
            Ok(UploadedAsset { asset, created })
        };
        tokio::select! {
            answer = answer => answer,
            error = watchdog(progress, idle) => Err(error),
        }
    }

    async fn asset_meta(&self, request: GetAssetMeta) -> Result<Asset> {
        let call = Call::new(Method::GET, format!("{}/meta", asset_path(request.id)));
        self.json(call).await
    }

    async fn asset_content(&self, request: GetAsset) -> Result<AssetContent> {
        let (headers, bytes) = self
            .bytes(Call::new(Method::GET, asset_path(request.id)))
            .await?;
        let asset = self
            .asset_meta(GetAssetMeta {
                principal: request.principal,
                id: request.id,
            })
            .await?;
        // The bytes of an id never change; these checks catch a broken transfer or proxy.
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let etag_ok = header_text(&headers, ETAG).is_none_or(|etag| etag == asset.etag());
        if sha256 != asset.sha256 || !etag_ok {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "asset {}: the bytes received do not match its sha256 {}",
                    asset.id, asset.sha256
                ),
            ));
        }
        Ok(AssetContent { asset, bytes })
    }

    async fn list_assets(&self, request: ListAssets) -> Result<AssetList> {
        let call = Call::new(Method::GET, "/api/v1/assets")
            .query("page", request.page)
            .query("perPage", request.per_page);
        self.json(call).await
    }

    async fn delete_asset(&self, request: DeleteAsset) -> Result<()> {
        self.empty(Call::new(Method::DELETE, asset_path(request.id)))
            .await
    }

    /// Writes the bytes of asset `id` into `writer` as they arrive (never held whole),
    /// flushing at the end; answers how many were written. At most the client's
    /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes); fails when no
    /// bytes arrive for the client's timeout. On an error part of the asset may have
    /// been written.
    pub async fn download_asset<W>(&self, id: Uuid, writer: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let call = Call::new(Method::GET, asset_path(id)).streamed_answer();
        let response = self.send(call).await?;
        copy_limited(
            response,
            writer,
            self.inner.max_response_bytes,
            self.inner.timeout,
        )
        .await
    }
}

remote_service! {
    UploadAsset => UploadedAsset, upload_asset;
    GetAssetMeta => Asset, asset_meta;
    GetAsset => AssetContent, asset_content;
    ListAssets => AssetList, list_assets;
    DeleteAsset => (), delete_asset;
}
