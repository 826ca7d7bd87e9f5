//! `spv-cli render`: many documents through `spv::thumbnails::Thumbnails`, in parallel.
//!
//! Each document is one task; at most `--jobs` documents are open and at most `--jobs`
//! reads, renders and writes are in flight at once (semaphores), and the service's render
//! pool has as many slots, so a render never waits for the pool. One failure is reported
//! and the batch goes on.

mod plan;

use std::fmt::Display;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use spv::api::{RenderBackend, RenderThumbnail};
use spv::glyph::{AssetResolver, Chain};
use spv::render::pool::RenderPool;
use spv::render::{Renderer, RendererChoice};
use spv::thumbnails::{LoadDocument, Thumbnails, ThumbnailsConfig};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

use self::plan::{Pages, Plan};
use crate::cli::RenderArgs;
use crate::inputs;
use crate::output::{Outcome, write_output};

/// Under `auto`, the fewest documents for which the GPU is probed (in the background;
/// renders go to the CPU meanwhile). A probe loads the Vulkan drivers and, on a hardware
/// adapter, creates a device and compiles vello's shaders: a second or so, while a
/// thumbnail takes the CPU a few milliseconds, so a smaller batch is done before the GPU
/// could take any of it, and would only pay for loading the drivers.
const AUTO_PROBE_MIN_DOCUMENTS: usize = 64;

