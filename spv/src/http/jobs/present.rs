//! A job as the routes answer it: the links of a render's outputs under the mount prefix.

use serde_json::Value;

use super::super::prefix::MountPrefix;
use crate::api::{Job, RENDER_JOB_KIND};

/// `job` with each output `href` of a render's result under `prefix`: the service stores
/// them as the routes spell them (`/api/v1/jobs/{id}/outputs/{n}`), not knowing where a
/// host mounted the routers.
pub(crate) fn present(mut job: Job, prefix: &MountPrefix) -> Job {
    if prefix.0.is_empty() || job.kind != RENDER_JOB_KIND {
        return job;
    }
    let outputs = job
        .result
        .as_mut()
        .and_then(|result| result.get_mut("outputs"))
        .and_then(Value::as_array_mut);
    for output in outputs.into_iter().flatten() {
        if let Some(Value::String(href)) = output.get_mut("href")
            && href.starts_with('/')
        {
            *href = prefix.link(href);
        }
    }
    job
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::api::JobState;

    fn job(kind: &str, result: Option<Value>) -> Job {
        let now = OffsetDateTime::UNIX_EPOCH;
        Job {
            id: Uuid::from_u128(1),
            kind: kind.to_owned(),
            payload: json!({}),
            owner_id: None,
            idempotency_key: None,
            state: JobState::Succeeded,
            attempts: 1,
            run_at: now,
            lease_until: None,
            worker_id: None,
            progress: 1.0,
            progress_message: None,
            result,
            error: None,
            cancel_requested: false,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn output_links_get_the_prefix() {
        let result = json!({"outputs": [
            {"index": 0, "href": "/api/v1/jobs/1/outputs/0"},
            {"index": 1, "href": "/api/v1/jobs/1/outputs/1"}]});
        let prefix = MountPrefix("/spv".to_owned());
        let shown = present(job(RENDER_JOB_KIND, Some(result.clone())), &prefix);
        let hrefs: Vec<&str> = shown.result.as_ref().unwrap()["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["href"].as_str().unwrap())
            .collect();
        assert_eq!(
            hrefs,
            [
                "/spv/api/v1/jobs/1/outputs/0",
                "/spv/api/v1/jobs/1/outputs/1"
            ]
        );

        let root = present(
            job(RENDER_JOB_KIND, Some(result.clone())),
            &MountPrefix::default(),
        );
        assert_eq!(root.result, Some(result.clone()), "unchanged at the root");
        let other = present(job("maintenance.prune", Some(result.clone())), &prefix);
        assert_eq!(other.result, Some(result), "other kinds are left alone");
        assert_eq!(present(job(RENDER_JOB_KIND, None), &prefix).result, None);
    }
}
