//! Tests of the maintenance jobs: pruning (both engines) and SQLite backups.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tower::ServiceExt;
use uuid::Uuid;

use super::harness::{CARD, Harness, harnesses};
use super::*;
use crate::api::JobState;
use crate::api::{ImageFormat, JobOutput};
use crate::store::{BlobKey, BlobStore, Db, now_ms};

/// A finished job of `owner` with one output of `bytes`, finished `ago` ago.
async fn finished_with_output(h: &Harness, bytes: &[u8], ago: Duration) -> Uuid {
    let job = h
        .queue
        .enqueue(NewJob::new("render", json!(null)))
        .await
        .unwrap();
    let claimed = h.queue.claim("w", &[]).await.unwrap().unwrap();
    let output = JobOutput {
        index: 0,
        page: 0,
        size: 64,
        format: ImageFormat::Png,
        width: 1,
        height: 1,
        byte_size: bytes.len() as u64,
        href: output_href(job.id, 0),
    };
    h.outputs.put(job.id, &output, bytes).await.unwrap();
    assert!(h.queue.succeed(&claimed, json!(null)).await.unwrap());
    let at = now_ms() - i64::try_from(ago.as_millis()).unwrap();
    sqlx::query("UPDATE jobs SET finished_at = $1 WHERE id = $2")
        .bind(at)
        .bind(job.id.to_string())
        .execute(h.test.db.pool())
        .await
        .unwrap();
    job.id
}

async fn refresh_token(db: &Db, user: Uuid, expires_at: i64, revoked: bool) {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, token_hash, family_id, created_at, \
         expires_at, revoked_at) VALUES ($1, $2, $3, 'f', 0, $4, $5)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(user.to_string())
    .bind(Uuid::now_v7().to_string())
    .bind(expires_at)
    .bind(revoked.then_some(1_i64))
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn prune_deletes_old_jobs_outputs_unshared_blobs_and_dead_refresh_tokens() {
    let day = Duration::from_secs(86400);
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let old = finished_with_output(&h, b"old output", 8 * day).await;
        let recent = finished_with_output(&h, b"recent output", Duration::ZERO).await;
        // The same bytes as an old output, also an uploaded asset: the blob stays.
        let shared = finished_with_output(&h, b"shared bytes", 8 * day).await;
        let shared_key = BlobKey::of(b"shared bytes");
        sqlx::query(
            "INSERT INTO assets (id, owner_id, sha256, mime, byte_size, sha512, md5, \
             blob_key, created_at, updated_at) VALUES ($1, $2, $3, 'image/png', 12, '', '', $3, 0, 0)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(ann.user_id.to_string())
        .bind(shared_key.as_str())
        .execute(h.test.db.pool())
        .await
        .unwrap();
        let running = h
            .queue
            .enqueue(NewJob::new("render", json!(null)))
            .await
            .unwrap();
        let now = now_ms();
        refresh_token(&h.test.db, ann.user_id, now - 1, false).await;
        refresh_token(&h.test.db, ann.user_id, now + 60_000, true).await;
        refresh_token(&h.test.db, ann.user_id, now + 60_000, false).await;

        let prune = PruneHandler::new(h.queue.clone(), h.outputs.clone(), 7 * day);
        let pruned = prune.prune().await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                jobs: 2,
                outputs: 2,
                refresh_tokens: 2
            }
        );
        assert!(h.queue.get(old).await.is_err() && h.queue.get(shared).await.is_err());
        assert_eq!(
            h.queue.get(recent).await.unwrap().state,
            JobState::Succeeded
        );
        assert_eq!(
            h.queue.get(running.id).await.unwrap().state,
            JobState::Queued
        );
        assert!(!h.blobs.exists(&BlobKey::of(b"old output")).await.unwrap());
        assert!(
            h.blobs.exists(&shared_key).await.unwrap(),
            "the asset's blob stayed"
        );
        assert!(h.outputs.get(recent, 0).await.unwrap().is_some());
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
            .fetch_one(h.test.db.pool())
            .await
            .unwrap();
        assert_eq!(left, 1, "the live token stays");
        assert_eq!(
            prune.prune().await.unwrap(),
            Pruned::default(),
            "idempotent"
        );
    }
}

// Guards the shared-blob rule: replacing an output (a re-run) keeps bytes another output
// still uses, and deleting an asset keeps bytes a job output uses.
#[tokio::test]
async fn a_blob_stays_while_any_row_uses_it() {
    for h in harnesses(QueueConfig::default()).await {
        let first = finished_with_output(&h, b"same bytes", Duration::ZERO).await;
        let second = finished_with_output(&h, b"same bytes", Duration::ZERO).await;
        let output = h.outputs.get(first, 0).await.unwrap().unwrap().output;
        h.outputs.put(first, &output, b"other bytes").await.unwrap();
        assert!(h.blobs.exists(&BlobKey::of(b"same bytes")).await.unwrap());
        assert_eq!(
            h.outputs.get(second, 0).await.unwrap().unwrap().bytes,
            b"same bytes"
        );
        h.outputs
            .put(second, &output, b"other bytes")
            .await
            .unwrap();
        assert!(
            !h.blobs.exists(&BlobKey::of(b"same bytes")).await.unwrap(),
            "unused once both were replaced"
        );

        // An asset of the same bytes as an output is deleted: the output keeps its blob.
        let ann = h.user("ann", false).await;
        let png = crate::render::encode::encode(&[9, 9, 9, 255], 1, 1, ImageFormat::Png).unwrap();
        let third = finished_with_output(&h, &png, Duration::ZERO).await;
        let upload = crate::api::UploadAsset::bytes(ann.clone(), png.clone());
        let asset = h.assets.clone().oneshot(upload).await.unwrap().asset;
        let delete = crate::api::DeleteAsset {
            principal: ann,
            id: asset.id,
        };
        h.assets.clone().oneshot(delete).await.unwrap();
        assert_eq!(h.outputs.get(third, 0).await.unwrap().unwrap().bytes, png);
    }
}

