//! The GPU backend (feature `gpu`): the same [`Scene`] drawn by vello on wgpu,
//! headless, with renders batched into one target.
//!
//! One device and queue per process, created on first use, fed by two dedicated GPU
//! threads. Render-pool threads build their scenes (text layout, image decoding, vello
//! encoding) in parallel and hand them over; a GPU thread packs every scene waiting into
//! one atlas texture (shelf packing, each scene in an isolated layer clipped to its
//! cell), renders it with one vello submission, copies it out with one readback and
//! splits it. While one GPU thread waits for its batch on the GPU, the other gathers and
//! submits the next, so a loaded server pays one submission and one readback per batch
//! instead of per thumbnail, and the GPU is not left idle between batches.
//!
//! Which adapter: [`RendererChoice::Auto`] takes a hardware adapter (discrete, then
//! integrated, then virtual) and never a software one; [`RendererChoice::Gpu`] takes a
//! software adapter (Mesa's lavapipe) when there is no hardware one.
//!
//! Failures never fail a render: an error from wgpu or vello (device lost, out of
//! memory, validation), a readback that does not complete, or a scene too large for
//! vello's fixed GPU buffers sends the render to the CPU backend. It is logged and
//! counted in [`stats`]. After a device failure the GPU rests for [`RETRY_AFTER`] and is
//! then initialised again by the next render that asks for it.
//!
//! ```no_run
//! use spv::render::{RendererChoice, gpu};
//! // Initialise the GPU ahead of the first render (compiling shaders takes a while).
//! match gpu::warm_up(RendererChoice::Gpu) {
//!     Some(adapter) => println!("rendering on {} ({})", adapter.name, adapter.backend),
//!     None => println!("no GPU: rendering on the CPU"),
//! }
//! ```

mod encode;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use kurbo::{Affine, Rect};
use vello::peniko::{self, BlendMode};
use vello::wgpu;

use self::encode::Weight;
use super::scene::Scene;
use super::{Deadline, RendererChoice};

/// How long the GPU rests after a device failure before the next render initialises it
/// again.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The side of the atlas that batches are packed into (at most the device's limit).
const ATLAS_SIDE: u32 = 4096;
/// At most this many renders share one batch.
const MAX_BATCH: usize = 256;
/// What one batch may ask of vello's buffers: a quarter of their fixed sizes (2²¹ line
/// segments and 2²¹ tiles), leaving room for the estimate to be wrong.
const BATCH_BUDGET: Weight = Weight {
    lines: 1 << 19,
    tiles: 1 << 19,
};
/// What a scene rendered alone may ask: three quarters of the fixed sizes. Heavier
/// scenes render on the CPU.
const SINGLE_BUDGET: Weight = Weight {
    lines: 3 << 19,
    tiles: 3 << 19,
};
/// Threads submitting batches to the one device, each with its own vello renderer,
/// target and readback buffer: while one waits for its batch on the GPU, the other
/// gathers and encodes the next.
const GPU_THREADS: usize = 2;
/// The longest the first render of a new device may take (shader compilation included).
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest a render waits for the GPU (besides half its own time limit).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The longest a batch's readback may take before the device is taken for lost.
const READBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The adapter the GPU backend renders with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name (e.g. `NVIDIA H100 80GB HBM3`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub name: String,
    /// The graphics API: `vulkan`, `metal` or `dx12`.
    pub backend: String,
    /// The driver and its version, as the adapter reports them.
    pub driver: String,
    /// Whether it is a software rasteriser on the CPU (lavapipe, WARP).
    pub software: bool,
}

/// Counts of what the GPU backend did since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Renders drawn by the GPU.
    pub renders: u64,
    /// Batches submitted (each is one vello render and one readback).
    pub batches: u64,
    /// Renders that asked for the GPU and were drawn by the CPU because the GPU failed
    /// (device lost, out of memory, an error from wgpu or vello, a readback timeout).
    pub fallbacks_failed: u64,
    /// Renders drawn by the CPU because their scene was too large for the GPU's buffers
    /// or its texture limit.
    pub fallbacks_too_large: u64,
    /// Renders that asked for the GPU (`gpu`, not `auto`) while no adapter was usable.
    pub fallbacks_unavailable: u64,
    /// Devices initialised (1 after the first render; more after failures).
    pub device_inits: u64,
    /// Devices given up after a failure.
    pub device_losses: u64,
}

