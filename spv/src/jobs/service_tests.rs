//! Tests of the jobs service and the render handler, on SQLite and (when configured)
//! PostgreSQL.

use std::time::Duration;

use tower::ServiceExt;
use uuid::Uuid;

use super::harness::{CARD, Harness, harnesses, quick};
use super::*;
use crate::ErrorKind;
use crate::api::{
    CancelJob, EnqueueRender, GetJob, GetJobOutput, Job, JobState, ListJobs, RENDER_JOB_KIND,
    RenderJobResult, RenderJobSpec, WatchJob,
};
use crate::api::{
    DeleteDocument, ImageFormat, JobOutput, Principal, RenderThumbnail, Scope, Scopes,
    ThumbnailSize,
};

fn spec(document: Uuid, sizes: Vec<u32>, formats: Vec<ImageFormat>) -> RenderJobSpec {
    RenderJobSpec {
        sizes,
        formats,
        ..RenderJobSpec::new(document)
    }
}

async fn enqueue(h: &Harness, principal: &Principal, spec: RenderJobSpec) -> crate::Result<Job> {
    h.jobs
        .clone()
        .oneshot(EnqueueRender {
            principal: principal.clone(),
            spec,
            idempotency_key: None,
        })
        .await
}

#[test]
fn the_service_and_its_futures_are_send() {
    fn send_static<T: Send + Sync + 'static>() {}
    send_static::<Jobs>();
    send_static::<Workers>();
    send_static::<JobContext>();
    fn send<F: std::future::Future + Send + 'static>(_: F) {}
    let jobs: Option<Jobs> = None;
    if let Some(jobs) = jobs {
        let principal = Principal::default();
        send(jobs.clone().oneshot(WatchJob {
            principal,
            id: Uuid::nil(),
        }));
    }
}

// Guards the whole path: enqueue → a worker pool renders → outputs byte-identical to a
// direct render of the same options through the thumbnails service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_job_runs_end_to_end_with_outputs_identical_to_direct_renders() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let doc = h.document(&ann, CARD).await;
        let formats = vec![ImageFormat::Png, ImageFormat::Webp];
        let job = enqueue(&h, &ann, spec(doc, vec![64, 128], formats))
            .await
            .unwrap();
        assert_eq!(
            (job.kind.as_str(), job.state, job.owner_id),
            (RENDER_JOB_KIND, JobState::Queued, Some(ann.user_id))
        );
        let watch = h.watch(&ann, job.id).await;
        let workers = h.workers(2, vec![h.render_handler()]);
        let events = super::harness::collect(watch).await;
        let last = events.last().unwrap();
        assert_eq!(last.state, JobState::Succeeded, "{:?}", last.error);
        assert_eq!(events[0].state, JobState::Queued, "the job as it was first");
        for pair in events.windows(2) {
            assert!(
                pair[0].progress <= pair[1].progress,
                "progress never goes back"
            );
            assert_ne!(pair[0], pair[1], "no duplicate events");
        }
        assert_eq!(
            last.progress_message.as_deref(),
            Some("page 2 of 2, 128 px webp")
        );

        let result: RenderJobResult = serde_json::from_value(last.result.clone().unwrap()).unwrap();
        assert_eq!(result.outputs.len(), 8);
        for (n, output) in result.outputs.iter().enumerate() {
            assert_eq!(output.index as usize, n);
            assert_eq!(output.href, format!("/api/v1/jobs/{}/outputs/{n}", job.id));
            let got = h
                .jobs
                .clone()
                .oneshot(GetJobOutput {
                    principal: ann.clone(),
                    job: job.id,
                    index: output.index,
                })
                .await
                .unwrap();
            assert_eq!(&got.output, output);
            let direct = h
                .thumbnails
                .clone()
                .oneshot(
                    RenderThumbnail::new(CARD.to_vec())
                        .page(output.page)
                        .size(ThumbnailSize::Longest { size: output.size })
                        .format(output.format),
                )
                .await
                .unwrap();
            assert!(
                got.bytes == direct.bytes,
                "output {n} differs from a direct render"
            );
            assert_eq!((output.width, output.height), (direct.width, direct.height));
            assert_eq!(output.byte_size, direct.bytes.len() as u64);
        }
        assert_eq!(
            (result.outputs[0].page, result.outputs[7].page),
            (0, 1),
            "pages × sizes × formats"
        );
        // A stored output its result does not list (left from an earlier attempt) is
        // not served.
        let stale = JobOutput {
            index: 8,
            href: format!("/api/v1/jobs/{}/outputs/8", job.id),
            ..result.outputs[0].clone()
        };
        h.outputs.put(job.id, &stale, b"stale").await.unwrap();
        let err = h
            .jobs
            .clone()
            .oneshot(GetJobOutput {
                principal: ann.clone(),
                job: job.id,
                index: 8,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(workers.shutdown(Duration::from_secs(5)).await.released, 0);
    }
}

