//! [`GpuConfig`]: what a [`Gpu`](super::Gpu) is built from, with the defaults spv runs
//! with.

use std::time::Duration;

use crate::render::RendererChoice;

/// How long the GPU rests after a device failure before it is initialised again
/// (the default of [`GpuConfig::retry_after`]).
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The side of the atlas that batches are packed into (at most the device's limit).
const ATLAS_SIDE: u32 = 4096;
/// At most this many renders share one batch.
const MAX_BATCH: usize = 256;
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

/// The settings of one [`Gpu`](super::Gpu).
///
/// ```
/// use std::time::Duration;
/// use spv::render::RendererChoice;
/// use spv::render::gpu::GpuConfig;
///
/// // A test's GPU: software adapters allowed, initialised again at once after a failure.
/// let config = GpuConfig::new(RendererChoice::Gpu).with_retry_after(Duration::ZERO);
/// assert_eq!(config.gpu_threads, 2);
/// assert_eq!(config.atlas_side, 4096);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuConfig {
    /// Which adapters render and when the GPU starts: [`RendererChoice::Auto`] takes a
    /// hardware adapter only and never makes a render wait for it (renders go to the
    /// CPU until a probe started by [`Gpu::start`](super::Gpu::start) has initialised
    /// one); [`RendererChoice::Gpu`] takes a software adapter too, and the first render
    /// initialises it and waits; [`RendererChoice::Cpu`] never starts anything.
    pub choice: RendererChoice,
    /// Threads submitting batches to the device (default 2).
    pub gpu_threads: usize,
    /// The side of the atlas batches are packed into, in pixels (default 4096; at most
    /// the device's texture limit).
    pub atlas_side: u32,
    /// At most this many renders share one batch (default 256).
    pub max_batch: usize,
    /// How long the GPU rests after a device failure before it is initialised again
    /// (default [`RETRY_AFTER`]; zero in tests of the fallback).
    pub retry_after: Duration,
    /// The longest a new device's first render may take, shader compilation included
    /// (default 120 s).
    pub warm_up_timeout: Duration,
    /// The longest a render waits for the GPU, besides half its own time limit
    /// (default 60 s).
    pub max_wait: Duration,
    /// The longest a batch's readback may take before the device is taken for lost
    /// (default 10 s).
    pub readback_timeout: Duration,
}

impl GpuConfig {
    /// The defaults, for `choice`.
    pub fn new(choice: RendererChoice) -> Self {
        GpuConfig {
            choice,
            gpu_threads: GPU_THREADS,
            atlas_side: ATLAS_SIDE,
            max_batch: MAX_BATCH,
            retry_after: RETRY_AFTER,
            warm_up_timeout: WARM_UP_TIMEOUT,
            max_wait: MAX_WAIT,
            readback_timeout: READBACK_TIMEOUT,
        }
    }

    /// Sets how long the GPU rests after a failure.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Sets the number of GPU threads (at least one).
    pub fn with_gpu_threads(mut self, gpu_threads: usize) -> Self {
        self.gpu_threads = gpu_threads;
        self
    }
}

impl Default for GpuConfig {
    /// The defaults, for [`RendererChoice::Auto`].
    fn default() -> Self {
        GpuConfig::new(RendererChoice::Auto)
    }
}