static RENDERS: AtomicU64 = AtomicU64::new(0);
static BATCHES: AtomicU64 = AtomicU64::new(0);
static FALLBACKS_FAILED: AtomicU64 = AtomicU64::new(0);
static FALLBACKS_TOO_LARGE: AtomicU64 = AtomicU64::new(0);
static FALLBACKS_UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
static DEVICE_INITS: AtomicU64 = AtomicU64::new(0);
static DEVICE_LOSSES: AtomicU64 = AtomicU64::new(0);

/// What the GPU backend did since the process started.
pub fn stats() -> GpuStats {
    GpuStats {
        renders: RENDERS.load(Ordering::Relaxed),
        batches: BATCHES.load(Ordering::Relaxed),
        fallbacks_failed: FALLBACKS_FAILED.load(Ordering::Relaxed),
        fallbacks_too_large: FALLBACKS_TOO_LARGE.load(Ordering::Relaxed),
        fallbacks_unavailable: FALLBACKS_UNAVAILABLE.load(Ordering::Relaxed),
        device_inits: DEVICE_INITS.load(Ordering::Relaxed),
        device_losses: DEVICE_LOSSES.load(Ordering::Relaxed),
    }
}

/// Initialises the GPU for `choice` now rather than at the first render, and says which
/// adapter renders; `None` when `choice` renders on the CPU (`cpu`, `auto` without a
/// hardware adapter, or no adapter at all). Blocks while shaders compile.
pub fn warm_up(choice: RendererChoice) -> Option<AdapterSummary> {
    device_for(choice).map(|worker| worker.adapter.clone())
}

/// Whether renders under `choice` go to the GPU now (initialised, not known to have
/// failed, and for `auto` a hardware adapter), without initialising anything; one atomic
/// load, for the per-request cache keys.
pub fn ready_for(choice: RendererChoice) -> bool {
    !matches!(
        (choice, READY.load(Ordering::Acquire)),
        (RendererChoice::Cpu, _) | (_, READY_NONE) | (RendererChoice::Auto, READY_SOFTWARE)
    )
}

/// What [`ready_for`] reads: no GPU, a software one, a hardware one.
static READY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(READY_NONE);
const READY_NONE: u8 = 0;
const READY_SOFTWARE: u8 = 1;
const READY_HARDWARE: u8 = 2;

/// The adapter in use, if the GPU has been initialised and is healthy.
pub fn adapter() -> Option<AdapterSummary> {
    match &*lock_state() {
        State::Ready(worker) if !worker.dead.load(Ordering::Acquire) => {
            Some(worker.adapter.clone())
        }
        _ => None,
    }
}

/// Destroys the device as a driver reset would, so that the next renders take the
/// fallback path (for tests of that path). The device is initialised again after
/// [`RETRY_AFTER`], or at once after [`retry_now`].
#[doc(hidden)]
pub fn simulate_device_loss() {
    if let State::Ready(worker) = &*lock_state() {
        worker.device.destroy();
    }
}

/// Ends the rest after a device failure: the next render initialises the GPU again.
#[doc(hidden)]
pub fn retry_now() {
    let mut state = lock_state();
    if let State::Resting { .. } = *state {
        *state = State::Unready {
            hardware_missing: false,
        };
    }
}

/// A render the GPU drew.
pub(crate) struct Drawn {
    /// RGBA8, unpremultiplied sRGB, row by row.
    pub(crate) pixels: Vec<u8>,
    /// The wall time of the batch the render rode in.
    pub(crate) gpu_time: Duration,
}