#[tokio::test]
async fn access_is_by_owner_and_scope() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let bob = h.user("bob", false).await;
        let root = h.user("root", true).await;
        let doc = h.document(&ann, CARD).await;
        let job = enqueue(&h, &ann, RenderJobSpec::new(doc)).await.unwrap();

        // Bob sees nothing of Ann's: every request is "not found".
        let bobs = [
            h.jobs
                .clone()
                .oneshot(GetJob {
                    principal: bob.clone(),
                    id: job.id,
                })
                .await
                .err(),
            h.jobs
                .clone()
                .oneshot(CancelJob {
                    principal: bob.clone(),
                    id: job.id,
                })
                .await
                .err(),
            h.jobs
                .clone()
                .oneshot(WatchJob {
                    principal: bob.clone(),
                    id: job.id,
                })
                .await
                .err(),
            h.jobs
                .clone()
                .oneshot(GetJobOutput {
                    principal: bob.clone(),
                    job: job.id,
                    index: 0,
                })
                .await
                .err(),
        ];
        for err in bobs {
            assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::NotFound));
        }
        let err = enqueue(&h, &bob, RenderJobSpec::new(doc))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "Ann's private document");
        let err = enqueue(&h, &ann, RenderJobSpec::new(Uuid::now_v7()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "no such document");
        let list = |p: &Principal| {
            h.jobs.clone().oneshot(ListJobs {
                principal: p.clone(),
                state: None,
                page: None,
                per_page: None,
            })
        };
        assert!(list(&bob).await.unwrap().items.is_empty());
        assert_eq!(list(&ann).await.unwrap().items.len(), 1);
        // Admins see and cancel everyone's.
        let seen = h.jobs.clone().oneshot(GetJob {
            principal: root.clone(),
            id: job.id,
        });
        assert_eq!(seen.await.unwrap().id, job.id);
        assert_eq!(list(&root).await.unwrap().items.len(), 1);

        // Scopes: reading needs jobs:read, writing jobs:write.
        let reader = Principal {
            scopes: Scopes::from(Scope::JobsRead),
            ..ann.clone()
        };
        let err = enqueue(&h, &reader, RenderJobSpec::new(doc))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        let err = h
            .jobs
            .clone()
            .oneshot(CancelJob {
                principal: reader.clone(),
                id: job.id,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        let got = h.jobs.clone().oneshot(GetJob {
            principal: reader,
            id: job.id,
        });
        assert_eq!(got.await.unwrap().id, job.id);
        let writer = Principal {
            scopes: Scopes::from(Scope::JobsWrite),
            ..ann.clone()
        };
        let err = h
            .jobs
            .clone()
            .oneshot(GetJob {
                principal: writer.clone(),
                id: job.id,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        let err = list(&writer).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        let anonymous = Principal::default();
        let err = enqueue(&h, &anonymous, RenderJobSpec::new(doc))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);

        let cancelled = h.jobs.clone().oneshot(CancelJob {
            principal: root,
            id: job.id,
        });
        assert_eq!(cancelled.await.unwrap().state, JobState::Cancelled);
    }
}

#[tokio::test]
async fn specs_are_checked_at_enqueue_naming_the_field() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let doc = h.document(&ann, CARD).await;
        let png = || vec![ImageFormat::Png];
        let cases = [
            (
                RenderJobSpec {
                    pages: vec![2],
                    ..RenderJobSpec::new(doc)
                },
                "pages[0]",
            ),
            (
                spec(doc, vec![super::harness::MAX_SIZE + 1], png()),
                "sizes[0]",
            ),
            (spec(doc, vec![], png()), "sizes"),
            (spec(doc, vec![64], vec![]), "formats"),
            (spec(doc, vec![64, 64], png()), "sizes[1]"),
        ];
        for (spec, field) in cases {
            let err = enqueue(&h, &ann, spec).await.unwrap_err();
            // A page the document lacks is a missing thing (404), as on the thumbnail
            // routes; every other bad field is an invalid request.
            let want = if field.starts_with("pages") {
                ErrorKind::NotFound
            } else {
                ErrorKind::InvalidRequest
            };
            assert_eq!(err.kind(), want, "{field}");
            assert_eq!(err.path(), Some(field), "{err}");
        }
        assert!(
            h.queue.claim("w", &[]).await.unwrap().is_none(),
            "nothing enqueued"
        );
        // An idempotency key answers the first job.
        let keyed = |key: &str| EnqueueRender {
            principal: ann.clone(),
            spec: RenderJobSpec::new(doc),
            idempotency_key: Some(key.into()),
        };
        let first = h.jobs.clone().oneshot(keyed("k")).await.unwrap();
        let again = h.jobs.clone().oneshot(keyed("k")).await.unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(
            first.payload,
            serde_json::to_value(RenderJobSpec::new(doc)).unwrap()
        );
    }
}

