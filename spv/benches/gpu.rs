//! Throughput of the GPU backend against the CPU backend: 256 px PNG thumbnails per
//! second of page 0 of every sample in `examples/docs/` and of a 300-node reference
//! document, in the same run.
//!
//! ```sh
//! cargo bench -p spv --features gpu --bench gpu              # 3 s a measurement
//! SPV_BENCH_SECONDS=10 cargo bench -p spv --features gpu --bench gpu -- reference
//! ```
//!
//! - CPU: one thread per core, each rendering the same thumbnail over and over with the
//!   CPU backend (`Renderer::cpu()`), as the render pool does with a slot per core.
//! - GPU: `4 ×` cores threads rendering with a `Gpu` of choice `gpu` (the GPU adapter,
//!   a software one too): each thread builds its scene on the CPU and waits while the
//!   GPU thread batches it with the others', so more threads than cores keep batches
//!   full. GPU renders drawn by the CPU instead are counted and named; more than 1% of
//!   them fails the run (the render time limit is raised to two minutes, so that a slow
//!   adapter is measured rather than timed out).
//!
//! Each iteration is [`render_thumbnail`]: scene building, text layout, image
//! decoding, drawing, un-premultiplying and PNG encoding, as a thumbnail request costs.
//! Prints a Markdown table for `BENCHMARKS.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spv::api::{ImageFormat, RenderBackend, ThumbnailSize};
use spv::glyph::{self, Limits, Loaded};
use spv::render::gpu::{Gpu, GpuConfig};
use spv::render::{RenderOptions, Renderer, RendererChoice, render_thumbnail};

mod common;

use common::samples;

const SIZE: u32 = 256;

fn main() {
    let filter: Option<String> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| !a.is_empty());
    let seconds: f64 = std::env::var("SPV_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let measure = Duration::from_secs_f64(seconds);

    let gpu = Gpu::new(GpuConfig::new(RendererChoice::Gpu));
    let adapter = gpu.warm_up();
    let on_gpu = Renderer::with_gpu(gpu.clone());
    match &adapter {
        Some(a) => println!(
            "GPU adapter: {} ({}, {}{})",
            a.name,
            a.backend,
            a.driver,
            if a.software { ", software" } else { "" }
        ),
        None => println!("no GPU adapter: CPU figures only"),
    }
    println!(
        "{cores} cores; {SIZE} px PNG thumbnails; {seconds} s a measurement; CPU {cores} threads, GPU {} threads\n",
        cores * 4
    );
    println!(
        "| document | nodes | CPU thumbnails/s | GPU thumbnails/s | GPU / CPU | renders per GPU batch |"
    );
    println!("|---|---:|---:|---:|---:|---:|");

    let mut cases = samples();
    cases.push(("reference-300".to_owned(), reference_document()));
    let (mut cpu_total, mut gpu_total) = (0.0, 0.0);
    for (name, loaded) in cases {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let loaded = Arc::new(loaded);
        let nodes = count_nodes(&loaded);
        let (cpu, _) = throughput(&loaded, &Renderer::cpu(), cores, measure);
        let (gpu_rate, per_batch) = if adapter.is_some() {
            let before = gpu.stats();
            let (rate, fell_back) = throughput(&loaded, &on_gpu, cores * 4, measure);
            if fell_back > 0 {
                eprintln!("{name}: {fell_back} GPU renders were drawn by the CPU");
            }
            let after = gpu.stats();
            let batches = after.batches.saturating_sub(before.batches).max(1);
            let renders = after.renders.saturating_sub(before.renders);
            (Some(rate), Some(renders as f64 / batches as f64))
        } else {
            (None, None)
        };
        cpu_total += cpu;
        gpu_total += gpu_rate.unwrap_or(0.0);
        println!(
            "| {name} | {nodes} | {cpu:.0} | {} | {} | {} |",
            gpu_rate.map_or("–".into(), |r| format!("{r:.0}")),
            gpu_rate.map_or("–".into(), |r| format!("{:.2}", r / cpu)),
            per_batch.map_or("–".into(), |b| format!("{b:.1}")),
        );
    }
    if adapter.is_some() && cpu_total > 0.0 {
        println!("\nsum of rates: GPU / CPU = {:.2}", gpu_total / cpu_total);
        println!("GPU counters: {:?}", gpu.stats());
    }
}

