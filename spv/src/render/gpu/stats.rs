//! [`GpuStats`]: what one [`Gpu`](super::Gpu) did, counted as it goes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of what a [`Gpu`](super::Gpu) did since it was built.
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

/// The live counters behind [`GpuStats`], shared with the GPU threads (which must not
/// hold the handle itself: the last handle's drop is what stops them).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) renders: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) fallbacks_failed: AtomicU64,
    pub(super) fallbacks_too_large: AtomicU64,
    pub(super) fallbacks_unavailable: AtomicU64,
    pub(super) device_inits: AtomicU64,
    pub(super) device_losses: AtomicU64,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> GpuStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GpuStats {
            renders: read(&self.renders),
            batches: read(&self.batches),
            fallbacks_failed: read(&self.fallbacks_failed),
            fallbacks_too_large: read(&self.fallbacks_too_large),
            fallbacks_unavailable: read(&self.fallbacks_unavailable),
            device_inits: read(&self.device_inits),
            device_losses: read(&self.device_losses),
        }
    }
}
