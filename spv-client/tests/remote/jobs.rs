//! Render jobs through the client on the real server: enqueue, follow the events to
//! `done`, read and download every output, lists, idempotency keys, conflicts.

use std::time::Duration;

use futures_util::StreamExt as _;
use spv::ErrorKind;
use spv::api::{
    CancelJob, CreateDocument, EnqueueRender, GetJob, GetJobOutput, ImageFormat, JobState,
    ListJobs, RenderJobResult, RenderJobSpec, WatchJob,
};

use super::{DOC, Server, png_size};

/// The longest a test follows a job.
const PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_render_job_from_enqueue_to_outputs() {
    let server = Server::start().await;
    let client = server.admin();
    let doc = client
        .call_service(CreateDocument::new(Default::default(), DOC))
        .await
        .unwrap();
    let mut spec = RenderJobSpec::new(doc.id);
    spec.sizes = vec![32, 64];
    spec.formats = vec![ImageFormat::Png, ImageFormat::Webp];
    let enqueue = EnqueueRender {
        principal: Default::default(),
        spec,
        idempotency_key: Some("client-test-1".into()),
    };
    let job = client.call_service(enqueue.clone()).await.unwrap();
    let same = client.call_service(enqueue).await.unwrap();
    assert_eq!(
        same.id, job.id,
        "the same idempotency key answers the same job"
    );

    let events = client
        .call_service(WatchJob {
            principal: Default::default(),
            id: job.id,
        })
        .await
        .unwrap();
    let seen: Vec<_> = tokio::time::timeout(PATIENCE, events.collect::<Vec<_>>())
        .await
        .expect("the job finishes");
    let jobs: Vec<_> = seen.into_iter().map(Result::unwrap).collect();
    let last = jobs.last().expect("at least the final event");
    assert_eq!(last.state, JobState::Succeeded, "{last:?}");
    assert!(
        jobs[..jobs.len() - 1]
            .iter()
            .all(|j| !j.state.is_finished()),
        "only the last event is finished"
    );

    let done = client
        .call_service(GetJob {
            principal: Default::default(),
            id: job.id,
        })
        .await
        .unwrap();
    let result: RenderJobResult = serde_json::from_value(done.result.clone().unwrap()).unwrap();
    assert_eq!(result.outputs.len(), 4, "2 sizes × 2 formats");
    for output in &result.outputs {
        let content = client
            .call_service(GetJobOutput {
                principal: Default::default(),
                job: job.id,
                index: output.index,
            })
            .await
            .unwrap();
        assert_eq!(&content.output, output);
        assert_eq!(content.bytes.len() as u64, output.byte_size);
        match output.format {
            ImageFormat::Png => {
                assert_eq!(png_size(&content.bytes), (output.width, output.height));
            }
            _ => assert!(content.bytes.starts_with(b"RIFF"), "a WebP"),
        }
        let mut file = Vec::new();
        let written = client
            .download_job_output(job.id, output.index, &mut file)
            .await
            .unwrap();
        assert_eq!((written, &file), (output.byte_size, &content.bytes));
    }
    let err = client
        .call_service(GetJobOutput {
            principal: Default::default(),
            job: job.id,
            index: 99,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let list = client
        .call_service(ListJobs {
            principal: Default::default(),
            state: Some(JobState::Succeeded),
            page: None,
            per_page: Some(10),
        })
        .await
        .unwrap();
    assert!(list.items.iter().any(|j| j.id == job.id));
    let queued = client
        .call_service(ListJobs {
            principal: Default::default(),
            state: Some(JobState::Queued),
            page: None,
            per_page: None,
        })
        .await
        .unwrap();
    assert!(queued.items.iter().all(|j| j.state == JobState::Queued));

    // Cancelling a finished job is a conflict (409).
    let err = client
        .call_service(CancelJob {
            principal: Default::default(),
            id: job.id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    // A document that does not exist: 404 at enqueue.
    let err = client
        .call_service(EnqueueRender {
            principal: Default::default(),
            spec: RenderJobSpec::new(uuid::Uuid::now_v7()),
            idempotency_key: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    server.stop().await;
}

#[tokio::test]
async fn watching_a_job_of_nobody_fails_before_any_event() {
    let server = Server::start().await;
    let err = server
        .admin()
        .call_service(WatchJob {
            principal: Default::default(),
            id: uuid::Uuid::now_v7(),
        })
        .await
        .err()
        .expect("no stream for a job that does not exist");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    server.stop().await;
}

#[tokio::test]
async fn cancelling_a_queued_job() {
    // One worker, busy with a big job, so the next one waits its turn.
    let server = Server::start_with(|config| config.job_workers = 1).await;
    let client = server.admin();
    let doc = client
        .call_service(CreateDocument::new(Default::default(), DOC))
        .await
        .unwrap();
    let enqueue = |sizes: Vec<u32>| {
        let mut spec = RenderJobSpec::new(doc.id);
        spec.sizes = sizes;
        spec.formats = vec![ImageFormat::Png, ImageFormat::Webp, ImageFormat::Jpeg];
        EnqueueRender {
            principal: Default::default(),
            spec,
            idempotency_key: None,
        }
    };
    let blocker = client
        .call_service(enqueue(vec![2048, 4096]))
        .await
        .unwrap();
    let mut blocker_events = client
        .call_service(WatchJob {
            principal: Default::default(),
            id: blocker.id,
        })
        .await
        .unwrap();
    loop {
        let job = tokio::time::timeout(PATIENCE, blocker_events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            !job.state.is_finished(),
            "the blocker ran to the end too soon"
        );
        if job.state == JobState::Running {
            break;
        }
    }

    let waiting = client.call_service(enqueue(vec![16])).await.unwrap();
    let cancelled = client
        .call_service(CancelJob {
            principal: Default::default(),
            id: waiting.id,
        })
        .await
        .unwrap();
    assert_eq!(
        cancelled.state,
        JobState::Cancelled,
        "queued: cancelled at once"
    );

    // The running one is flagged (or has just finished: then it is a conflict).
    match client
        .call_service(CancelJob {
            principal: Default::default(),
            id: blocker.id,
        })
        .await
    {
        Ok(job) => assert!(job.cancel_requested || job.state == JobState::Cancelled),
        Err(err) => assert_eq!(err.kind(), ErrorKind::Conflict, "{err}"),
    }
    let rest: Vec<_> = tokio::time::timeout(PATIENCE, blocker_events.collect::<Vec<_>>())
        .await
        .unwrap();
    let last = rest.last().expect("the final event").as_ref().unwrap();
    assert!(last.state.is_finished(), "{last:?}");

    let never = client
        .call_service(GetJob {
            principal: Default::default(),
            id: waiting.id,
        })
        .await
        .unwrap();
    assert_eq!(never.state, JobState::Cancelled);
    assert!(
        never.started_at.is_none(),
        "a cancelled queued job never runs"
    );
    server.stop().await;
}