/// Draws `scene` on the GPU when `choice` and the machine allow it; `None` means the
/// caller draws it on the CPU (every failure is already logged and counted here).
pub(crate) fn try_render(
    scene: &Scene<'_>,
    choice: RendererChoice,
    deadline: &Deadline,
) -> Option<Drawn> {
    if choice == RendererChoice::Cpu {
        return None;
    }
    let Some(worker) = device_for(choice) else {
        if choice == RendererChoice::Gpu {
            FALLBACKS_UNAVAILABLE.fetch_add(1, Ordering::Relaxed);
        }
        return None;
    };
    if scene.width == 0 || scene.height == 0 {
        return None; // The CPU path names the error.
    }
    if scene.width > worker.max_side || scene.height > worker.max_side {
        FALLBACKS_TOO_LARGE.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            width = scene.width,
            height = scene.height,
            max = worker.max_side,
            "render larger than the GPU's texture limit: drawing it on the CPU"
        );
        return None;
    }
    // A deadline passing here is reported by the CPU path's own check.
    let (vello_scene, weight) = encode::encode(scene, deadline).ok()?;
    if !weight.fits(SINGLE_BUDGET) {
        FALLBACKS_TOO_LARGE.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            lines = weight.lines,
            tiles = weight.tiles,
            "scene too complex for the GPU's buffers: drawing it on the CPU"
        );
        return None;
    }
    let (reply, answer) = mpsc::sync_channel(1);
    let job = Job {
        scene: vello_scene,
        width: scene.width,
        height: scene.height,
        weight,
        reply,
    };
    let progress = worker.batches.load(Ordering::Acquire);
    if worker.jobs.send(job).is_err() {
        return fail(&worker, "the GPU thread has stopped");
    }
    // At most half the time left, so that a stalled GPU leaves the CPU time to draw it.
    let wait = (deadline_left(deadline) / 2).min(MAX_WAIT);
    match answer.recv_timeout(wait) {
        Ok(Ok(drawn)) => {
            RENDERS.fetch_add(1, Ordering::Relaxed);
            Some(drawn)
        }
        Ok(Err(reason)) => fail(&worker, &reason),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // No batch at all finished during a wait of a second or more: the GPU is
            // taken for stalled, later renders go to the CPU at once instead of each
            // waiting, and the device is initialised again after a rest. (A GPU that is
            // only busy keeps finishing batches, and a render whose time had nearly run
            // out, say behind the device's initialisation, proves nothing; both keep it.)
            if wait >= Duration::from_secs(1) && worker.batches.load(Ordering::Acquire) == progress
            {
                worker.dead.store(true, Ordering::Release);
            }
            fail(
                &worker,
                "the GPU did not answer within half the render's time limit",
            )
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => fail(&worker, "the GPU thread has stopped"),
    }
}

fn deadline_left(deadline: &Deadline) -> Duration {
    match deadline.at {
        Some(at) => at.saturating_duration_since(Instant::now()),
        None => Duration::MAX,
    }
}

fn fail(worker: &Worker, reason: &str) -> Option<Drawn> {
    FALLBACKS_FAILED.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        reason,
        adapter = worker.adapter.name,
        "GPU render failed: drawn on the CPU instead"
    );
    None
}

/// The process's GPU, as far as it got.
enum State {
    /// Not initialised (yet); `hardware_missing` once `auto` found no hardware adapter.
    Unready { hardware_missing: bool },
    /// Initialised: renders go to this thread.
    Ready(Arc<Worker>),
    /// A device failed; no new one before `until`.
    Resting { until: Instant },
}

static STATE: Mutex<State> = Mutex::new(State::Unready {
    hardware_missing: false,
});

