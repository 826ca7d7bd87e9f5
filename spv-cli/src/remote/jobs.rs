//! `spv-cli jobs`: enqueue render jobs, follow them (Server-Sent Events shown as a
//! progress bar), download their outputs, cancel and list them.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use spv::ErrorKind;
use spv::api::{
    CancelJob, EnqueueRender, GetJob, ImageFormat, Job, JobState, ListJobs, Principal,
    RenderJobResult, RenderJobSpec, WatchJob,
};
use uuid::Uuid;

use super::files::Destination;
use super::session::Session;
use super::table::{self, Table};
use super::{parse_id, stdout};
use crate::cli::JobsCommand;
use crate::output::Outcome;

/// The longest `--idempotency-key`, as the server allows.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// How often in a row the event stream may drop before `watch` gives up.
const MAX_RECONNECTS: u32 = 5;

/// Runs a `jobs` subcommand.
pub(crate) async fn run(session: &Session, command: &JobsCommand) -> anyhow::Result<Outcome> {
    // The list lengths were checked by `remote::run` before the runtime started.
    match command {
        JobsCommand::Render {
            document,
            pages,
            sizes,
            formats,
            lenient,
            idempotency_key,
            wait,
            out_dir,
            json,
        } => {
            let document = parse_id("document", document)?;
            if let Some(key) = idempotency_key
                && (key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY)
            {
                bail!("--idempotency-key must be 1 to {MAX_IDEMPOTENCY_KEY} characters long");
            }
            let mut spec = RenderJobSpec::new(document);
            spec.pages = pages.clone();
            if !sizes.is_empty() {
                spec.sizes = sizes.clone();
            }
            if !formats.is_empty() {
                spec.formats = formats.iter().map(|&f| ImageFormat::from(f)).collect();
            }
            spec.lenient = *lenient;
            let request = EnqueueRender {
                principal: Principal::default(),
                spec,
                idempotency_key: idempotency_key.clone(),
            };
            let what = format!("enqueueing a render of document {document}");
            let job = session.call(what, request).await?;
            if !*wait {
                eprintln!(
                    "spv-cli: enqueued job {}; follow it with spv-cli jobs watch {}",
                    job.id, job.id
                );
                print_job(&job, json.json)?;
                return Ok(Outcome::Success);
            }
            finish(session, job.id, out_dir.as_deref(), json.json).await
        }
        JobsCommand::Status { id, json } => {
            let id = parse_id("job", id)?;
            let request = GetJob {
                principal: Principal::default(),
                id,
            };
            let job = session.call(format!("reading job {id}"), request).await?;
            print_job(&job, json.json)?;
            Ok(Outcome::Success)
        }
        JobsCommand::Watch { id, out_dir, json } => {
            let id = parse_id("job", id)?;
            finish(session, id, out_dir.as_deref(), json.json).await
        }
        JobsCommand::Cancel { id, json } => {
            let id = parse_id("job", id)?;
            let request = CancelJob {
                principal: Principal::default(),
                id,
            };
            let job = session
                .call(format!("cancelling job {id}"), request)
                .await?;
            if job.state == JobState::Cancelled {
                eprintln!("spv-cli: cancelled job {id}");
            } else {
                eprintln!("spv-cli: job {id} is running; it stops at its next checkpoint");
            }
            print_job(&job, json.json)?;
            Ok(Outcome::Success)
        }
        JobsCommand::List {
            state,
            page,
            per_page,
            json,
        } => {
            let request = ListJobs {
                principal: Principal::default(),
                state: *state,
                page: *page,
                per_page: *per_page,
            };
            let list = session.call("listing jobs", request).await?;
            let mut out = stdout();
            if json.json {
                table::write_json(&mut out, &list)?;
            } else {
                let mut rows = Table::new(&["ID", "KIND", "STATE", "PROGRESS", "CREATED", "ERROR"]);
                for job in &list.items {
                    rows.row(vec![
                        job.id.to_string(),
                        job.kind.clone(),
                        job.state.as_str().to_owned(),
                        percent(job.progress),
                        table::time(job.created_at),
                        job.error.clone().unwrap_or_default(),
                    ]);
                }
                rows.write(&mut out)?;
                if list.metainfo.has_next {
                    eprintln!(
                        "spv-cli: more on --page {}",
                        list.metainfo.current_page.saturating_add(1)
                    );
                }
            }
            out.flush()?;
            Ok(Outcome::Success)
        }
    }
}

