//! Render jobs: the checks of a [`RenderJobSpec`] and [`RenderHandler`], which renders
//! every page × size × format of a stored document into [`JobOutputs`].

use std::collections::HashSet;

use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

use super::handler::{JobContext, JobHandler, JobOutcome};
use super::outputs::{JobOutputs, output_href};
use crate::api::{
    GetContent, ImageFormat, JobOutput, MAX_JOB_OUTPUTS, Principal, RENDER_JOB_KIND,
    RenderJobResult, RenderJobSpec, Scopes, ThumbnailSize,
};
use crate::assets::Assets;
use crate::documents::Documents;
use crate::store::{BoxFuture, Db, db_err};
use crate::thumbnails::{Thumbnails, prepare};
use crate::{Error, ErrorKind, Result};

/// The most sizes of one render job.
pub const MAX_JOB_SIZES: usize = 32;
/// The most formats of one render job.
pub const MAX_JOB_FORMATS: usize = 4;

/// One image to make: page, size, format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) page: usize,
    pub(crate) size: u32,
    pub(crate) format: ImageFormat,
}

/// Checks `spec` against a document of `pages` pages and the largest size `max_size`,
/// and answers the images to make, in the order pages × sizes × formats. Errors are
/// [`ErrorKind::InvalidRequest`] naming the field.
pub(crate) fn plan(spec: &RenderJobSpec, pages: usize, max_size: u32) -> Result<Vec<Planned>> {
    let bad = |field: &str, message: String| Error::invalid_request(message).at(field);
    if spec.sizes.is_empty() || spec.sizes.len() > MAX_JOB_SIZES {
        return Err(bad(
            "sizes",
            format!(
                "sizes has {} entries: expected 1 to {MAX_JOB_SIZES}",
                spec.sizes.len()
            ),
        ));
    }
    if spec.formats.is_empty() || spec.formats.len() > MAX_JOB_FORMATS {
        return Err(bad(
            "formats",
            format!(
                "formats has {} entries: expected 1 to {MAX_JOB_FORMATS}",
                spec.formats.len()
            ),
        ));
    }
    if spec.pages.len() > MAX_JOB_OUTPUTS {
        return Err(bad(
            "pages",
            format!(
                "pages has {} entries: expected at most {MAX_JOB_OUTPUTS}",
                spec.pages.len()
            ),
        ));
    }
    for (i, &size) in spec.sizes.iter().enumerate() {
        if size == 0 || size > max_size {
            return Err(bad(
                &format!("sizes[{i}]"),
                format!("sizes[{i}] of {size} px is not valid: expected 1 to {max_size}"),
            ));
        }
    }
    duplicates("sizes", &spec.sizes)?;
    duplicates("formats", &spec.formats)?;
    duplicates("pages", &spec.pages)?;
    for (i, &page) in spec.pages.iter().enumerate() {
        if page >= pages {
            // As for a thumbnail: a page the document lacks is not found.
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "pages[{i}] is page {page}, which does not exist: the document has \
                     {pages} page(s), numbered from 0"
                ),
            )
            .at(format!("pages[{i}]")));
        }
    }
    let pages: Vec<usize> = if spec.pages.is_empty() {
        (0..pages).collect()
    } else {
        spec.pages.clone()
    };
    let total = pages.len() * spec.sizes.len() * spec.formats.len();
    if total > MAX_JOB_OUTPUTS {
        return Err(bad(
            "pages",
            format!(
                "pages × sizes × formats makes {total} images: expected at most \
                 {MAX_JOB_OUTPUTS} (ask for fewer pages, sizes or formats)"
            ),
        ));
    }
    if total == 0 {
        return Err(bad("pages", "the document has no pages to render".into()));
    }
    let mut planned = Vec::with_capacity(total);
    for &page in &pages {
        for &size in &spec.sizes {
            for &format in &spec.formats {
                planned.push(Planned { page, size, format });
            }
        }
    }
    Ok(planned)
}