#[tokio::test]
async fn outputs_wait_for_success_and_a_queued_cancel_never_runs() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let doc = h.document(&ann, CARD).await;
        let job = enqueue(&h, &ann, RenderJobSpec::new(doc)).await.unwrap();
        let early = h.jobs.clone().oneshot(GetJobOutput {
            principal: ann.clone(),
            job: job.id,
            index: 0,
        });
        assert_eq!(early.await.unwrap_err().kind(), ErrorKind::Conflict);
        let cancel = h.jobs.clone().oneshot(CancelJob {
            principal: ann.clone(),
            id: job.id,
        });
        assert_eq!(cancel.await.unwrap().state, JobState::Cancelled);
        let events = h.watch_all(&ann, job.id).await;
        assert_eq!(events.len(), 1, "a finished job: one event, then the end");
        let workers = h.workers(1, vec![h.render_handler()]);
        // A second job after the cancelled one: once it is done, the worker has passed
        // the cancelled one by.
        let next = enqueue(&h, &ann, RenderJobSpec::new(doc)).await.unwrap();
        assert_eq!(h.until(next.id, JobState::Succeeded).await.attempts, 1);
        let cancelled = h.queue.get(job.id).await.unwrap();
        assert_eq!(
            (cancelled.state, cancelled.attempts),
            (JobState::Cancelled, 0)
        );
        assert_eq!(h.outputs.count(job.id).await.unwrap(), 0, "never ran");
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn a_running_render_stops_at_its_next_checkpoint() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let doc = h.document(&ann, CARD).await;
        let job = enqueue(&h, &ann, RenderJobSpec::new(doc)).await.unwrap();
        let claimed = h.queue.claim("w", &[]).await.unwrap().unwrap();
        let flagged = h.jobs.clone().oneshot(CancelJob {
            principal: ann.clone(),
            id: job.id,
        });
        assert!(flagged.await.unwrap().cancel_requested);
        let ctx = JobContext::new(h.queue.clone(), claimed);
        let handler = h.render_handler();
        assert_eq!(handler.run(&ctx).await.unwrap(), JobOutcome::Stopped);
        assert_eq!(h.outputs.count(job.id).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn lost_access_or_a_deleted_document_fails_for_good() {
    for h in harnesses(quick(Duration::from_secs(30))).await {
        let ann = h.user("ann", false).await;
        let root = h.user("root", true).await;
        let gone = h.document(&ann, CARD).await;
        let deleted = enqueue(&h, &ann, RenderJobSpec::new(gone)).await.unwrap();
        h.documents
            .clone()
            .oneshot(DeleteDocument {
                principal: ann.clone(),
                id: gone,
                if_match: None,
            })
            .await
            .unwrap();
        // An admin renders Ann's private document, then stops being an admin.
        let kept = h.document(&ann, CARD).await;
        let demoted = enqueue(&h, &root, RenderJobSpec::new(kept)).await.unwrap();
        sqlx::query("UPDATE users SET is_admin = 0 WHERE id = $1")
            .bind(root.user_id.to_string())
            .execute(h.test.db.pool())
            .await
            .unwrap();
        let workers = h.workers(1, vec![h.render_handler()]);
        for id in [deleted.id, demoted.id] {
            let failed = h.until(id, JobState::Failed).await;
            assert_eq!(failed.attempts, 1, "not retried");
            assert!(failed.error.unwrap().contains("not found"));
        }
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

/// A 10 × 10 page filled by the image asset `sha256:<hash>`.
fn doc_with_asset(hash: &str) -> Vec<u8> {
    format!(
        r##"{{"format":"glyph","version":1,"assets":{{"photo":{{"type":"image","src":"sha256:{hash}"}}}},
        "pages":[{{"width":10,"height":10,"background":"#0000ff","layers":[
        {{"type":"image","asset":"photo","x":0,"y":0,"width":10,"height":10}}]}}]}}"##
    )
    .into_bytes()
}

// Guards the asset path: a render job finds the `sha256:` assets of the document's owner
// (as DocumentThumbnails does), and only theirs.
#[tokio::test]
async fn sha256_assets_resolve_from_the_document_owners_uploads() {
    for h in harnesses(quick(Duration::from_secs(30))).await {
        let ann = h.user("ann", false).await;
        let bob = h.user("bob", false).await;
        let red =
            crate::render::encode::encode(&[255, 0, 0, 255].repeat(4), 2, 2, ImageFormat::Png)
                .unwrap();
        let upload = crate::api::UploadAsset::bytes(ann.clone(), red.clone());
        let asset = h.assets.clone().oneshot(upload).await.unwrap().asset;
        let anns = h.document(&ann, &doc_with_asset(&asset.sha256)).await;
        // Bob's document names Ann's asset by its hash: Bob has not uploaded it.
        let bobs = h.document(&bob, &doc_with_asset(&asset.sha256)).await;
        let png = vec![ImageFormat::Png];
        let ok = enqueue(&h, &ann, spec(anns, vec![10], png.clone()))
            .await
            .unwrap();
        let missing = enqueue(&h, &bob, spec(bobs, vec![10], png)).await.unwrap();
        let workers = h.workers(1, vec![h.render_handler()]);
        let done = h.until(ok.id, JobState::Succeeded).await;
        let result: RenderJobResult = serde_json::from_value(done.result.unwrap()).unwrap();
        assert!(result.warnings.is_empty(), "{:?}", result.warnings);
        let output = h.outputs.get(ok.id, 0).await.unwrap().unwrap();
        let image = image::load_from_memory(&output.bytes).unwrap().to_rgba8();
        assert_eq!(
            image.get_pixel(5, 5).0,
            [255, 0, 0, 255],
            "the asset was drawn"
        );
        let failed = h.until(missing.id, JobState::Failed).await;
        assert_eq!(failed.attempts, 1, "a missing asset is not retried");
        workers.shutdown(Duration::from_secs(5)).await;
    }
}