/// Follows job `id` to its end, downloads its outputs into `out_dir`, prints it; exit 1
/// when it failed or was cancelled.
async fn finish(
    session: &Session,
    id: Uuid,
    out_dir: Option<&Path>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let job = follow(session, id).await?;
    let (outcome, summary) = outcome(&job);
    eprintln!("spv-cli: {summary}");
    if job.state == JobState::Succeeded
        && let Some(dir) = out_dir
    {
        download_outputs(session, &job, dir).await?;
    }
    print_job(&job, json)?;
    Ok(outcome)
}

/// How a finished job ends the command: 0 when it succeeded, 1 when it failed or was
/// cancelled; and a line saying so.
fn outcome(job: &Job) -> (Outcome, String) {
    let id = job.id;
    match job.state {
        JobState::Succeeded => (Outcome::Success, format!("job {id} succeeded")),
        JobState::Failed => {
            let error = job.error.as_deref().unwrap_or("no error was recorded");
            (Outcome::SomeFailed, format!("job {id} failed: {error}"))
        }
        JobState::Cancelled => (Outcome::SomeFailed, format!("job {id} was cancelled")),
        // `follow` only answers finished jobs.
        JobState::Queued | JobState::Running => (
            Outcome::SomeFailed,
            format!("job {id} has not finished ({})", job.state.as_str()),
        ),
    }
}

/// Watches the job's events until it finished, with a progress bar on a terminal. A
/// dropped stream is opened again (the job as it is now comes first), a few times in a
/// row at most.
async fn follow(session: &Session, id: Uuid) -> anyhow::Result<Job> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(1000);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {bar:40} {percent:>3}%  {elapsed}  {msg}")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let result = follow_events(session, id, bar.as_ref()).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

async fn follow_events(
    session: &Session,
    id: Uuid,
    bar: Option<&ProgressBar>,
) -> anyhow::Result<Job> {
    let mut drops = 0;
    loop {
        let request = WatchJob {
            principal: Principal::default(),
            id,
        };
        let mut opened = match session.client_call(request).await {
            Ok(events) => Some(events),
            // The server restarting, say: try again like a broken stream.
            Err(err) if can_reconnect(err.kind()) => {
                tracing::debug!(%err, "opening the event stream of job {id} failed");
                None
            }
            Err(err) => return Err(session.explain(format!("watching job {id}"), err)),
        };
        while let Some(event) = match &mut opened {
            Some(events) => events.next().await,
            None => None,
        } {
            match event {
                Ok(job) => {
                    drops = 0;
                    if let Some(bar) = bar {
                        bar.set_position((fraction(job.progress) * 1000.0) as u64);
                        let message = job.progress_message.as_deref().unwrap_or("");
                        bar.set_message(format!("{} {message}", job.state.as_str()));
                    }
                    if job.state.is_finished() {
                        return Ok(job);
                    }
                }
                Err(err) if can_reconnect(err.kind()) => {
                    tracing::debug!(%err, "the event stream of job {id} broke");
                    break;
                }
                Err(err) => return Err(session.explain(format!("watching job {id}"), err)),
            }
        }
        drops += 1;
        if drops > MAX_RECONNECTS {
            bail!(
                "watching job {id} on {}: the event stream ended {MAX_RECONNECTS} times in a \
                 row before the job did",
                session.server()
            );
        }
        tokio::time::sleep(Duration::from_millis(250 * u64::from(drops))).await;
    }
}

/// Whether a broken event stream is worth opening again.
fn can_reconnect(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Io | ErrorKind::Overloaded | ErrorKind::Internal
    )
}

/// Downloads every output of a succeeded render job into `dir` (created if missing),
/// each as `<document id>-p<page>-<size>.<ext>`, streamed.
async fn download_outputs(session: &Session, job: &Job, dir: &Path) -> anyhow::Result<()> {
    let (spec, result) = render_parts(job)?;
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    for output in &result.outputs {
        let name = format!(
            "{}-p{}-{}.{}",
            spec.document,
            output.page,
            output.size,
            output.format.extension()
        );
        let path: PathBuf = dir.join(name);
        let mut dest = Destination::create(&path).await?;
        let downloaded = session
            .client()
            .download_job_output(job.id, output.index, &mut dest)
            .await;
        match downloaded {
            Ok(_) => dest.commit().await?,
            Err(err) => {
                dest.discard().await;
                let what = format!("downloading output {} of job {}", output.index, job.id);
                return Err(session.explain(what, err));
            }
        }
        eprintln!("spv-cli: wrote {}", path.display());
    }
    Ok(())
}

