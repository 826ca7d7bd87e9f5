//! The GPU backend (vello on wgpu) against the CPU backend (vello_cpu): every page of
//! every sample in `examples/docs/`, at 256 and 1024 px.
//!
//! CI runs these on Mesa's lavapipe, a software Vulkan driver (`.ci/run` installs
//! `mesa-vulkan-drivers`); `gpu` is forced, since `auto` never takes a software adapter.
//! Without any adapter the tests say they were skipped, and fail under `CI=true`.
//!
//! Bounds, per page, images compared premultiplied (see `spv_tests::compare`): a pixel
//! differs when a channel differs by more than [`THRESHOLD`]; at most [`MAX_SHARE`] of
//! the pixels may differ and the mean absolute difference per channel may be at most
//! [`MAX_MEAN`]. What differs is anti-aliasing along edges (both backends compute
//! coverage analytically, with different tile and strip arithmetic), gradient colours
//! (vello samples a 512-entry ramp, vello_cpu evaluates each pixel) and image filtering.
//! Failing pages are written to `test-output/gpu/` with a diff image.

use std::sync::Arc;
use std::thread;

use spv::api::RenderBackend;
use spv::glyph::{self, Limits};
use spv::render::Renderer;
use spv_tests::{
    Rgba, compare, diff_image, gpu_or_skip, output_dir, render_page_with, render_with, samples,
    write_png,
};

/// A channel difference up to this is not a difference.
const THRESHOLD: u8 = 8;
/// The largest share of differing pixels on a page.
const MAX_SHARE: f64 = 0.015;
/// The largest mean absolute difference per channel on a page (0 to 255).
const MAX_MEAN: f64 = 1.0;

#[test]
fn every_sample_page_renders_alike_on_the_gpu_and_the_cpu() {
    let Some(gpu) = gpu_or_skip("gpu parity") else {
        return;
    };
    let renderer = Renderer::with_gpu(gpu.clone());
    let mut cases = Vec::new();
    for sample in samples() {
        for page in 0..sample.page_count() {
            for size in [256, 1024] {
                cases.push((sample.clone(), page, size));
            }
        }
    }
    assert!(cases.len() >= 28, "only {} cases", cases.len());
    // Four threads at once, as the render pool sends them, so that GPU batches form.
    let chunks: Vec<_> = cases.chunks(cases.len().div_ceil(4)).collect();
    let results: Vec<Result<String, String>> = thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let renderer = &renderer;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(sample, page, size)| {
                            let key = sample.page_key(*page);
                            check(&key, &sample.loaded, *page, *size, renderer)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a parity thread panicked"))
            .collect()
    });
    let mut report = String::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(line) => report.push_str(&format!("{line}\n")),
            Err(failure) => failures.push(failure),
        }
    }
    eprintln!("{report}");
    let stats = gpu.stats();
    eprintln!("GPU: {stats:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        stats.renders >= cases.len() as u64,
        "every case was drawn by the GPU: {stats:?}"
    );
}

/// Renders one page on both backends (the GPU's through `renderer`) and checks the
/// bounds.
fn check(
    key: &str,
    loaded: &glyph::Loaded,
    page: usize,
    size: u32,
    renderer: &Renderer,
) -> Result<String, String> {
    let label = format!("{key} at {size} px");
    let (cpu, _) = render_with(loaded, page, size, &Renderer::cpu())
        .map_err(|e| format!("{label}: the CPU failed: {e}"))?;
    let (gpu, backend) = render_with(loaded, page, size, renderer)
        .map_err(|e| format!("{label}: the render failed: {e}"))?;
    if backend != RenderBackend::Gpu {
        return Err(format!(
            "{label}: drawn by the {backend} instead of the GPU ({:?})",
            renderer.gpu().map(|gpu| gpu.stats())
        ));
    }
    let diff = compare(&cpu, &gpu, THRESHOLD);
    let line = format!(
        "{label}: {:.3}% of pixels differ, mean {:.3}, max {}",
        diff.share() * 100.0,
        diff.mean_abs,
        diff.max
    );
    if diff.share() > MAX_SHARE || diff.mean_abs > MAX_MEAN {
        save(key, size, &cpu, &gpu);
        return Err(format!(
            "{line} (bounds: {}%, mean {MAX_MEAN}); see test-output/gpu/",
            MAX_SHARE * 100.0
        ));
    }
    Ok(line)
}

fn save(key: &str, size: u32, cpu: &Rgba, gpu: &Rgba) {
    let dir = output_dir().join("gpu");
    let _ = std::fs::create_dir_all(&dir);
    let _ = write_png(&dir.join(format!("{key}-{size}-cpu.png")), cpu);
    let _ = write_png(&dir.join(format!("{key}-{size}-gpu.png")), gpu);
    let _ = write_png(
        &dir.join(format!("{key}-{size}-diff.png")),
        &diff_image(cpu, gpu, THRESHOLD),
    );
}

fn load(json: &str) -> Arc<glyph::Loaded> {
    Arc::new(glyph::load(json.as_bytes(), &Limits::default()).expect("a valid test document"))
}

fn render_gpu(loaded: &glyph::Loaded, size: u32, renderer: &Renderer) -> spv::render::RenderedPage {
    render_page_with(loaded, 0, size, renderer).expect("a render")
}

/// Renders batched into one atlas never reach their neighbours: a page whose shapes run
/// far past its edges, with a blend mode, beside blank pages.
#[test]
fn batched_renders_stay_inside_their_own_page() {
    let Some(gpu) = gpu_or_skip("gpu atlas") else {
        return;
    };
    let renderer = Renderer::with_gpu(gpu.clone());
    let spill = load(
        r##"{"format":"glyph","version":1,"pages":[{"width":100,"height":100,"layers":[
            {"type":"rect","x":-500,"y":-500,"width":1100,"height":1100,"fill":"#ff0000"},
            {"type":"ellipse","cx":50,"cy":50,"rx":400,"ry":400,"fill":"#00ff00","blend":"difference"}
        ]}]}"##,
    );
    let blank =
        load(r#"{"format":"glyph","version":1,"pages":[{"width":100,"height":100,"layers":[]}]}"#);
    let results: Vec<(bool, spv::render::RenderedPage)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let doc = if i % 2 == 0 { &spill } else { &blank };
                let renderer = &renderer;
                scope.spawn(move || (i % 2 == 0, render_gpu(doc, 64, renderer)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a render thread"))
            .collect()
    });
    for (spilling, page) in results {
        assert_eq!(page.backend, RenderBackend::Gpu, "{:?}", gpu.stats());
        if spilling {
            // Red under a green difference: yellow everywhere.
            assert_eq!(page.pixel(0, 0), [255, 255, 0, 255]);
            assert_eq!(page.pixel(63, 63), [255, 255, 0, 255]);
        } else {
            assert!(
                page.pixels.iter().all(|&b| b == 0),
                "a blank page got paint from its neighbour in the atlas"
            );
        }
    }
}
