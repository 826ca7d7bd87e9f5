//! Batches: the jobs the render-pool threads hand over, and how a GPU thread packs
//! them into one atlas (shelf packing, each scene in an isolated layer clipped to its
//! cell) within vello's fixed buffers.

use std::collections::VecDeque;
use std::sync::mpsc;

use kurbo::{Affine, Rect};
use vello::peniko::{self, BlendMode};

use super::Drawn;
use super::encode::Weight;

/// What one batch may ask of vello's buffers: a quarter of their fixed sizes (2²¹ line
/// segments and 2²¹ tiles), leaving room for the estimate to be wrong.
pub(super) const BATCH_BUDGET: Weight = Weight {
    lines: 1 << 19,
    tiles: 1 << 19,
};
/// What a scene rendered alone may ask: three quarters of the fixed sizes. Heavier
/// scenes render on the CPU.
pub(super) const SINGLE_BUDGET: Weight = Weight {
    lines: 3 << 19,
    tiles: 3 << 19,
};

/// One render handed to the GPU threads.
pub(super) struct Job {
    pub(super) scene: vello::Scene,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) weight: Weight,
    pub(super) reply: mpsc::SyncSender<Result<Drawn, String>>,
}

/// The jobs sent to the GPU threads, and those taken but left out of a full batch.
pub(super) struct Incoming {
    pub(super) jobs: mpsc::Receiver<Job>,
    pub(super) pending: VecDeque<Job>,
}

/// Where one render lands in a batch's target.
pub(super) struct Placed {
    pub(super) job: Job,
    pub(super) x: u32,
    pub(super) y: u32,
}

/// The batch's scenes side by side: each in an isolated layer clipped to its cell, so
/// nothing drawn past a page's edge reaches a neighbour and blend modes see only their
/// own page.
pub(super) fn atlas_scene(batch: &[Placed]) -> vello::Scene {
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
/// shelf packing, within `max_batch` jobs and [`BATCH_BUDGET`]; always at least one job.
pub(super) fn pack(pending: &mut VecDeque<Job>, side: u32, max_batch: usize) -> Vec<Placed> {
    let mut placed = Vec::new();
    let mut weight = Weight::default();
    let (mut x, mut y, mut shelf) = (0u32, 0u32, 0u32);
    while let Some(job) = pending.front() {
        if !placed.is_empty() {
            let mut total = weight;
            total.add(job.weight);
            if placed.len() >= max_batch || !total.fits(BATCH_BUDGET) {
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
        let placed = pack(&mut pending, 1024, 256);
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
            pack(&mut pending, 4096, 256).len(),
            1,
            "two would pass the budget"
        );
        let mut alone: VecDeque<Job> = [job(5000, 10, SINGLE_BUDGET)].into();
        assert_eq!(
            pack(&mut alone, 4096, 256).len(),
            1,
            "a job wider than the atlas still goes"
        );
    }
}
