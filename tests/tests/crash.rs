//! A crash while jobs run: `spv-server` killed with SIGKILL in the middle of a render job,
//! started again on the same data directory. Every job finishes, exactly once, with all
//! its outputs intact.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use spv_client::Client;
use spv_client::api::{
    CreateDocument, EnqueueRender, GetDocumentThumbnail, GetJob, GetJobOutput, ImageFormat, Job,
    JobState, Principal, RenderJobResult, RenderJobSpec, Secret, ThumbnailSize,
};
use spv_tests::server::SpvServer;
use uuid::Uuid;

const PASSWORD: &str = "crash-admin-password-1";
const JOBS: usize = 3;
/// Short leases, so that the restarted server claims the killed server's job soon.
const ENV: &[(&str, &str)] = &[("SPV_JOB_WORKERS", "1"), ("SPV_JOB_LEASE_SECS", "2")];

/// Four pages of 150 overlapping translucent ellipses each: slow enough to render that
/// a job is caught in the middle.
fn busy_document() -> Vec<u8> {
    let pages: Vec<_> = (0..4)
        .map(|p| {
            let layers: Vec<_> = (0..150)
                .map(|i| {
                    serde_json::json!({
                        "type": "ellipse",
                        "cx": (i * 37 + p * 11) % 700, "cy": (i * 53) % 500,
                        "rx": 60 + i % 45, "ry": 40 + i % 35,
                        "opacity": 0.6,
                        "fill": { "type": "radial", "center": [60, 40], "radius": 90,
                                  "stops": [[0, "#ff8800"], [1, format!("#00{:02x}ff", (i * 7 + p * 50) % 256)]] },
                        "stroke": { "paint": "#102030", "width": 3, "dash": [6, 3] }
                    })
                })
                .collect();
            serde_json::json!({ "width": 800, "height": 600, "background": "#fafafa", "layers": layers })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "format": "glyph", "version": 1, "pages": pages }))
        .unwrap()
}

fn client(server: &SpvServer) -> Client {
    Client::builder(server.url())
        .password("admin", Secret::new(PASSWORD))
        .build()
        .unwrap()
}

async fn job(client: &Client, id: Uuid) -> Job {
    client
        .call_service(GetJob {
            principal: Principal::default(),
            id,
        })
        .await
        .unwrap()
}

/// The `job finished` log lines of succeeded jobs, counted by job id.
fn successes(log: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in log.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let fields = &value["fields"];
        if fields["message"] != "job finished" || fields["result"] != "succeeded" {
            continue;
        }
        if let Some(id) = value["span"]["id"].as_str() {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_killed_server_and_finish_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = SpvServer::start(&data, PASSWORD, ENV);
    let admin = client(&first);
    let doc = admin
        .call_service(CreateDocument::new(Principal::default(), busy_document()))
        .await
        .unwrap();
    let spec = RenderJobSpec {
        sizes: vec![256, 512],
        formats: vec![ImageFormat::Png, ImageFormat::Webp],
        ..RenderJobSpec::new(doc.id)
    };
    let mut ids = Vec::new();
    for n in 0..JOBS {
        let job = admin
            .call_service(EnqueueRender {
                principal: Principal::default(),
                spec: spec.clone(),
                idempotency_key: Some(format!("crash-{n}")),
            })
            .await
            .unwrap();
        ids.push(job.id);
    }

    // Kill the server once the first job is running and has written an output.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let first_job = job(&admin, ids[0]).await;
        if first_job.state == JobState::Running && first_job.progress > 0.0 {
            break;
        }
        assert!(
            first_job.state == JobState::Queued || first_job.state == JobState::Running,
            "the first job ended before the kill: {first_job:?}"
        );
        assert!(Instant::now() < deadline, "the first job never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_log = first.kill();

    // Again on the same data directory: the killed worker's lease runs out and the job
    // is claimed again; the others run in turn.
    let second = SpvServer::start(&data, PASSWORD, ENV);
    let admin = client(&second);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut finished = Vec::new();
    for &id in &ids {
        loop {
            let now = job(&admin, id).await;
            if now.state.is_finished() {
                finished.push(now);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not finish after the restart: {now:?}\n{}",
                second.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for job in &finished {
        assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    }
    assert!(
        finished[0].attempts >= 2,
        "the interrupted job ran again: {:?}",
        finished[0]
    );

    // Every output is there and is exactly what a direct render of it gives.
    let mut expected: HashMap<(usize, u32, ImageFormat), Vec<u8>> = HashMap::new();
    for job in &finished {
        let result: RenderJobResult =
            serde_json::from_value(job.result.clone().expect("a result")).unwrap();
        assert_eq!(result.outputs.len(), 4 * 2 * 2, "{job:?}");
        for output in &result.outputs {
            let content = admin
                .call_service(GetJobOutput {
                    principal: Principal::default(),
                    job: job.id,
                    index: output.index,
                })
                .await
                .unwrap();
            let key = (output.page, output.size, output.format);
            if let Entry::Vacant(slot) = expected.entry(key) {
                let mut request = GetDocumentThumbnail::new(None, doc.id);
                request.page = output.page;
                request.size = ThumbnailSize::Longest { size: output.size };
                request.format = output.format;
                let direct = admin.call_service(request).await.unwrap();
                slot.insert(direct.image.expect("an image").bytes.to_vec());
            }
            assert!(
                content.bytes == expected[&key],
                "output {} of job {} differs from a direct render",
                output.index,
                job.id
            );
        }
    }

    // Exactly once: across both runs, one success per job.
    let mut counts = successes(&first_log);
    for (id, n) in successes(&second.log()) {
        *counts.entry(id).or_default() += n;
    }
    for id in &ids {
        assert_eq!(
            counts.get(&id.to_string()).copied(),
            Some(1),
            "job {id} succeeded once; counts: {counts:?}"
        );
    }
}