fn lock_state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The GPU thread to render with under `choice`, initialising it when needed.
fn device_for(choice: RendererChoice) -> Option<Arc<Worker>> {
    if choice == RendererChoice::Cpu {
        return None;
    }
    let mut state = lock_state();
    loop {
        match &*state {
            State::Ready(worker) => {
                if worker.dead.load(Ordering::Acquire) {
                    DEVICE_LOSSES.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        adapter = worker.adapter.name,
                        retry_in_s = RETRY_AFTER.as_secs(),
                        "GPU device given up; renders go to the CPU until it is initialised again"
                    );
                    READY.store(READY_NONE, Ordering::Release);
                    *state = State::Resting {
                        until: Instant::now() + RETRY_AFTER,
                    };
                    continue;
                }
                if choice == RendererChoice::Auto && worker.adapter.software {
                    return None;
                }
                return Some(worker.clone());
            }
            State::Resting { until } => {
                if Instant::now() < *until {
                    return None;
                }
                *state = State::Unready {
                    hardware_missing: false,
                };
            }
            State::Unready { hardware_missing } => {
                if *hardware_missing && choice == RendererChoice::Auto {
                    return None;
                }
                let allow_software = choice == RendererChoice::Gpu;
                match Worker::start(allow_software) {
                    Ok(worker) => {
                        DEVICE_INITS.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            adapter = worker.adapter.name,
                            backend = worker.adapter.backend,
                            driver = worker.adapter.driver,
                            software = worker.adapter.software,
                            "GPU renderer ready"
                        );
                        let ready = if worker.adapter.software {
                            READY_SOFTWARE
                        } else {
                            READY_HARDWARE
                        };
                        READY.store(ready, Ordering::Release);
                        *state = State::Ready(Arc::new(worker));
                    }
                    Err(StartError::NoAdapter) => {
                        if allow_software {
                            tracing::warn!(
                                "SPV_RENDERER=gpu but no GPU adapter: rendering on the CPU"
                            );
                            *state = State::Resting {
                                until: Instant::now() + RETRY_AFTER,
                            };
                        } else {
                            tracing::info!("no hardware GPU adapter: rendering on the CPU");
                            *state = State::Unready {
                                hardware_missing: true,
                            };
                        }
                        return None;
                    }
                    Err(StartError::Failed(reason)) => {
                        tracing::warn!(reason, "GPU initialisation failed: rendering on the CPU");
                        *state = State::Resting {
                            until: Instant::now() + RETRY_AFTER,
                        };
                        return None;
                    }
                }
            }
        }
    }
}

enum StartError {
    NoAdapter,
    Failed(String),
}

/// One render handed to the GPU thread.
struct Job {
    scene: vello::Scene,
    width: u32,
    height: u32,
    weight: Weight,
    reply: mpsc::SyncSender<Result<Drawn, String>>,
}

/// The handle on the GPU thread.
struct Worker {
    jobs: mpsc::Sender<Job>,
    adapter: AdapterSummary,
    /// Set by the thread when its device failed; the next caller retires the worker.
    dead: Arc<AtomicBool>,
    /// Batches this worker's threads have finished (progress, to tell a stalled GPU from
    /// a busy one).
    batches: Arc<AtomicU64>,
    device: wgpu::Device,
    max_side: u32,
}

