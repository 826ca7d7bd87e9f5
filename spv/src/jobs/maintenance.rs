//! Maintenance jobs: pruning ([`PRUNE_JOB_KIND`]) and SQLite backups
//! ([`BACKUP_JOB_KIND`]), enqueued by the [`Workers`](super::Workers) scheduler so that
//! however many servers share the database, each period's job runs once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::JobQueue;
use super::handler::{JobContext, JobHandler, JobOutcome};
use super::outputs::JobOutputs;
use super::schedule::Recurring;
use crate::store::{Backend, BoxFuture, Db, db_err, now_ms};
use crate::{Error, ErrorKind, Result};

/// The kind of the pruning job.
pub const PRUNE_JOB_KIND: &str = "maintenance.prune";
/// The kind of the backup job.
pub const BACKUP_JOB_KIND: &str = "maintenance.backup";
/// The folder of backups inside the data directory.
pub const BACKUP_DIR: &str = "backups";

/// How the temporary files of a backup in progress are named in the backup folder.
const TEMPORARY_PREFIX: &str = ".tmp-";

/// How old a temporary backup file must be before a backup deletes it as left over from
/// a killed process (a backup in progress keeps writing to its own).
const STALE_TEMPORARY: Duration = Duration::from_secs(60 * 60);

/// A temporary file removed when dropped, unless [disarmed](Self::disarm) first (the
/// caller then removes it without blocking). The removal on drop is a synchronous
/// `remove_file` of one path, run only when the backup future is dropped half-way.
pub(super) struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    pub(super) fn new(path: PathBuf) -> Self {
        RemoveOnDrop(Some(path))
    }

    /// Hands the path back; the drop no longer removes it.
    pub(super) fn disarm(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %path.display(), "removing a temporary backup file failed");
        }
    }
}

/// Settings of the maintenance jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// How often pruning runs (`SPV_PRUNE_INTERVAL_SECS`, default 1 hour; zero: never).
    pub prune_interval: Duration,
    /// How long finished jobs and their outputs are kept (`SPV_JOB_OUTPUT_TTL_SECS`,
    /// default 7 days).
    pub output_ttl: Duration,
    /// How often the SQLite database is backed up (`SPV_BACKUP_INTERVAL_SECS`, default 1
    /// day; zero: never).
    pub backup_interval: Duration,
    /// How many backups are kept (`SPV_BACKUP_KEEP`, default 7, at least 1).
    pub backup_keep: usize,
    /// The data directory; backups go to its `backups/` folder.
    pub data_dir: PathBuf,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            prune_interval: Duration::from_secs(3600),
            output_ttl: Duration::from_secs(7 * 24 * 3600),
            backup_interval: Duration::from_secs(24 * 3600),
            backup_keep: 7,
            data_dir: PathBuf::from("./spv-data"),
        }
    }
}

impl MaintenanceConfig {
    /// The settings of `config`: `SPV_PRUNE_INTERVAL_SECS`, `SPV_JOB_OUTPUT_TTL_SECS`,
    /// `SPV_BACKUP_INTERVAL_SECS`, `SPV_BACKUP_KEEP` and the data directory.
    pub fn from_config(config: &crate::config::Config) -> Self {
        MaintenanceConfig {
            prune_interval: Duration::from_secs(config.prune_interval_secs),
            output_ttl: Duration::from_secs(config.job_output_ttl_secs),
            backup_interval: Duration::from_secs(config.backup_interval_secs),
            backup_keep: config.backup_keep.max(1),
            data_dir: config.data_dir.clone(),
        }
    }

    /// The recurring jobs to give [`WorkersConfig::recurring`](super::WorkersConfig).
    pub fn recurring(&self) -> Vec<Recurring> {
        [
            (PRUNE_JOB_KIND, self.prune_interval),
            (BACKUP_JOB_KIND, self.backup_interval),
        ]
        .into_iter()
        .filter(|(_, every)| !every.is_zero())
        .map(|(kind, every)| Recurring::new(kind, every))
        .collect()
    }
}

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    /// Finished jobs.
    pub jobs: u64,
    /// Outputs of those jobs (their blobs when nothing else used them).
    pub outputs: u64,
    /// Expired or revoked refresh tokens.
    pub refresh_tokens: u64,
}