/// Runs `spv-cli render`.
pub(crate) fn run(args: &RenderArgs, verbose: bool) -> anyhow::Result<Outcome> {
    let plan = Plan::new(args)?;
    let renderer = Renderer::new(args.renderer.into());
    let inputs = inputs::expand(&args.docs);
    if plan.output.is_some() && inputs.files.len() > 1 {
        bail!(
            "-o names one output file but {} documents were given; use --out-dir",
            inputs.files.len()
        );
    }
    match renderer.choice() {
        // The GPU's start (adapter, device, shader compilation) before the first render,
        // so that it is not charged to that render's time limit.
        #[cfg(feature = "gpu")]
        RendererChoice::Gpu => {
            if let Some(gpu) = renderer.gpu() {
                gpu.warm_up();
            }
        }
        // Never waited for: renders go to the CPU until the GPU is ready.
        RendererChoice::Auto if inputs.files.len() >= AUTO_PROBE_MIN_DOCUMENTS => {
            renderer.start();
        }
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    Ok(runtime.block_on(batch(plan, inputs, renderer, verbose)))
}

/// Everything a document task needs.
struct Batch {
    plan: Plan,
    thumbnails: Thumbnails,
    /// Documents being worked on (read, parsed, rendered): bounds memory, so a batch of
    /// thousands does not read every file before the first render.
    documents: Semaphore,
    /// Reads, parses, renders and writes in flight.
    in_flight: Semaphore,
    report: Report,
    /// `--verbose`: a line per thumbnail naming its backend and times.
    verbose: bool,
}

async fn batch(plan: Plan, inputs: inputs::Inputs, renderer: Renderer, verbose: bool) -> Outcome {
    let started = Instant::now();
    let documents = inputs.files.len();
    let bar = (documents > 1 && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(documents as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {pos}/{len} documents  {elapsed_precise}  eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let report = Report {
        bar,
        rendered: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        on_gpu: AtomicUsize::new(0),
    };
    for (arg, problem) in &inputs.problems {
        report.fail(arg, problem);
    }
    let clashes = plan::collisions(&plan, &inputs.files);
    for (doc, first) in &clashes {
        let message = format!(
            "its thumbnail would overwrite the one of {}; render them into different --out-dir",
            first.display()
        );
        report.fail(&doc.display(), message);
        report.document_done();
    }

    // The service's pool has a slot for every task in flight, so it never queues; the
    // generous queue timeout only guards against a bug turning into an error storm.
    let pool = RenderPool::new(plan.jobs).with_queue_timeout(Duration::from_secs(3600));
    let config = ThumbnailsConfig {
        renderer,
        ..ThumbnailsConfig::default()
            .with_pool(pool)
            .with_max_size(spv::glyph::Limits::default().max_render_side)
    };
    let batch = Arc::new(Batch {
        documents: Semaphore::new(plan.jobs),
        in_flight: Semaphore::new(plan.jobs),
        thumbnails: Thumbnails::new(config),
        plan,
        report,
        verbose,
    });

    let mut tasks = JoinSet::new();
    for doc in inputs.files {
        if clashes.iter().any(|(clash, _)| *clash == doc) {
            continue;
        }
        tasks.spawn(render_document(batch.clone(), doc));
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(err) = done {
            batch
                .report
                .fail(&"internal error", format!("a render task failed: {err}"));
        }
    }

    let report = &batch.report;
    if let Some(bar) = &report.bar {
        bar.finish_and_clear();
    }
    let rendered = report.rendered.load(Ordering::Relaxed);
    let failed = report.failed.load(Ordering::Relaxed);
    let mut summary = format!(
        "rendered {} from {} in {:.2} s",
        plural(rendered, "thumbnail"),
        plural(documents, "document"),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        summary.push_str(&format!(", {failed} failed"));
    }
    eprintln!("{summary}");
    if batch.verbose {
        eprintln!(
            "{}",
            backend_summary(
                batch.thumbnails.renderer(),
                report.on_gpu.load(Ordering::Relaxed),
                rendered
            )
        );
    }
    Outcome::from_failed(failed > 0)
}

/// Reads, renders and writes every page asked for of one document.
async fn render_document(batch: Arc<Batch>, doc: PathBuf) {
    let label = doc.display().to_string();
    let result = match batch.documents.acquire().await {
        Ok(_document) => try_render_document(&batch, &doc).await,
        Err(closed) => Err(closed.into()),
    };
    if let Err(err) = result {
        batch.report.fail(&label, format!("{err:#}"));
    }
    batch.report.document_done();
}

async fn try_render_document(batch: &Arc<Batch>, doc: &Path) -> anyhow::Result<()> {
    let plan = &batch.plan;
    let bytes: Arc<[u8]> = {
        let _slot = batch.in_flight.acquire().await?;
        let path = doc.to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::read(path))
            .await??
            .into()
    };
    let assets = resolver(plan, doc, &bytes);
    let request = |input: RenderThumbnail| {
        let request = input
            .size(plan.size)
            .format(plan.format)
            .lenient(plan.lenient);
        match &assets {
            Some(assets) => request.assets(assets.clone()),
            None => request,
        }
    };
    match plan.pages {
        Pages::One(page) => {
            let request = request(RenderThumbnail::new(bytes).page(page));
            render_one(batch, doc, request, plan.output_for(doc, None)).await
        }
        Pages::All => {
            // Parsed once, then each page rendered from the parsed document.
            let loaded = {
                let _slot = batch.in_flight.acquire().await?;
                let parse = LoadDocument::new(bytes);
                batch.thumbnails.clone().oneshot(parse).await?.loaded
            };
            let mut pages = JoinSet::new();
            for page in 0..loaded.document.pages.len() {
                let request = request(RenderThumbnail::loaded(loaded.clone()).page(page));
                let out = plan.output_for(doc, Some(page));
                let (batch, doc) = (batch.clone(), doc.to_path_buf());
                pages.spawn(async move {
                    if let Err(err) = render_one(&batch, &doc, request, out).await {
                        let label = format!("{} (page {page})", doc.display());
                        batch.report.fail(&label, format!("{err:#}"));
                    }
                });
            }
            while let Some(done) = pages.join_next().await {
                done.context("a page render task failed")?;
            }
            Ok(())
        }
    }
}

/// Renders through the service and writes the thumbnail.
async fn render_one(
    batch: &Batch,
    doc: &Path,
    request: RenderThumbnail,
    out: PathBuf,
) -> anyhow::Result<()> {
    let _slot = batch.in_flight.acquire().await?;
    let page = request.page;
    let thumb = batch.thumbnails.clone().oneshot(request).await?;
    let timing = thumb.timing;
    if timing.backend == RenderBackend::Gpu {
        batch.report.on_gpu.fetch_add(1, Ordering::Relaxed);
    }
    if batch.verbose {
        let gpu = timing
            .gpu
            .map(|t| format!(", GPU batch {:.1} ms", t.as_secs_f64() * 1e3))
            .unwrap_or_default();
        let line = format!(
            "page {page}: {}×{} rendered on the {} in {:.1} ms{gpu}",
            thumb.width,
            thumb.height,
            timing.backend.as_str().to_uppercase(),
            timing.render.as_secs_f64() * 1e3,
        );
        batch.report.note(&doc.display(), line);
    }
    for warning in &thumb.warnings {
        batch
            .report
            .note(&doc.display(), format!("warning: {warning}"));
    }
    let to_stdout = batch.plan.to_stdout();
    let written = tokio::task::spawn_blocking(move || {
        write_output(&out, &thumb.bytes).with_context(|| format!("cannot write {}", out.display()))
    })
    .await?;
    match written {
        Err(err) if to_stdout && crate::output::is_broken_pipe(&err) => {}
        other => other?,
    }
    batch.report.rendered.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn resolver(plan: &Plan, doc: &Path, bytes: &[u8]) -> Option<Arc<dyn AssetResolver>> {
    let mut chain = inputs::document_assets(doc, bytes, plan.assets.clone());
    match chain.len() {
        0 => None,
        1 => chain.pop(),
        _ => Some(Arc::new(Chain(chain))),
    }
}

/// Failures and progress, on stderr around the progress bar.
struct Report {
    bar: Option<ProgressBar>,
    rendered: AtomicUsize,
    failed: AtomicUsize,
    /// Thumbnails the GPU drew.
    on_gpu: AtomicUsize,
}

/// `--verbose`'s last line: which backends drew the batch, and the GPU adapter.
fn backend_summary(renderer: &Renderer, on_gpu: usize, rendered: usize) -> String {
    let on_cpu = rendered.saturating_sub(on_gpu);
    let choice = renderer.choice();
    let mut line = format!("renderer {choice}: {on_gpu} on the GPU, {on_cpu} on the CPU");
    #[cfg(feature = "gpu")]
    match renderer.gpu().and_then(|gpu| gpu.adapter()) {
        Some(adapter) => line.push_str(&format!(
            "; GPU: {} ({}{})",
            adapter.name,
            adapter.backend,
            if adapter.software { ", software" } else { "" }
        )),
        None if choice != RendererChoice::Cpu => line.push_str("; no usable GPU adapter"),
        None => {}
    }
    #[cfg(not(feature = "gpu"))]
    line.push_str("; built without the gpu feature");
    line
}

impl Report {
    fn fail(&self, what: &dyn Display, error: impl Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.note(what, error);
    }

    fn note(&self, what: &dyn Display, message: impl Display) {
        let line = format!("spv-cli: {what}: {message}");
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn document_done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