impl Worker {
    fn start(allow_software: bool) -> Result<Worker, StartError> {
        // Vulkan, Metal or DX12 (`WGPU_BACKEND` and the other wgpu variables override).
        let instance = wgpu::Instance::new(
            wgpu::InstanceDescriptor {
                backends: wgpu::Backends::PRIMARY,
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            }
            .with_env(),
        );
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let rank = |info: &wgpu::AdapterInfo| match info.device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        let adapter = adapters
            .into_iter()
            .filter(|a| allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu)
            .min_by_key(|a| rank(&a.get_info()))
            .ok_or(StartError::NoAdapter)?;
        let info = adapter.get_info();
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: info.backend.to_str().to_owned(),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_owned(),
            software: info.device_type == wgpu::DeviceType::Cpu,
        };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("spv"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| StartError::Failed(format!("no device on {}: {e}", summary.name)))?;
        let dead = Arc::new(AtomicBool::new(false));
        {
            let dead = dead.clone();
            device.set_device_lost_callback(move |reason, message| {
                tracing::warn!(?reason, message, "GPU device lost");
                dead.store(true, Ordering::Release);
            });
        }
        {
            // wgpu's default handler panics; an error outside an error scope is a failed
            // device here.
            let dead = dead.clone();
            device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                tracing::warn!(%error, "GPU error");
                dead.store(true, Ordering::Release);
            }));
        }
        let max_side = limits.max_texture_dimension_2d.min(ATLAS_SIDE.max(8192));
        let (jobs, incoming) = mpsc::channel();
        let (warmed_tx, warmed_rx) = mpsc::channel();
        let batches = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Mutex::new(Incoming {
            jobs: incoming,
            pending: VecDeque::new(),
        }));
        for index in 0..GPU_THREADS {
            let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
            let renderer = vello::Renderer::new(
                &device,
                vello::RendererOptions {
                    use_cpu: false,
                    antialiasing_support: vello::AaSupport::area_only(),
                    num_init_threads: None,
                    pipeline_cache: None,
                },
            )
            .map_err(|e| StartError::Failed(format!("vello on {}: {e}", summary.name)))?;
            if let Some(error) = pollster::block_on(scope.pop()) {
                return Err(StartError::Failed(format!(
                    "vello's shaders on {}: {error}",
                    summary.name
                )));
            }
            let mut thread = Thread {
                device: device.clone(),
                queue: queue.clone(),
                renderer,
                dead: dead.clone(),
                batches: batches.clone(),
                atlas_side: ATLAS_SIDE.min(limits.max_texture_dimension_2d),
                target: None,
                readback: None,
                readback_timeout: READBACK_TIMEOUT,
            };
            let shared = shared.clone();
            let warmed = warmed_tx.clone();
            std::thread::Builder::new()
                .name(format!("spv-gpu-{index}"))
                .spawn(move || {
                    // However the thread ends (a panic in vello or wgpu included), the
                    // worker is dead and the next render retires it.
                    let _dead = DeadOnExit(thread.dead.clone());
                    let _ = warmed.send(thread.warm_up());
                    drop(warmed);
                    thread.run(&shared);
                })
                .map_err(|e| StartError::Failed(format!("cannot start a GPU thread: {e}")))?;
        }
        drop(warmed_tx);
        // Each thread draws a small scene first: drivers compile shaders at their first
        // dispatch (seconds on lavapipe), which belongs to initialisation, not to the
        // time limit of the first real render.
        for _ in 0..GPU_THREADS {
            match warmed_rx.recv_timeout(WARM_UP_TIMEOUT) {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => {
                    dead.store(true, Ordering::Release);
                    return Err(StartError::Failed(format!(
                        "the first render on {} failed: {reason}",
                        summary.name
                    )));
                }
                Err(_) => {
                    dead.store(true, Ordering::Release);
                    return Err(StartError::Failed(format!(
                        "the first render on {} took over {} s",
                        summary.name,
                        WARM_UP_TIMEOUT.as_secs()
                    )));
                }
            }
        }
        Ok(Worker {
            jobs,
            adapter: summary,
            dead,
            batches,
            device,
            max_side,
        })
    }
}

/// Marks the worker dead when the GPU thread ends.
struct DeadOnExit(Arc<AtomicBool>);

impl Drop for DeadOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The jobs sent to the GPU threads, and those taken but left out of a full batch.
struct Incoming {
    jobs: mpsc::Receiver<Job>,
    pending: VecDeque<Job>,
}

/// Where one render lands in a batch's target.
struct Placed {
    job: Job,
    x: u32,
    y: u32,
}

/// The GPU thread: owns the device, the queue, vello and the reused target and readback
/// buffer.
struct Thread {
    device: wgpu::Device,
    queue: wgpu::Queue,
    renderer: vello::Renderer,
    dead: Arc<AtomicBool>,
    batches: Arc<AtomicU64>,
    atlas_side: u32,
    /// The render target, reused while it is large enough.
    target: Option<(wgpu::Texture, wgpu::TextureView)>,
    /// The readback buffer, reused while it is large enough.
    readback: Option<wgpu::Buffer>,
    /// How long a readback may take ([`READBACK_TIMEOUT`]; longer for the first render).
    readback_timeout: Duration,
}

