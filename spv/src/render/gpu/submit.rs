//! The render-pool side: a scene encoded for vello on the render's own thread, checked
//! against the GPU's limits, handed to the GPU threads, and waited for.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Gpu;
use super::batch::{Job, SINGLE_BUDGET};
use super::device::Worker;
use super::encode;
use super::stats::Counters;
use crate::render::scene::Scene;
use crate::render::{Deadline, RendererChoice};

/// A render the GPU drew.
pub(crate) struct Drawn {
    /// RGBA8, unpremultiplied sRGB, row by row.
    pub(crate) pixels: Vec<u8>,
    /// The wall time of the batch the render rode in.
    pub(crate) gpu_time: Duration,
}

impl Gpu {
    /// Draws `scene` on the GPU when the choice and the machine allow it; `None` means the
    /// caller draws it on the CPU (every failure is already logged and counted here).
    /// Under `auto` it never waits for a probe.
    pub(crate) fn try_render(&self, scene: &Scene<'_>, deadline: &Deadline) -> Option<Drawn> {
        let choice = self.inner.config.choice;
        if choice == RendererChoice::Cpu {
            return None;
        }
        let counters = &*self.inner.counters;
        let Some(worker) = self.device(choice == RendererChoice::Gpu) else {
            if choice == RendererChoice::Gpu {
                Counters::bump(&counters.fallbacks_unavailable);
            }
            return None;
        };
        if scene.width == 0 || scene.height == 0 {
            return None; // The CPU path names the error.
        }
        if scene.width > worker.max_side || scene.height > worker.max_side {
            Counters::bump(&counters.fallbacks_too_large);
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
            Counters::bump(&counters.fallbacks_too_large);
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
            return fail(counters, &worker, "the GPU thread has stopped");
        }
        // At most half the time left, so that a stalled GPU leaves the CPU time to draw it.
        let wait = (deadline_left(deadline) / 2).min(self.inner.config.max_wait);
        match answer.recv_timeout(wait) {
            Ok(Ok(drawn)) => {
                Counters::bump(&counters.renders);
                Some(drawn)
            }
            Ok(Err(reason)) => fail(counters, &worker, &reason),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // No batch at all finished during a wait of a second or more: the GPU is
                // taken for stalled, later renders go to the CPU at once instead of each
                // waiting, and the device is initialised again after a rest. (A GPU that is
                // only busy keeps finishing batches, and a render whose time had nearly run
                // out, say behind the device's initialisation, proves nothing; both keep it.)
                if wait >= Duration::from_secs(1)
                    && worker.batches.load(Ordering::Acquire) == progress
                {
                    worker.dead.store(true, Ordering::Release);
                }
                fail(
                    counters,
                    &worker,
                    "the GPU did not answer within half the render's time limit",
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                fail(counters, &worker, "the GPU thread has stopped")
            }
        }
    }
}

fn deadline_left(deadline: &Deadline) -> Duration {
    match deadline.at {
        Some(at) => at.saturating_duration_since(Instant::now()),
        None => Duration::MAX,
    }
}

fn fail(counters: &Counters, worker: &Worker, reason: &str) -> Option<Drawn> {
    Counters::bump(&counters.fallbacks_failed);
    tracing::warn!(
        reason,
        adapter = worker.adapter.name,
        "GPU render failed: drawn on the CPU instead"
    );
    None
}