/// Runs [`PRUNE_JOB_KIND`]: deletes jobs finished longer than the TTL ago with their
/// outputs, and refresh tokens that can never be used again.
#[derive(Debug, Clone)]
pub struct PruneHandler {
    queue: JobQueue,
    outputs: JobOutputs,
    output_ttl: Duration,
}

impl PruneHandler {
    /// Prunes the jobs of `queue` (and the `refresh_tokens` of its database) and their
    /// `outputs`, keeping finished jobs for `output_ttl`.
    pub fn new(queue: JobQueue, outputs: JobOutputs, output_ttl: Duration) -> Self {
        PruneHandler {
            queue,
            outputs,
            output_ttl,
        }
    }

    /// Prunes now.
    pub async fn prune(&self) -> Result<Pruned> {
        let jobs = self.queue.prune_finished(self.output_ttl).await?;
        // Also catches outputs left by an earlier prune that stopped half-way.
        let outputs = self.outputs.prune_orphans().await?;
        let refresh_tokens = crate::auth::prune_refresh_tokens(self.queue.db(), now_ms()).await?;
        Ok(Pruned {
            jobs,
            outputs,
            refresh_tokens,
        })
    }
}

impl JobHandler for PruneHandler {
    fn kind(&self) -> &str {
        PRUNE_JOB_KIND
    }

    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, JobOutcome> {
        Box::pin(async move {
            let pruned = self.prune().await?;
            tracing::info!(?pruned, "pruned");
            Ok(JobOutcome::Done(json!(pruned)))
        })
    }
}

/// Runs [`BACKUP_JOB_KIND`]: on SQLite, `VACUUM INTO` a temporary file in
/// `<data_dir>/backups/`, compressed with zstd and renamed atomically to
/// `spv-<UTC time>.sqlite.zst`; the newest `keep` backups stay, older ones are deleted.
/// On PostgreSQL it does nothing (back PostgreSQL up with its own tools) and says so in
/// its result.
#[derive(Debug, Clone)]
pub struct BackupHandler {
    db: Db,
    dir: PathBuf,
    keep: usize,
}

impl BackupHandler {
    /// Backs `db` up into `<data_dir>/backups/`, keeping the newest `keep` (at least 1).
    pub fn new(db: Db, data_dir: &Path, keep: usize) -> Self {
        BackupHandler {
            db,
            dir: data_dir.join(BACKUP_DIR),
            keep: keep.max(1),
        }
    }