impl Thread {
    /// Draws a small scene (a rectangle, a stroke, a gradient and a blended layer) and
    /// checks one of its pixels.
    fn warm_up(&mut self) -> Result<(), String> {
        let mut scene = vello::Scene::new();
        let rect = Rect::new(0.0, 0.0, 16.0, 16.0);
        scene.fill(
            peniko::Fill::NonZero,
            Affine::IDENTITY,
            peniko::Color::from_rgba8(255, 0, 0, 255),
            None,
            &rect,
        );
        scene.push_layer(
            peniko::Fill::NonZero,
            BlendMode::new(peniko::Mix::Multiply, peniko::Compose::SrcOver),
            0.5,
            Affine::IDENTITY,
            &Rect::new(8.0, 8.0, 16.0, 16.0),
        );
        let gradient = peniko::Gradient::new_linear((8.0, 8.0), (16.0, 16.0))
            .with_stops([peniko::Color::WHITE, peniko::Color::BLACK]);
        scene.fill(
            peniko::Fill::NonZero,
            Affine::IDENTITY,
            &gradient,
            None,
            &rect,
        );
        scene.pop_layer();
        scene.stroke(
            &kurbo::Stroke::new(1.0),
            Affine::IDENTITY,
            peniko::Color::BLACK,
            None,
            &Rect::new(2.0, 2.0, 6.0, 6.0),
        );
        let (reply, _answer) = mpsc::sync_channel(1);
        let job = Job {
            scene,
            width: 16,
            height: 16,
            weight: Weight::default(),
            reply,
        };
        self.readback_timeout = WARM_UP_TIMEOUT;
        let drawn = self.render_batch(&[Placed { job, x: 0, y: 0 }]);
        self.readback_timeout = READBACK_TIMEOUT;
        let (pixels, _) = drawn?;
        match pixels.first().map(|p| p.get(..4)) {
            Some(Some([255, 0, 0, 255])) => Ok(()),
            other => Err(format!("drew {other:?} where red was expected")),
        }
    }

    fn run(&mut self, shared: &Mutex<Incoming>) {
        loop {
            // Gather a batch; meanwhile the other thread's batch is on the GPU.
            let batch = {
                let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let Incoming { jobs, pending } = &mut *guard;
                if pending.is_empty() {
                    match jobs.recv() {
                        Ok(job) => pending.push_back(job),
                        Err(_) => return,
                    }
                }
                pending.extend(jobs.try_iter());
                pack(pending, self.atlas_side)
            };
            match self.render_batch(&batch) {
                Ok((pixels, gpu_time)) => {
                    BATCHES.fetch_add(1, Ordering::Relaxed);
                    self.batches.fetch_add(1, Ordering::Release);
                    for (placed, pixels) in batch.into_iter().zip(pixels) {
                        let _ = placed.job.reply.send(Ok(Drawn { pixels, gpu_time }));
                    }
                }
                Err(reason) => {
                    self.dead.store(true, Ordering::Release);
                    // This batch's renders first: the other GPU thread may hold the lock
                    // while it waits for work.
                    for placed in batch {
                        let _ = placed.job.reply.send(Err(reason.clone()));
                    }
                    let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    let Incoming { jobs, pending } = &mut *guard;
                    for job in pending.drain(..).chain(jobs.try_iter()) {
                        let _ = job.reply.send(Err(reason.clone()));
                    }
                    // Later senders see the channel closed and fall back on their own.
                    return;
                }
            }
        }
    }

