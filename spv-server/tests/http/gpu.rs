//! `SPV_RENDERER=gpu`: thumbnails drawn by the GPU (lavapipe in CI), and `/metrics` says
//! so. Skipped without any GPU adapter, except under `CI=true`.

use super::*;
use spv::render::RendererChoice;
use spv::render::gpu::{Gpu, GpuConfig};

#[tokio::test]
async fn a_gpu_server_renders_on_the_gpu_and_its_metrics_say_so() {
    // Whether there is an adapter at all, on a GPU of the test's own (released when it
    // is dropped, before the server builds its own).
    let adapter =
        tokio::task::spawn_blocking(|| Gpu::new(GpuConfig::new(RendererChoice::Gpu)).warm_up())
            .await
            .unwrap();
    let Some(adapter) = adapter else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI installs lavapipe (mesa-vulkan-drivers)"
        );
        eprintln!("skipped: no GPU adapter");
        return;
    };
    let server = Server::start_with(|c| c.renderer = RendererChoice::Gpu).await;
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .json(&json!({"document": doc(), "size": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(png_size(&response.bytes().await.unwrap()), (100, 50));

    let metrics = server.metrics().await;
    for needle in [
        "spv_render_duration_seconds_count{backend=\"gpu\"} 1",
        "spv_gpu_batch_seconds_count 1",
        &format!("spv_gpu_adapter{{name=\"{}\"", adapter.name),
        "spv_gpu_fallbacks_total{reason=\"failed\"} 0",
    ] {
        assert!(metrics.contains(needle), "{needle} in:\n{metrics}");
    }
    let renders = metrics
        .lines()
        .find_map(|l| l.strip_prefix("spv_gpu_renders_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("spv_gpu_renders_total");
    assert!(renders >= 1, "{metrics}");
    server.stop().await;
}