    /// Backs up now; answers the new backup's path (`None` on PostgreSQL).
    pub async fn backup(&self) -> Result<Option<PathBuf>> {
        if self.db.backend() == Backend::Postgres {
            return Ok(None);
        }
        let io = |doing: &'static str, path: PathBuf| {
            move |e: std::io::Error| {
                Error::new(ErrorKind::Io, format!("{doing} {}: {e}", path.display()))
            }
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io("creating the backup folder", self.dir.clone()))?;
        self.sweep_stale_temporaries(STALE_TEMPORARY).await;
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let raw = self.dir.join(format!("{TEMPORARY_PREFIX}{tag}.sqlite"));
        let packed = self.dir.join(format!("{TEMPORARY_PREFIX}{tag}.sqlite.zst"));
        // Deleted on drop: also when this future is dropped (the job aborted) before the
        // removal below runs. A kill of the process is left to the sweep above.
        let guards = [
            RemoveOnDrop::new(raw.clone()),
            RemoveOnDrop::new(packed.clone()),
        ];
        let done = self.dir.join(backup_name(time::OffsetDateTime::now_utc()));
        let raw_text = raw.to_str().ok_or_else(|| {
            Error::invalid_request(format!(
                "the backup folder {} is not valid UTF-8",
                self.dir.display()
            ))
        })?;
        let result = async {
            sqlx::query("VACUUM INTO $1")
                .bind(raw_text)
                .execute(self.db.pool())
                .await
                .map_err(db_err("backing up the database"))?;
            let (from, to) = (raw.clone(), packed.clone());
            tokio::task::spawn_blocking(move || compress(&from, &to))
                .await
                .map_err(|e| Error::internal(format!("compressing a backup: {e}")))??;
            tokio::fs::rename(&packed, &done)
                .await
                .map_err(io("naming the backup", done.clone()))
        }
        .await;
        // Whatever happened, no temporary file stays.
        for guard in guards {
            let path = guard.disarm();
            if let Err(e) = tokio::fs::remove_file(&path).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, path = %path.display(), "removing a temporary backup file failed");
            }
        }
        result?;
        self.keep_newest().await?;
        Ok(Some(done))
    }

    /// Deletes the temporary files (`.tmp-*`) in the backup folder last modified more
    /// than `older_than` ago: what a backup left when its process was killed. Younger
    /// ones may belong to a backup running now (another process on the same data
    /// directory). Failures are logged, not returned: a sweep never stops a backup.
    pub(crate) async fn sweep_stale_temporaries(&self, older_than: Duration) -> u64 {
        let mut swept = 0;
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, dir = %self.dir.display(), "reading the backup folder failed");
                return 0;
            }
        };
        loop {
            let entry = match entries.next_entry().await {
                Ok(Some(entry)) => entry,
                Ok(None) => return swept,
                Err(e) => {
                    tracing::warn!(error = %e, dir = %self.dir.display(), "reading the backup folder failed");
                    return swept;
                }
            };
            let is_temporary = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(TEMPORARY_PREFIX));
            if !is_temporary {
                continue;
            }
            let age = entry
                .metadata()
                .await
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            // A file of unknown age (or modified in the future) is left alone.
            if age.is_none_or(|age| age <= older_than) {
                continue;
            }
            let path = entry.path();
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a stale temporary backup file");
                    swept += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "removing a stale temporary backup file failed");
                }
            }
        }
    }

    /// Deletes backups beyond the newest `keep` (by name, which sorts by time).
    async fn keep_newest(&self) -> Result<()> {
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("reading the backup folder: {e}")))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("reading the backup folder: {e}")))?
        {
            if let Some(name) = entry.file_name().to_str()
                && name.starts_with("spv-")
                && name.ends_with(".sqlite.zst")
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        let excess = names.len().saturating_sub(self.keep);
        for name in &names[..excess] {
            let path = self.dir.join(name);
            tokio::fs::remove_file(&path).await.map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("deleting the old backup {}: {e}", path.display()),
                )
            })?;
        }
        Ok(())
    }
}

/// `spv-20250102T030405.678Z.sqlite.zst`: the UTC time, sortable by name.
pub(crate) fn backup_name(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "spv-{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z.sqlite.zst",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Compresses `from` into `to` with zstd and syncs it to disk (blocking).
fn compress(from: &Path, to: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("compressing a backup: {e}"));
    let source = std::io::BufReader::new(std::fs::File::open(from).map_err(io)?);
    let file = std::fs::File::create(to).map_err(io)?;
    let mut encoder = zstd::stream::write::Encoder::new(file, 3).map_err(io)?;
    let mut source = source;
    std::io::copy(&mut source, &mut encoder).map_err(io)?;
    let file = encoder.finish().map_err(io)?;
    file.sync_all().map_err(io)
}

impl JobHandler for BackupHandler {
    fn kind(&self) -> &str {
        BACKUP_JOB_KIND
    }

    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, JobOutcome> {
        Box::pin(async move {
            let result = match self.backup().await? {
                Some(path) => {
                    tracing::info!(path = %path.display(), "backed up the database");
                    json!({ "path": path.display().to_string() })
                }
                None => json!({
                    "skipped": "the database is PostgreSQL: back it up with its own tools"
                }),
            };
            Ok(JobOutcome::Done(result))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sort_by_time() {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_735_787_045_678_000_000).unwrap();
        assert_eq!(backup_name(at), "spv-20250102T030405.678Z.sqlite.zst");
        let later = at + Duration::from_millis(1);
        assert!(backup_name(later) > backup_name(at));
    }

    #[test]
    fn recurring_jobs_follow_the_intervals() {
        let config = MaintenanceConfig::default();
        let kinds: Vec<String> = config.recurring().into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, vec![PRUNE_JOB_KIND, BACKUP_JOB_KIND]);
        let off = MaintenanceConfig {
            backup_interval: Duration::ZERO,
            ..config
        };
        assert_eq!(off.recurring().len(), 1);
    }
}
