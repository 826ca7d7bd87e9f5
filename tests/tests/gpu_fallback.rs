//! When the GPU cannot render, the CPU does, with the same pixels as a CPU render, and
//! the GPU comes back later.
//!
//! A test binary of its own: the device is destroyed here, which would disturb other
//! GPU tests in the same process. Needs a Vulkan adapter (lavapipe in CI), like
//! `tests/gpu.rs`, and is skipped without one except under `CI=true`.

use spv::api::RenderBackend;
use spv::glyph::{self, Limits};
use spv::render::{RendererChoice, gpu};
use spv_tests::{gpu_or_skip, render_page_with, render_with, samples};

/// Page 0 with a two-minute time limit (`spv_tests::render_page_with`): on a software
/// adapter on a loaded machine a render may wait seconds for the GPU, and past half its
/// limit the CPU would draw it, which is not the fallback these steps test.
fn render(
    loaded: &glyph::Loaded,
    size: u32,
    renderer: RendererChoice,
) -> spv::render::RenderedPage {
    render_page_with(loaded, 0, size, renderer).expect("a render")
}

/// One test, in steps, since they share the process's one device.
#[test]
fn a_lost_device_falls_back_to_identical_cpu_pixels_and_recovers() {
    if gpu_or_skip("gpu fallback").is_none() {
        return;
    }
    let sample = samples()
        .into_iter()
        .find(|s| s.name == "poster")
        .expect("the poster sample");
    let (cpu, _) = render_with(&sample.loaded, 0, 256, RendererChoice::Cpu).expect("CPU render");

    // `cpu` never touches the GPU.
    let before = gpu::stats();
    let forced = render(&sample.loaded, 256, RendererChoice::Cpu);
    assert_eq!(forced.backend, RenderBackend::Cpu);
    assert_eq!(forced.gpu_time, None);
    assert_eq!(forced.pixels, cpu.pixels);
    assert_eq!(gpu::stats().renders, before.renders);

    // Healthy: the GPU draws.
    let on_gpu = render(&sample.loaded, 256, RendererChoice::Gpu);
    assert_eq!(on_gpu.backend, RenderBackend::Gpu, "{:?}", gpu::stats());
    assert!(on_gpu.gpu_time.is_some());

    // The device is lost (as in a driver reset): the render still succeeds, on the CPU,
    // byte for byte what the CPU backend draws, and it is counted.
    gpu::simulate_device_loss();
    let lost = gpu::stats();
    let asked = std::time::Instant::now();
    let fallen = render(&sample.loaded, 256, RendererChoice::Gpu);
    // The failed batch is answered at once, not after the render's wait for the GPU
    // (60 s here): the other GPU thread, idle and holding the queue, must not delay it.
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(30),
        "the fallback waited {:?}",
        asked.elapsed()
    );
    assert_eq!(fallen.backend, RenderBackend::Cpu, "{:?}", gpu::stats());
    assert_eq!(
        fallen.pixels, cpu.pixels,
        "the fallback differs from the CPU render"
    );
    let after = gpu::stats();
    assert!(
        after.fallbacks_failed > lost.fallbacks_failed || after.device_losses > lost.device_losses,
        "the failure was counted: {lost:?} → {after:?}"
    );

    // While the GPU rests, renders go straight to the CPU.
    let resting = render(&sample.loaded, 256, RendererChoice::Gpu);
    assert_eq!(resting.backend, RenderBackend::Cpu);
    assert_eq!(resting.pixels, cpu.pixels);
    assert!(gpu::adapter().is_none(), "no healthy adapter while resting");

    // After the rest a new device is initialised and the GPU draws again.
    gpu::retry_now();
    let back = render(&sample.loaded, 256, RendererChoice::Gpu);
    assert_eq!(back.backend, RenderBackend::Gpu, "{:?}", gpu::stats());
    assert_eq!(
        back.pixels, on_gpu.pixels,
        "the new device draws as the old one did"
    );
    let end = gpu::stats();
    assert_eq!(end.device_inits, before.device_inits.max(1) + 1, "{end:?}");
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
    let too_large = gpu::stats().fallbacks_too_large;
    let page = render(&heavy, 1024, RendererChoice::Gpu);
    assert_eq!(page.backend, RenderBackend::Cpu);
    assert_eq!(gpu::stats().fallbacks_too_large, too_large + 1);
    assert_eq!(
        page.pixels,
        render(&heavy, 1024, RendererChoice::Cpu).pixels
    );
}