#[tokio::test]
async fn a_backup_decompresses_to_a_database_with_the_data_and_old_ones_go() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let doc = h.document(&ann, CARD).await;
        let handler = BackupHandler::new(h.test.db.clone(), h.dir.path(), 2);
        let Some(first) = handler.backup().await.unwrap() else {
            assert_eq!(h.test.db.backend(), crate::store::Backend::Postgres);
            let ctx_result = run_backup_job(&h, handler).await;
            assert!(ctx_result["skipped"].is_string(), "{ctx_result}");
            continue;
        };
        let name = first.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with("spv-") && name.ends_with("Z.sqlite.zst"),
            "{name}"
        );
        let restored = tempfile::tempdir().unwrap();
        let packed = std::fs::read(&first).unwrap();
        let raw = zstd::stream::decode_all(&packed[..]).unwrap();
        std::fs::write(restored.path().join(crate::store::SQLITE_FILE), raw).unwrap();
        let db = Db::open(None, restored.path()).await.unwrap();
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM documents")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(ids, vec![doc.to_string()]);
        db.close().await;

        // Through the job, twice more: only the newest two stay, no temporary files.
        for _ in 0..2 {
            let result = run_backup_job(&h, handler.clone()).await;
            assert!(result["path"].is_string(), "{result}");
        }
        let mut left: Vec<String> = std::fs::read_dir(h.dir.path().join(BACKUP_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(!left.contains(&name), "the oldest went: {left:?}");
        assert!(left.iter().all(|n| n.starts_with("spv-")), "{left:?}");
    }
}

#[tokio::test]
async fn a_backup_sweeps_stale_temporary_files_and_leaves_young_ones() {
    for h in harnesses(QueueConfig::default()).await {
        let handler = BackupHandler::new(h.test.db.clone(), h.dir.path(), 2);
        let dir = h.dir.path().join(BACKUP_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 60 * 60);
        let file = |name: &str, modified: Option<std::time::SystemTime>| {
            let path = dir.join(name);
            let file = std::fs::File::create(&path).unwrap();
            if let Some(modified) = modified {
                file.set_modified(modified).unwrap();
            }
            path
        };
        let stale = file(".tmp-stale.sqlite", Some(two_hours_ago));
        let stale_packed = file(".tmp-stale.sqlite.zst", Some(two_hours_ago));
        let young = file(".tmp-young.sqlite", None);
        let other = file("notes.txt", Some(two_hours_ago));
        let result = handler.backup().await.unwrap();
        if h.test.db.backend() == crate::store::Backend::Postgres {
            // No backups on PostgreSQL, so no sweep either; the sweep itself still works.
            assert!(result.is_none());
            assert!(stale.exists());
            let swept = handler
                .sweep_stale_temporaries(Duration::from_secs(60 * 60))
                .await;
            assert_eq!(swept, 2);
        } else {
            assert!(result.is_some());
        }
        assert!(!stale.exists(), "an hour-old temporary file went");
        assert!(!stale_packed.exists(), "an hour-old temporary file went");
        assert!(young.exists(), "a young one may be a backup in progress");
        assert!(other.exists(), "only temporary files are swept");
    }
}

#[test]
fn a_temporary_backup_file_goes_when_its_guard_drops_unless_disarmed() {
    let dir = tempfile::tempdir().unwrap();
    let (dropped, kept) = (dir.path().join(".tmp-a"), dir.path().join(".tmp-b"));
    std::fs::write(&dropped, b"copy").unwrap();
    std::fs::write(&kept, b"copy").unwrap();
    // As when the backup future is dropped half-way (its job aborted).
    drop(super::maintenance::RemoveOnDrop::new(dropped.clone()));
    assert!(!dropped.exists());
    let path = super::maintenance::RemoveOnDrop::new(kept.clone()).disarm();
    assert_eq!(path, kept);
    assert!(
        kept.exists(),
        "a disarmed guard leaves the file to its caller"
    );
}

/// Runs a backup as a job through a worker pool; answers the job's result.
async fn run_backup_job(h: &Harness, handler: BackupHandler) -> serde_json::Value {
    let workers = h.workers(1, vec![Arc::new(handler)]);
    let job = h
        .queue
        .enqueue(NewJob::new(BACKUP_JOB_KIND, json!(null)))
        .await
        .unwrap();
    let done = h.until(job.id, JobState::Succeeded).await;
    workers.shutdown(Duration::from_secs(5)).await;
    done.result.unwrap()
}
