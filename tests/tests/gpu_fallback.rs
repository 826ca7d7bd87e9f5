//! When the GPU cannot render, the CPU does, with the same pixels as a CPU render, and
//! the GPU comes back later.
//!
//! A test binary of its own: it counts the process's GPU threads. Needs a Vulkan
//! adapter (lavapipe in CI), like `tests/gpu.rs`, and is skipped without one except
//! under `CI=true`.

use std::time::Duration;

use spv::api::RenderBackend;
use spv::glyph::{self, Limits};
use spv::render::gpu::GpuConfig;
use spv::render::{Renderer, RendererChoice};
use spv_tests::{gpu_or_skip, gpu_with_or_skip, render_page_with, render_with, samples};

/// Page 0 with a two-minute time limit (`spv_tests::render_page_with`): on a software
/// adapter on a loaded machine a render may wait seconds for the GPU, and past half its
/// limit the CPU would draw it, which is not the fallback these steps test.
fn render(loaded: &glyph::Loaded, size: u32, renderer: &Renderer) -> spv::render::RenderedPage {
    render_page_with(loaded, 0, size, renderer).expect("a render")
}

/// The threads of this process whose name starts with `spv-gpu-` (the GPU threads and
/// probes).
#[cfg(target_os = "linux")]
fn gpu_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("spv-gpu-"))
        })
        .count()
}

/// One test, in steps, since they share the process's adapter.
#[test]
fn a_lost_device_falls_back_to_identical_cpu_pixels_and_recovers() {
    // The default rest after a failure (30 s): long enough to see renders go to the CPU
    // meanwhile.
    let Some(gpu) = gpu_or_skip("gpu fallback") else {
        return;
    };
    let renderer = Renderer::with_gpu(gpu.clone());
    let sample = samples()
        .into_iter()
        .find(|s| s.name == "poster")
        .expect("the poster sample");
    let (cpu, _) = render_with(&sample.loaded, 0, 256, &Renderer::cpu()).expect("CPU render");

    // `cpu` never touches the GPU.
    let before = gpu.stats();
    let forced = render(&sample.loaded, 256, &Renderer::cpu());
    assert_eq!(forced.backend, RenderBackend::Cpu);
    assert_eq!(forced.gpu_time, None);
    assert_eq!(forced.pixels, cpu.pixels);
    assert_eq!(gpu.stats().renders, before.renders);

    // Healthy: the GPU draws.
    let on_gpu = render(&sample.loaded, 256, &renderer);
    assert_eq!(on_gpu.backend, RenderBackend::Gpu, "{:?}", gpu.stats());
    assert!(on_gpu.gpu_time.is_some());

    // The device is lost (as in a driver reset): the render still succeeds, on the CPU,
    // byte for byte what the CPU backend draws, and it is counted.
    gpu.simulate_device_loss();
    let lost = gpu.stats();
    let asked = std::time::Instant::now();
    let fallen = render(&sample.loaded, 256, &renderer);
    // The failed batch is answered at once, not after the render's wait for the GPU
    // (60 s here): the other GPU thread, idle and holding the queue, must not delay it.
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "the fallback waited {:?}",
        asked.elapsed()
    );
    assert_eq!(fallen.backend, RenderBackend::Cpu, "{:?}", gpu.stats());
    assert_eq!(
        fallen.pixels, cpu.pixels,
        "the fallback differs from the CPU render"
    );
    let after = gpu.stats();
    assert!(
        after.fallbacks_failed > lost.fallbacks_failed || after.device_losses > lost.device_losses,
        "the failure was counted: {lost:?} → {after:?}"
    );

    // While the GPU rests, renders go straight to the CPU.
    let resting = render(&sample.loaded, 256, &renderer);
    assert_eq!(resting.backend, RenderBackend::Cpu);
    assert_eq!(resting.pixels, cpu.pixels);
    assert!(gpu.adapter().is_none(), "no healthy adapter while resting");

    // After the rest a new device is initialised and the GPU draws again: a GPU whose
    // rest is zero. The first render after the loss meets the lost device (and falls
    // back) or, the loss already seen, initialises a new one; the next one draws.
    let config = GpuConfig::new(RendererChoice::Gpu).with_retry_after(Duration::ZERO);
    let quick = gpu_with_or_skip("gpu fallback (no rest)", config).expect("the same adapter");
    let renderer = Renderer::with_gpu(quick.clone());
    quick.simulate_device_loss();
    let _ = render(&sample.loaded, 256, &renderer);
    let back = render(&sample.loaded, 256, &renderer);
    assert_eq!(back.backend, RenderBackend::Gpu, "{:?}", quick.stats());
    assert_eq!(
        back.pixels, on_gpu.pixels,
        "the new device draws as the old one did"
    );
    let end = quick.stats();
    assert_eq!(end.device_inits, 2, "{end:?}");
    assert!(end.device_losses >= 1, "{end:?}");

    // A scene past what vello's fixed GPU buffers hold is drawn by the CPU, identically.
    let mut layers = Vec::new();
    for i in 0..600 {
        layers.push(format!(
            r##"{{"type":"rect","x":0,"y":0,"width":1000,"height":1000,"fill":"#{:02x}3060","opacity":0.5}}"##,
            i % 256
        ));
    }
    let json = format!(
        r#"{{"format":"glyph","version":1,"pages":[{{"width":1000,"height":1000,"layers":[{}]}}]}}"#,
        layers.join(",")
    );
    let heavy = glyph::load(json.as_bytes(), &Limits::default()).expect("a valid document");
    let too_large = quick.stats().fallbacks_too_large;
    let page = render(&heavy, 1024, &renderer);
    assert_eq!(page.backend, RenderBackend::Cpu);
    assert_eq!(quick.stats().fallbacks_too_large, too_large + 1);
    assert_eq!(page.pixels, render(&heavy, 1024, &Renderer::cpu()).pixels);

    // Dropping the last handle stops the GPU's threads (and so releases its device).
    #[cfg(target_os = "linux")]
    {
        let running = gpu_threads();
        assert!(running >= 2, "{running} GPU threads");
        drop(renderer);
        drop(quick);
        assert!(
            gpu_threads() <= running - 2,
            "the GPU threads outlived the last handle"
        );
    }
}
