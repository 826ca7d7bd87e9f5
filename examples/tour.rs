//! The tour of `examples/client.rs`, written once against a [`Client`] so that the example
//! and its test (`examples/tests/client.rs`) run the same code.

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use spv::api::{
    CreateDocument, Document, EnqueueRender, Job, JobState, RenderJobResult, RenderJobSpec,
    RenderThumbnail, Thumbnail, ThumbnailSize, WatchJob,
};
use spv::{Error, ErrorKind, Result};
use spv_client::Client;

/// What [`tour`] did.
#[derive(Debug)]
pub struct Tour {
    /// The stored document.
    pub document: Document,
    /// Its first page rendered at 256 px in the request (`POST /api/v1/thumbnails`).
    pub thumbnail: Thumbnail,
    /// The render job, as it finished.
    pub job: Job,
    /// The files written: the thumbnail, then each output of the job.
    pub files: Vec<PathBuf>,
}

/// Stores `document` on the server, renders its first page, enqueues a render job of
/// every page at 64 and 256 px, follows it (`progress` sees each event), and downloads
/// everything into `out_dir`.
pub async fn tour(
    client: &Client,
    document: &[u8],
    out_dir: &Path,
    mut progress: impl FnMut(&Job),
) -> Result<Tour> {
    let mut create = CreateDocument::new(Default::default(), document);
    create.tags = vec!["client-example".to_owned()];
    let stored = client.call_service(create).await?;

    let thumbnail = client
        .call_service(
            RenderThumbnail::new(document.to_vec()).size(ThumbnailSize::Longest { size: 256 }),
        )
        .await?;
    let thumbnail_path = out_dir.join(format!("thumbnail.{}", thumbnail.format.extension()));
    tokio::fs::write(&thumbnail_path, &thumbnail.bytes).await?;
    let mut files = vec![thumbnail_path];

    let mut spec = RenderJobSpec::new(stored.id);
    spec.sizes = vec![64, 256];
    let enqueued = client
        .call_service(EnqueueRender {
            principal: Default::default(),
            spec,
            // Safe to retry: the server answers a repeated key with the first job.
            idempotency_key: Some(format!("client-example-{}", stored.id)),
        })
        .await?;
    let mut events = client
        .call_service(WatchJob {
            principal: Default::default(),
            id: enqueued.id,
        })
        .await?;
    let mut job = enqueued;
    while let Some(event) = events.next().await {
        job = event?;
        progress(&job);
    }
    if job.state != JobState::Succeeded {
        return Err(Error::new(
            ErrorKind::Internal,
            format!(
                "job {} ended {}: {}",
                job.id,
                job.state.as_str(),
                job.error.as_deref().unwrap_or("no error given")
            ),
        ));
    }
    let result: RenderJobResult = job
        .result
        .clone()
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or_else(|| Error::internal(format!("job {} has no render result", job.id)))?;
    for output in &result.outputs {
        let path = out_dir.join(format!(
            "page{}-{}.{}",
            output.page,
            output.size,
            output.format.extension()
        ));
        let mut file = tokio::fs::File::create(&path).await?;
        client
            .download_job_output(job.id, output.index, &mut file)
            .await?;
        files.push(path);
    }
    Ok(Tour {
        document: stored,
        thumbnail,
        job,
        files,
    })
}
