//! The GPU backend (feature `gpu`): the same scene the CPU draws, drawn by
//! vello on wgpu, headless, with renders batched into one target.
//!
//! A [`Gpu`] is a value: a cheap-to-clone handle that owns its device, its GPU threads,
//! its state and its [`GpuStats`], built from a [`GpuConfig`]. Dropping the last handle
//! ends its threads and releases the device. Renders reach it through a
//! [`Renderer`](super::Renderer) in their [`RenderOptions`](super::RenderOptions).
//!
//! One device and queue per [`Gpu`], fed by its GPU threads (two by default).
//! Render-pool threads build their scenes (text layout, image decoding, vello encoding)
//! in parallel and hand them over; a GPU thread packs every scene waiting into one atlas
//! texture (shelf packing, each scene in an isolated layer clipped to its cell), renders
//! it with one vello submission, copies it out with one readback and splits it. While
//! one GPU thread waits for its batch on the GPU, the other gathers and submits the
//! next, so a loaded server pays one submission and one readback per batch instead of
//! per thumbnail, and the GPU is not left idle between batches.
//!
//! Which adapter, and when: [`RendererChoice::Auto`](super::RendererChoice::Auto) takes a
//! hardware adapter (discrete, then integrated, then virtual) and never a software one,
//! and never makes a render wait: renders go to the CPU until [`Gpu::start`] (the server
//! at start, the CLI for a large batch) has found and initialised one on a probe thread
//! of its own. On Linux without a GPU device node (`/dev/dri/renderD*`, `/dev/nvidia*`)
//! that probe loads nothing at all; a probe that finds only a software adapter releases
//! it. [`RendererChoice::Gpu`](super::RendererChoice::Gpu) takes a software adapter (Mesa's
//! lavapipe) when there is no hardware one, and its first render initialises the GPU and
//! waits for it.
//!
//! Failures never fail a render: an error from wgpu or vello (device lost, out of
//! memory, validation), a readback that does not complete, or a scene too large for
//! vello's fixed GPU buffers sends the render to the CPU backend. It is logged and
//! counted in [`Gpu::stats`]. After a device failure the GPU rests for
//! [`GpuConfig::retry_after`] and is then initialised again (in the background under
//! `auto`).
//!
//! | module | what it holds |
//! |---|---|
//! | `config` | [`GpuConfig`] and its defaults |
//! | `state` | where a [`Gpu`] stands: idle, probing, ready, resting, absent |
//! | `device` | adapter choice, the device-node pre-check, device creation, [`AdapterSummary`] |
//! | `submit` | the render-pool side: encode, check the limits, hand over, wait |
//! | `batch` | jobs, atlas packing within vello's buffers |
//! | `thread` | the GPU threads: submission and readback |
//! | `encode` | the scene as a vello scene, and its weight |
//! | `stats` | [`GpuStats`] |
//!
//! ```no_run
//! use spv::render::RendererChoice;
//! use spv::render::gpu::{Gpu, GpuConfig};
//!
//! // Initialise the GPU ahead of the first render (compiling shaders takes a while).
//! let gpu = Gpu::new(GpuConfig::new(RendererChoice::Gpu));
//! match gpu.warm_up() {
//!     Some(adapter) => println!("rendering on {} ({})", adapter.name, adapter.backend),
//!     None => println!("no GPU: rendering on the CPU"),
//! }
//! assert_eq!(gpu.stats().device_inits, u64::from(gpu.adapter().is_some()));
//! ```

mod batch;
mod config;
mod device;
mod encode;
mod state;
mod stats;
mod submit;
mod thread;

use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use self::config::{GpuConfig, RETRY_AFTER};
pub use self::device::AdapterSummary;
pub use self::stats::GpuStats;
pub(crate) use self::submit::Drawn;

use self::state::{Inner, State};

/// Where a [`Gpu`] stands ([`Gpu::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuStatus {
    /// Nothing started yet: under `auto` renders go to the CPU.
    Idle,
    /// A probe is finding and initialising an adapter (under `auto`, renders go to the
    /// CPU meanwhile; under `gpu`, they wait).
    Probing,
    /// Initialised and healthy: renders go to the GPU.
    Ready,
    /// A device failed (or `gpu` found no adapter): renders go to the CPU until the rest
    /// ends.
    Resting,
    /// `auto` found no hardware adapter: renders go to the CPU for good.
    Absent,
}

/// The GPU backend: a device, its GPU threads, its state and its statistics.
///
/// Cheap to clone: clones share all of it. Dropping the last handle stops the GPU
/// threads and releases the device.
///
/// ```
/// use spv::render::RendererChoice;
/// use spv::render::gpu::{Gpu, GpuConfig, GpuStatus};
///
/// // Built, not started: nothing is loaded until `start` or (under `gpu`) a render.
/// let gpu = Gpu::new(GpuConfig::new(RendererChoice::Auto));
/// assert_eq!(gpu.status(), GpuStatus::Idle);
/// assert!(!gpu.is_ready());
/// assert_eq!(gpu.stats().renders, 0);
/// ```
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<Inner>,
}

impl Gpu {
    /// A GPU with these settings; nothing is probed or loaded yet.
    pub fn new(config: GpuConfig) -> Gpu {
        Gpu {
            inner: Arc::new(Inner::new(config)),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &GpuConfig {
        &self.inner.config
    }

    /// Starts finding and initialising an adapter on a thread of its own, and returns
    /// at once; nothing when a probe is under way, a device is ready, the GPU rests, or
    /// the choice is `cpu`. Under `auto`, renders go to the CPU until the probe has
    /// initialised a hardware adapter.
    pub fn start(&self) {
        self.start_probe();
    }

    /// Initialises the GPU now rather than at the first render, waits for it, and says
    /// which adapter renders; `None` when renders go to the CPU (`cpu`, `auto` without a
    /// hardware adapter, no adapter at all, or a GPU resting after a failure). Blocks
    /// while shaders compile.
    pub fn warm_up(&self) -> Option<AdapterSummary> {
        self.device(true).map(|worker| worker.adapter.clone())
    }

    /// Whether renders go to the GPU now (initialised, and not known to have failed),
    /// without starting anything; one atomic load, for the per-request cache keys.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Where it stands.
    pub fn status(&self) -> GpuStatus {
        self.status_now()
    }

    /// The adapter in use, if the GPU has been initialised and is healthy.
    pub fn adapter(&self) -> Option<AdapterSummary> {
        match &*self.inner.lock() {
            State::Ready(worker) if !worker.dead.load(Ordering::Acquire) => {
                Some(worker.adapter.clone())
            }
            _ => None,
        }
    }

    /// What it did since it was built.
    pub fn stats(&self) -> GpuStats {
        self.inner.counters.snapshot()
    }

    /// Destroys the device as a driver reset would, so that the next renders take the
    /// fallback path; for tests of that path. The device is initialised again after
    /// [`GpuConfig::retry_after`].
    pub fn simulate_device_loss(&self) {
        if let State::Ready(worker) = &*self.inner.lock() {
            worker.device.destroy();
        }
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("choice", &self.inner.config.choice)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}