/// Thumbnails per second with `threads` threads rendering `loaded` on `renderer` for
/// `measure` (after a short warm-up).
fn throughput(
    loaded: &Arc<Loaded>,
    renderer: &Renderer,
    threads: usize,
    measure: Duration,
) -> (f64, u64) {
    // A long time limit: on a software adapter a render may wait seconds for the GPU,
    // and past half its limit it would be drawn by the CPU instead.
    let limits = Limits {
        render_timeout: Duration::from_secs(120),
        ..Limits::default()
    };
    let fell_back = AtomicU64::new(0);
    let once = || {
        let options = RenderOptions {
            renderer,
            limits: &limits,
            ..RenderOptions::default()
        };
        let thumb = render_thumbnail(
            loaded,
            0,
            ThumbnailSize::Longest { size: SIZE },
            ImageFormat::Png,
            &options,
        )
        .expect("the document renders");
        if renderer.choice() == RendererChoice::Gpu && thumb.timing.backend != RenderBackend::Gpu {
            fell_back.fetch_add(1, Ordering::Relaxed);
        }
        std::hint::black_box(thumb.bytes.len());
    };
    for _ in 0..2 {
        once();
    }
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    once();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(measure);
        stop.store(true, Ordering::Relaxed);
    });
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let fell_back = fell_back.load(Ordering::Relaxed);
    assert!(
        fell_back * 100 <= count.load(Ordering::Relaxed).max(1),
        "{fell_back} GPU renders fell back to the CPU: {:?}",
        renderer.gpu().map(Gpu::stats)
    );
    (rate, fell_back)
}

fn count_nodes(loaded: &Loaded) -> usize {
    fn count(nodes: &[glyph::Node]) -> usize {
        nodes
            .iter()
            .map(|n| match &n.kind {
                glyph::NodeKind::Group(group) => 1 + count(&group.children),
                _ => 1,
            })
            .sum()
    }
    loaded
        .document
        .pages
        .first()
        .map_or(0, |page| count(&page.layers))
}

/// The 300-node reference document: one 1200 × 800 page of 20 cards, each a group of
/// 15 nodes (a rounded card with a gradient, a shadow with opacity, an icon path, an
/// ellipse with a stroke, dashed and plain lines, a title, a caption and a figure of
/// text, a blend-mode accent, four bars of a chart), plus a background and a header.
fn reference_document() -> Loaded {
    let mut cards = Vec::new();
    for i in 0..20 {
        let (x, y) = (40 + (i % 5) * 230, 120 + (i / 5) * 170);
        let hue = |k: usize| ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"][(i + k) % 5];
        let bars: Vec<String> = (0..4)
            .map(|b| {
                format!(
                    r#"{{"type":"rect","x":{},"y":{},"width":14,"height":{},"fill":"{}"}}"#,
                    120 + b * 18,
                    110 - (b * 7 + i * 3) % 40,
                    20 + (b * 7 + i * 3) % 40,
                    hue(b)
                )
            })
            .collect();
        cards.push(format!(
            r##"{{"type":"group","transform":[1,0,0,1,{x},{y}],"children":[
  {{"type":"rect","x":4,"y":6,"width":210,"height":150,"radius":12,"fill":"#000000","opacity":0.25}},
  {{"type":"rect","x":0,"y":0,"width":210,"height":150,"radius":12,
    "fill":{{"type":"linear","from":[0,0],"to":[210,150],"stops":[[0,"#ffffff"],[1,"#e2e8f0"]]}},
    "stroke":{{"paint":"#cbd5e1","width":1}}}},
  {{"type":"path","d":"M16 16h24v24h-24z M22 22l12 12 M34 22l-12 12","stroke":{{"paint":"{h0}","width":2}}}},
  {{"type":"ellipse","cx":190,"cy":24,"rx":10,"ry":10,"fill":"{h1}","stroke":{{"paint":"#ffffff","width":2}}}},
  {{"type":"text","x":50,"y":34,"text":"Card {i}","size":18,"weight":700,"fill":"#0f172a"}},
  {{"type":"text","x":16,"y":64,"text":"Revenue by quarter","size":12,"fill":"#475569"}},
  {{"type":"text","x":120,"y":64,"text":"${v}k","size":14,"weight":700,"fill":"{h0}"}},
  {{"type":"path","d":"M16 140 L200 140","stroke":{{"paint":"#94a3b8","width":1,"dash":[4,3]}}}},
  {{"type":"ellipse","cx":60,"cy":110,"rx":30,"ry":22,"fill":"{h2}","opacity":0.8,"blend":"multiply"}},
  {bars},
  {{"type":"path","d":"M16 130 C50 90 80 120 110 80","stroke":{{"paint":"{h1}","width":3,"cap":"round"}}}}
]}}"##,
            h0 = hue(0),
            h1 = hue(1),
            h2 = hue(2),
            v = 120 + i * 17,
            bars = bars.join(",\n  "),
        ));
    }
    let json = format!(
        r##"{{"format":"glyph","version":1,"pages":[{{"width":1200,"height":800,"background":"#f8fafc","layers":[
  {{"type":"rect","x":0,"y":0,"width":1200,"height":90,
    "fill":{{"type":"linear","from":[0,0],"to":[1200,0],"stops":[[0,"#1e3a8a"],[1,"#7c3aed"]]}}}},
  {{"type":"text","x":40,"y":58,"text":"Quarterly dashboard","size":32,"weight":700,"fill":"#ffffff"}},
  {cards}
]}}]}}"##,
        cards = cards.join(",\n")
    );
    let loaded = glyph::load(json.as_bytes(), &Limits::default()).expect("the reference parses");
    let nodes = count_nodes(&loaded);
    assert_eq!(nodes, 302, "the reference document has 302 nodes");
    loaded
}