fn duplicates<T: std::hash::Hash + Eq + std::fmt::Debug>(field: &str, items: &[T]) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(item) {
            return Err(Error::invalid_request(format!(
                "{field}[{i}] repeats {item:?}: expected each at most once"
            ))
            .at(format!("{field}[{i}]")));
        }
    }
    Ok(())
}

/// Runs render jobs ([`RENDER_JOB_KIND`]): reads the document as the job's owner (who
/// may have lost access since: then the job fails), parses it once on the render pool
/// with the owner's `sha256:` assets, renders each output through the shared
/// [`Thumbnails`] service (the same path as `DocumentThumbnails`), stores it in
/// [`JobOutputs`] and reports progress. Cancelling stops it before the next output.
#[derive(Debug, Clone)]
pub struct RenderHandler {
    thumbnails: Thumbnails,
    documents: Documents,
    assets: Option<Assets>,
    outputs: JobOutputs,
    users: Db,
}

impl RenderHandler {
    /// A handler rendering with `thumbnails` (its pool and largest size) the documents of
    /// `documents`, with `sha256:` assets from `assets` (`None`: documents using them
    /// render only leniently), into `outputs`. `users` is the database of the `users`
    /// table, to learn whether an owner is an admin.
    pub fn new(
        thumbnails: Thumbnails,
        documents: Documents,
        assets: Option<Assets>,
        outputs: JobOutputs,
        users: Db,
    ) -> Self {
        RenderHandler {
            thumbnails,
            documents,
            assets,
            outputs,
            users,
        }
    }

    /// The owner as a principal (admin flag from the `users` table), so that the
    /// documents service applies its own access rules.
    async fn owner(&self, owner: Uuid) -> Result<Principal> {
        let is_admin: Option<i64> = sqlx::query_scalar("SELECT is_admin FROM users WHERE id = $1")
            .bind(owner.to_string())
            .fetch_optional(self.users.pool())
            .await
            .map_err(db_err("looking up a job's owner"))?;
        let Some(is_admin) = is_admin else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("the job's owner {owner} no longer exists"),
            ));
        };
        Ok(Principal {
            user_id: owner,
            username: String::new(),
            is_admin: is_admin != 0,
            scopes: Scopes::all(),
        })
    }

    async fn render(&self, ctx: &JobContext) -> Result<JobOutcome> {
        let job = ctx.job();
        let spec: RenderJobSpec = serde_json::from_value(job.payload.clone()).map_err(|e| {
            Error::invalid_request(format!("the job's payload is not a render spec: {e}"))
        })?;
        let owner = job.owner_id.ok_or_else(|| {
            Error::invalid_request("a render job needs an owner: it was enqueued without one")
        })?;
        let principal = self.owner(owner).await?;
        let content = self
            .documents
            .content(GetContent {
                principal: Some(principal),
                id: spec.document,
            })
            .await?;
        let document = content.document;
        let planned = plan(&spec, document.pages.len(), self.thumbnails.max_size())?;
        if ctx.should_stop().await? {
            return Ok(JobOutcome::Stopped);
        }
        let prepared = prepare(
            &self.thumbnails,
            self.assets.as_ref(),
            document.owner_id,
            content.bytes.into(),
        )
        .await?;
        let total = planned.len();
        let mut outputs = Vec::with_capacity(total);
        let mut warnings: Vec<String> = Vec::new();
        for (index, item) in planned.iter().enumerate() {
            if ctx.should_stop().await? {
                return Ok(JobOutcome::Stopped);
            }
            let size = ThumbnailSize::Longest { size: item.size };
            let request = prepared.request(item.page, size, item.format, spec.lenient);
            let thumbnail = self.thumbnails.clone().oneshot(request).await?;
            // A cancel during the render stores nothing more.
            if ctx.should_stop().await? {
                return Ok(JobOutcome::Stopped);
            }
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let output = JobOutput {
                index,
                page: item.page,
                size: item.size,
                format: item.format,
                width: thumbnail.width,
                height: thumbnail.height,
                byte_size: thumbnail.bytes.len() as u64,
                href: output_href(job.id, index),
            };
            self.outputs.put(job.id, &output, &thumbnail.bytes).await?;
            for warning in thumbnail.warnings {
                if !warnings.contains(&warning) && warnings.len() < 100 {
                    warnings.push(warning);
                }
            }
            outputs.push(output);
            let done = outputs.len();
            let message = format!(
                "page {} of {}, {} px {}",
                item.page + 1,
                document.pages.len(),
                item.size,
                item.format.extension()
            );
            if !ctx.progress(done as f32 / total as f32, &message).await? {
                // The claim was lost: another worker has the job now.
                return Ok(JobOutcome::Stopped);
            }
        }
        let result = RenderJobResult { outputs, warnings };
        let value = serde_json::to_value(&result)
            .map_err(|e| Error::internal(format!("encoding a render job's result: {e}")))?;
        Ok(JobOutcome::Done(value))
    }
}