    /// Renders the batch into the target and reads each render's pixels back.
    fn render_batch(&mut self, batch: &[Placed]) -> Result<(Vec<Vec<u8>>, Duration), String> {
        if self.dead.load(Ordering::Acquire) {
            return Err("the device was lost".into());
        }
        let started = Instant::now();
        let (width, height) = batch.iter().fold((0, 0), |(w, h), p| {
            (w.max(p.x + p.job.width), h.max(p.y + p.job.height))
        });
        let scene = match batch {
            [single] => &single.job.scene,
            _ => &atlas_scene(batch),
        };
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let view = self.target_view(width, height);
        let rendered = self.renderer.render_to_texture(
            &self.device,
            &self.queue,
            scene,
            &view,
            &vello::RenderParams {
                base_color: peniko::Color::TRANSPARENT,
                width,
                height,
                antialiasing_method: vello::AaConfig::Area,
            },
        );
        let bytes_per_row = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = self.readback_buffer(u64::from(bytes_per_row) * u64::from(height));
        let texture = self.target.as_ref().map(|(t, _)| t.clone());
        let mut submitted = None;
        if let (Ok(()), Some(texture)) = (&rendered, &texture) {
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("spv readback"),
                });
            encoder.copy_texture_to_buffer(
                texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(bytes_per_row),
                        rows_per_image: None,
                    },
                },
                wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
            );
            submitted = Some(self.queue.submit([encoder.finish()]));
        }
        // Popped in the reverse order of pushing.
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        let internal = pollster::block_on(internal.pop());
        rendered.map_err(|e| format!("vello: {e}"))?;
        if let Some(error) = oom.or(validation).or(internal) {
            return Err(format!("wgpu: {error}"));
        }
        let slice = buffer.slice(..u64::from(bytes_per_row) * u64::from(height));
        let (mapped_tx, mapped_rx) = mpsc::sync_channel(1);
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = mapped_tx.send(result);
        });
        // Wait in short steps, so that a lost device is noticed at once.
        // Wait for this thread's own submission: waiting for "the latest" while the other
        // GPU thread submits trips an assertion in wgpu-core 30 (a race between its
        // submission counters), seen under load.
        let Some(submitted) = submitted else {
            return Err("the readback was not submitted".into());
        };
        let give_up = Instant::now() + self.readback_timeout;
        loop {
            match self.device.poll(wgpu::PollType::Wait {
                submission_index: Some(submitted.clone()),
                timeout: Some(Duration::from_millis(50)),
            }) {
                Ok(_) | Err(wgpu::PollError::Timeout) => {}
                Err(e) => return Err(format!("waiting for the GPU: {e}")),
            }
            match mapped_rx.try_recv() {
                Ok(mapped) => {
                    mapped.map_err(|e| format!("mapping the readback: {e}"))?;
                    break;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err("the readback was dropped".into());
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
            if self.dead.load(Ordering::Acquire) {
                return Err("the device failed during the batch".into());
            }
            if Instant::now() >= give_up {
                return Err(format!(
                    "the readback did not complete in {} s",
                    self.readback_timeout.as_secs()
                ));
            }
        }
        if self.dead.load(Ordering::Acquire) {
            return Err("the device failed during the batch".into());
        }
        let outputs = {
            let data = slice
                .get_mapped_range()
                .map_err(|e| format!("reading the readback: {e}"))?;
            batch
                .iter()
                .map(|p| {
                    let row = p.job.width as usize * 4;
                    let mut pixels = Vec::with_capacity(row * p.job.height as usize);
                    for y in p.y..p.y + p.job.height {
                        let start = y as usize * bytes_per_row as usize + p.x as usize * 4;
                        pixels.extend_from_slice(&data[start..start + row]);
                    }
                    pixels
                })
                .collect()
        };
        buffer.unmap();
        Ok((outputs, started.elapsed()))
    }

    /// A view of a target at least `width × height`, reused when it is.
    fn target_view(&mut self, width: u32, height: u32) -> wgpu::TextureView {
        if let Some((texture, view)) = &self.target
            && texture.width() >= width
            && texture.height() >= height
        {
            return view.clone();
        }
        let side = |need: u32| need.max(self.atlas_side.min(1024)).next_power_of_two();
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("spv target"),
            size: wgpu::Extent3d {
                width: side(width).max(width),
                height: side(height).max(height),
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        self.target = Some((texture, view.clone()));
        view
    }

    /// A mappable buffer of at least `size` bytes, reused when it is.
    fn readback_buffer(&mut self, size: u64) -> wgpu::Buffer {
        if let Some(buffer) = &self.readback
            && buffer.size() >= size
        {
            return buffer.clone();
        }
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("spv readback"),
            size: size.next_power_of_two(),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        self.readback = Some(buffer.clone());
        buffer
    }
}

/// The batch's scenes side by side: each in an isolated layer clipped to its cell, so
/// nothing drawn past a page's edge reaches a neighbour and blend modes see only their
/// own page.
fn atlas_scene(batch: &[Placed]) -> vello::Scene {
    let mut atlas = vello::Scene::new();
    for placed in batch {
        let (x, y) = (f64::from(placed.x), f64::from(placed.y));
        let cell = Rect::new(
            x,
            y,
            x + f64::from(placed.job.width),
            y + f64::from(placed.job.height),
        );
        atlas.push_layer(
            peniko::Fill::NonZero,
            BlendMode::default(),
            1.0,
            Affine::IDENTITY,
            &cell,
        );
        atlas.append(&placed.job.scene, Some(Affine::translate((x, y))));
        atlas.pop_layer();
    }
    atlas
}

/// Takes the longest prefix of `pending` that fits one atlas of `side` pixels square by
/// shelf packing, within [`MAX_BATCH`] and [`BATCH_BUDGET`]; always at least one job.
fn pack(pending: &mut VecDeque<Job>, side: u32) -> Vec<Placed> {
    let mut placed = Vec::new();
    let mut weight = Weight::default();
    let (mut x, mut y, mut shelf) = (0u32, 0u32, 0u32);
    while let Some(job) = pending.front() {
        if !placed.is_empty() {
            let mut total = weight;
            total.add(job.weight);
            if placed.len() >= MAX_BATCH || !total.fits(BATCH_BUDGET) {
                break;
            }
        }
        let (w, h) = (job.width, job.height);
        if x > 0 && x + w > side {
            // Next shelf.
            y += shelf;
            x = 0;
            shelf = 0;
        }
        if !placed.is_empty() && (y + h > side || x + w > side) {
            break;
        }
        let Some(job) = pending.pop_front() else {
            break;
        };
        weight.add(job.weight);
        placed.push(Placed { job, x, y });
        x += w;
        shelf = shelf.max(h);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(width: u32, height: u32, weight: Weight) -> Job {
        let (reply, _) = mpsc::sync_channel(1);
        Job {
            scene: vello::Scene::new(),
            width,
            height,
            weight,
            reply,
        }
    }

    #[test]
    fn packing_fills_shelves_and_stops_at_the_atlas_edge() {
        let mut pending: VecDeque<Job> =
            (0..40).map(|_| job(256, 200, Weight::default())).collect();
        let placed = pack(&mut pending, 1024);
        // Four a shelf (4 × 256 = 1024), five shelves (5 × 200 ≤ 1024).
        assert_eq!(placed.len(), 20);
        assert_eq!(pending.len(), 20);
        assert_eq!((placed[3].x, placed[3].y), (768, 0));
        assert_eq!((placed[4].x, placed[4].y), (0, 200));
        for (a, b) in placed.iter().zip(placed.iter().skip(1)) {
            let disjoint = a.x + a.job.width <= b.x
                || b.x + b.job.width <= a.x
                || a.y + a.job.height <= b.y
                || b.y + b.job.height <= a.y;
            assert!(disjoint, "cells overlap");
        }
    }

    #[test]
    fn packing_respects_the_budget_but_always_takes_one() {
        let heavy = Weight {
            lines: BATCH_BUDGET.lines / 2 + 1,
            tiles: 0,
        };
        let mut pending: VecDeque<Job> = (0..3).map(|_| job(10, 10, heavy)).collect();
        assert_eq!(
            pack(&mut pending, 4096).len(),
            1,
            "two would pass the budget"
        );
        let mut alone: VecDeque<Job> = [job(5000, 10, SINGLE_BUDGET)].into();
        assert_eq!(
            pack(&mut alone, 4096).len(),
            1,
            "a job wider than the atlas still goes"
        );
    }
}