/// A render job's spec and result.
fn render_parts(job: &Job) -> anyhow::Result<(RenderJobSpec, RenderJobResult)> {
    let spec: RenderJobSpec = serde_json::from_value(job.payload.clone())
        .with_context(|| format!("job {} is not a render job", job.id))?;
    let Some(result) = &job.result else {
        bail!("job {} has no result", job.id);
    };
    let result: RenderJobResult = serde_json::from_value(result.clone())
        .with_context(|| format!("the result of job {} is not a render result", job.id))?;
    Ok((spec, result))
}

/// Prints a job: JSON, or its fields and outputs.
fn print_job(job: &Job, json: bool) -> anyhow::Result<()> {
    let mut out = stdout();
    if json {
        table::write_json(&mut out, job)?;
        out.flush()?;
        return Ok(());
    }
    let mut fields = vec![
        ("id", job.id.to_string()),
        ("kind", job.kind.clone()),
        ("state", job.state.as_str().to_owned()),
        ("progress", percent(job.progress)),
    ];
    if let Some(document) = job.payload.get("document").and_then(|d| d.as_str()) {
        fields.push(("document", document.to_owned()));
    }
    if let Some(message) = &job.progress_message {
        fields.push(("message", message.clone()));
    }
    if job.cancel_requested {
        fields.push(("cancel", "requested".to_owned()));
    }
    fields.push(("attempts", job.attempts.to_string()));
    if let Some(error) = &job.error {
        fields.push(("error", error.clone()));
    }
    fields.push(("created", table::time(job.created_at)));
    fields.push(("started", table::maybe_time(job.started_at)));
    fields.push(("finished", table::maybe_time(job.finished_at)));
    table::write_fields(&mut out, &fields)?;
    if job.state == JobState::Succeeded
        && let Ok((_, result)) = render_parts(job)
    {
        writeln!(out)?;
        let mut rows = Table::new(&[
            "OUTPUT", "PAGE", "SIZE", "FORMAT", "PIXELS", "BYTES", "HREF",
        ]);
        for output in &result.outputs {
            rows.row(vec![
                output.index.to_string(),
                output.page.to_string(),
                output.size.to_string(),
                output.format.extension().to_owned(),
                format!("{}×{}", output.width, output.height),
                table::bytes(output.byte_size),
                output.href.clone(),
            ]);
        }
        rows.write(&mut out)?;
        for warning in &result.warnings {
            writeln!(out, "warning: {warning}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `0.5` as `50%`.
fn percent(progress: f32) -> String {
    format!("{:.0}%", fraction(progress) * 100.0)
}

/// A progress value from 0 to 1, whatever the server sent.
fn fraction(progress: f32) -> f32 {
    if progress.is_finite() {
        progress.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, error: Option<&str>) -> Job {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Job {
            id: Uuid::from_u128(7),
            kind: "render".into(),
            payload: serde_json::json!({"document": Uuid::from_u128(1)}),
            owner_id: None,
            idempotency_key: None,
            state,
            attempts: 1,
            run_at: at,
            lease_until: None,
            worker_id: None,
            progress: 1.0,
            progress_message: None,
            result: None,
            error: error.map(str::to_owned),
            cancel_requested: false,
            created_at: at,
            updated_at: at,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn failed_and_cancelled_jobs_exit_1_with_the_reason() {
        let (exit, line) = outcome(&job(JobState::Succeeded, None));
        assert_eq!(exit, Outcome::Success);
        assert!(line.ends_with("succeeded"), "{line}");
        let (exit, line) = outcome(&job(JobState::Failed, Some("missing asset sha256:ab")));
        assert_eq!(exit, Outcome::SomeFailed);
        assert!(line.ends_with("failed: missing asset sha256:ab"), "{line}");
        let (exit, line) = outcome(&job(JobState::Cancelled, None));
        assert_eq!(exit, Outcome::SomeFailed);
        assert!(line.ends_with("was cancelled"), "{line}");
    }

    #[test]
    fn progress_reads_as_a_percentage() {
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(2.0), "100%");
        assert_eq!(percent(f32::NAN), "0%");
    }
}