impl JobHandler for RenderHandler {
    fn kind(&self) -> &str {
        RENDER_JOB_KIND
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, JobOutcome> {
        Box::pin(self.render(ctx))
    }
}

/// The payload of a render job: the spec as JSON.
pub(crate) fn payload(spec: &RenderJobSpec) -> Result<Value> {
    serde_json::to_value(spec).map_err(|e| Error::internal(format!("encoding a render spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pages: Vec<usize>, sizes: Vec<u32>, formats: Vec<ImageFormat>) -> RenderJobSpec {
        RenderJobSpec {
            pages,
            sizes,
            formats,
            ..RenderJobSpec::new(Uuid::nil())
        }
    }

    #[test]
    fn plans_pages_by_sizes_by_formats() {
        let both = vec![ImageFormat::Png, ImageFormat::Webp];
        let planned = plan(&spec(vec![], vec![64, 128], both), 2, 4096).unwrap();
        assert_eq!(planned.len(), 8);
        let first = Planned {
            page: 0,
            size: 64,
            format: ImageFormat::Png,
        };
        assert_eq!(planned[0], first);
        assert_eq!(
            planned[1],
            Planned {
                format: ImageFormat::Webp,
                ..first
            }
        );
        assert_eq!((planned[4].page, planned[7].size), (1, 128));
        let one = plan(&spec(vec![1], vec![256], vec![ImageFormat::Png]), 2, 256).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].page, 1);
    }

    #[test]
    fn bad_specs_name_the_field() {
        let png = || vec![ImageFormat::Png];
        let cases: Vec<(RenderJobSpec, &str)> = vec![
            (spec(vec![], vec![], png()), "sizes"),
            (spec(vec![], vec![1; 33], png()), "sizes"),
            (spec(vec![], vec![0], png()), "sizes[0]"),
            (spec(vec![], vec![64, 4097], png()), "sizes[1]"),
            (spec(vec![], vec![64, 64], png()), "sizes[1]"),
            (spec(vec![], vec![64], vec![]), "formats"),
            (
                spec(vec![], vec![64], vec![ImageFormat::Png, ImageFormat::Png]),
                "formats[1]",
            ),
            (spec(vec![0, 0], vec![64], png()), "pages[1]"),
            (spec(vec![0; 257], vec![64], png()), "pages"),
            (
                spec(
                    vec![],
                    (1..=32).collect(),
                    vec![ImageFormat::Png, ImageFormat::Webp, ImageFormat::Jpeg],
                ),
                "pages",
            ),
        ];
        for (spec, field) in cases {
            let err = plan(&spec, 3, 4096).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{field}");
            assert_eq!(err.path(), Some(field), "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
        let err = plan(&spec(vec![3], vec![64], png()), 3, 4096).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.path(), Some("pages[0]"), "{err}");
    }
}
