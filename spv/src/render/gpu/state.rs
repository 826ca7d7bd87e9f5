//! Where a [`Gpu`] stands, and the moves between: probing (always on a thread of its
//! own), ready, resting after a failure, absent.
//!
//! A render never initialises a device on its own thread: under `auto` it takes the GPU
//! only once a probe has installed a hardware device, and goes to the CPU otherwise;
//! under `gpu` it starts the probe when none is under way and waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::config::GpuConfig;
use super::device::{self, StartError, Worker};
use super::stats::Counters;
use super::{Gpu, GpuStatus};
use crate::render::RendererChoice;

/// How much longer than the warm-up timeout a caller waits for a probe (finding the
/// adapter and creating the device come before the warm-up).
const PROBE_SLACK: Duration = Duration::from_secs(30);

/// Where the GPU got to.
pub(super) enum State {
    /// Nothing asked for yet.
    Idle,
    /// A probe thread is finding an adapter and initialising it.
    Probing,
    /// Initialised: renders go to this worker.
    Ready(Arc<Worker>),
    /// A device failed (or `gpu` found no adapter); no new one before `until`.
    Resting { until: Instant },
    /// `auto` found no hardware adapter: nothing is probed again.
    Absent,
}

/// What the handles share.
pub(super) struct Inner {
    pub(super) config: GpuConfig,
    pub(super) state: Mutex<State>,
    /// Notified when a probe ends.
    pub(super) probed: Condvar,
    /// Whether renders go to the GPU now (for the per-request cache keys: one load).
    pub(super) ready: AtomicBool,
    pub(super) counters: Arc<Counters>,
}

impl Inner {
    pub(super) fn new(config: GpuConfig) -> Inner {
        Inner {
            config,
            state: Mutex::new(State::Idle),
            probed: Condvar::new(),
            ready: AtomicBool::new(false),
            counters: Arc::default(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the probe's outcome: a worker, a rest, or (for `auto`) absence.
    fn install(&self, outcome: Result<Worker, StartError>) {
        let mut state = self.lock();
        let rest = State::Resting {
            until: Instant::now() + self.config.retry_after,
        };
        *state = match outcome {
            Ok(worker) => {
                Counters::bump(&self.counters.device_inits);
                tracing::info!(
                    adapter = worker.adapter.name,
                    backend = worker.adapter.backend,
                    driver = worker.adapter.driver,
                    software = worker.adapter.software,
                    "GPU renderer ready"
                );
                self.ready.store(true, Ordering::Release);
                State::Ready(Arc::new(worker))
            }
            Err(StartError::NoAdapter { .. }) if self.config.choice == RendererChoice::Gpu => {
                tracing::warn!("SPV_RENDERER=gpu but no GPU adapter: rendering on the CPU");
                rest
            }
            // Logged once: absence is final.
            Err(StartError::NoDeviceNode) => {
                tracing::info!(
                    "no GPU device node (/dev/dri/renderD*, /dev/nvidia*): rendering on the CPU, \
                     no GPU driver loaded"
                );
                State::Absent
            }
            Err(StartError::NoAdapter { software: None }) => {
                tracing::info!("no hardware GPU adapter: rendering on the CPU");
                State::Absent
            }
            Err(StartError::NoAdapter {
                software: Some(name),
            }) => {
                tracing::info!(
                    adapter = name,
                    "only a software GPU adapter, which auto leaves to the CPU backend (faster): \
                     rendering on the CPU, the driver released"
                );
                State::Absent
            }
            Err(StartError::Failed(reason)) => {
                tracing::warn!(reason, "GPU initialisation failed: rendering on the CPU");
                rest
            }
        };
        drop(state);
        self.probed.notify_all();
    }

    /// Gives up a failed worker: renders go to the CPU for the rest.
    fn retire(&self, state: &mut State, worker_name: &str) {
        Counters::bump(&self.counters.device_losses);
        tracing::warn!(
            adapter = worker_name,
            retry_in_s = self.config.retry_after.as_secs(),
            "GPU device given up; renders go to the CPU until it is initialised again"
        );
        self.ready.store(false, Ordering::Release);
        *state = State::Resting {
            until: Instant::now() + self.config.retry_after,
        };
    }
}

impl Drop for Inner {
    /// The last handle is gone: the GPU threads end and the device is released.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let State::Ready(worker) = std::mem::replace(state, State::Idle)
            && let Ok(worker) = Arc::try_unwrap(worker)
        {
            worker.stop();
        }
    }
}

/// Finds and initialises an adapter for `config` (on the probe thread).
fn probe(config: &GpuConfig, counters: &Arc<Counters>) -> Result<Worker, StartError> {
    if config.choice == RendererChoice::Auto && !device::hardware_may_exist() {
        return Err(StartError::NoDeviceNode);
    }
    Worker::start(config, counters)
}

impl Gpu {
    /// The worker to render with now. Under `auto` without `wait`, `None` unless one is
    /// ready (a rest that has ended starts a probe in the background). With `wait`
    /// (`gpu`, and [`Gpu::warm_up`]) a probe is started when none is under way, and
    /// waited for.
    pub(super) fn device(&self, wait: bool) -> Option<Arc<Worker>> {
        let inner = &self.inner;
        if inner.config.choice == RendererChoice::Cpu {
            return None;
        }
        let give_up = Instant::now() + inner.config.warm_up_timeout + PROBE_SLACK;
        // One probe per call: one that fails leaves a rest (which may be zero).
        let mut probed = false;
        let mut state = inner.lock();
        loop {
            match &*state {
                State::Ready(worker) => {
                    if worker.dead.load(Ordering::Acquire) {
                        let name = worker.adapter.name.clone();
                        inner.retire(&mut state, &name);
                        continue;
                    }
                    return Some(worker.clone());
                }
                State::Resting { until } => {
                    if probed || Instant::now() < *until {
                        return None;
                    }
                    self.spawn_probe(&mut state);
                    probed = true;
                }
                State::Idle => {
                    if !wait {
                        return None;
                    }
                    self.spawn_probe(&mut state);
                    probed = true;
                }
                State::Probing => {
                    let left = give_up.saturating_duration_since(Instant::now());
                    if !wait || left.is_zero() {
                        return None;
                    }
                    state = inner
                        .probed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                State::Absent => return None,
            }
        }
    }

    /// Starts a probe on a thread of its own, unless one is under way or the GPU rests
    /// or is absent.
    pub(super) fn start_probe(&self) {
        if self.inner.config.choice == RendererChoice::Cpu {
            return;
        }
        let mut state = self.inner.lock();
        let due = match &*state {
            State::Idle => true,
            State::Resting { until } => Instant::now() >= *until,
            State::Probing | State::Ready(_) | State::Absent => false,
        };
        if due {
            self.spawn_probe(&mut state);
        }
    }

    fn spawn_probe(&self, state: &mut State) {
        *state = State::Probing;
        // The probe holds no handle: dropping the last one while it runs ends the GPU
        // (its worker is stopped as soon as it is built).
        let weak = Arc::downgrade(&self.inner);
        let config = self.inner.config.clone();
        let counters = self.inner.counters.clone();
        let spawned = std::thread::Builder::new()
            .name("spv-gpu-probe".into())
            .spawn(move || {
                let outcome = probe(&config, &counters);
                match weak.upgrade() {
                    Some(inner) => inner.install(outcome),
                    None => {
                        if let Ok(worker) = outcome {
                            worker.stop();
                        }
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the GPU probe thread: rendering on the CPU");
            *state = State::Resting {
                until: Instant::now() + self.inner.config.retry_after,
            };
        }
    }

    pub(super) fn status_now(&self) -> GpuStatus {
        match &*self.inner.lock() {
            State::Idle => GpuStatus::Idle,
            State::Probing => GpuStatus::Probing,
            State::Ready(worker) if !worker.dead.load(Ordering::Acquire) => GpuStatus::Ready,
            State::Ready(_) | State::Resting { .. } => GpuStatus::Resting,
            State::Absent => GpuStatus::Absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(choice: RendererChoice) -> Gpu {
        Gpu::new(GpuConfig::new(choice))
    }

    #[test]
    fn under_auto_a_render_neither_probes_nor_waits_for_a_probe() {
        // Guards issue 12: `auto` used to initialise the GPU on the render's own thread.
        let auto = gpu(RendererChoice::Auto);
        assert!(auto.device(false).is_none());
        assert_eq!(auto.status(), GpuStatus::Idle, "a render started a probe");
        // A probe under way (held here, so it never ends): renders go on to the CPU.
        *auto.inner.lock() = State::Probing;
        let asked = Instant::now();
        assert!(auto.device(false).is_none());
        assert!(asked.elapsed() < Duration::from_secs(1));
        assert!(!auto.is_ready());
    }

    #[test]
    fn a_resting_gpu_sends_renders_to_the_cpu_at_once() {
        let forced = gpu(RendererChoice::Gpu);
        *forced.inner.lock() = State::Resting {
            until: Instant::now() + Duration::from_secs(3600),
        };
        assert!(forced.device(true).is_none());
        assert!(forced.adapter().is_none());
        assert_eq!(forced.status(), GpuStatus::Resting);
        forced.start();
        assert_eq!(
            forced.status(),
            GpuStatus::Resting,
            "started during the rest"
        );
    }

    #[test]
    fn cpu_never_starts_anything() {
        let cpu = gpu(RendererChoice::Cpu);
        cpu.start();
        assert!(cpu.warm_up().is_none());
        assert_eq!(cpu.status(), GpuStatus::Idle);
    }

    #[test]
    fn under_auto_renders_come_back_from_the_cpu_while_a_probe_runs() {
        use crate::api::{RenderBackend, ThumbnailSize};
        use crate::render::{RenderOptions, Renderer, render_page};
        let renderer = Renderer::with_gpu(gpu(RendererChoice::Auto));
        if let Some(gpu) = renderer.gpu() {
            *gpu.inner.lock() = State::Probing;
        }
        let loaded = crate::glyph::load(
            br##"{"format":"glyph","version":1,"pages":[{"width":10,"height":10,
                "background":"#ff0000","layers":[]}]}"##,
            &crate::glyph::Limits::default(),
        )
        .unwrap();
        let options = RenderOptions {
            renderer: &renderer,
            ..RenderOptions::default()
        };
        let page = render_page(&loaded, 0, ThumbnailSize::Longest { size: 8 }, &options).unwrap();
        assert_eq!(page.backend, RenderBackend::Cpu);
        assert_eq!(page.pixel(4, 4), [255, 0, 0, 255]);
        assert_eq!(renderer.expected_backend(), RenderBackend::Cpu);
    }

    /// Guards issue 12: without a GPU device node, `auto` used to load every Vulkan
    /// driver installed (lavapipe and LLVM: 54 MB kept resident) only to refuse them.
    #[cfg(target_os = "linux")]
    #[test]
    fn auto_without_a_gpu_device_node_loads_no_driver() {
        if device::hardware_may_exist() {
            eprintln!("skipped: this machine has a GPU device node");
            return;
        }
        let auto = gpu(RendererChoice::Auto);
        auto.start();
        assert!(auto.warm_up().is_none(), "waits for the probe to end");
        assert_eq!(auto.status(), GpuStatus::Absent);
        assert_eq!(auto.stats(), super::super::GpuStats::default());
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        assert!(
            !maps.contains("libvulkan") && !maps.contains("libvulkan_lvp"),
            "a Vulkan driver was loaded"
        );
    }

    #[test]
    fn device_nodes_say_whether_hardware_may_exist() {
        let dev = std::env::temp_dir().join(format!("spv-gpu-dev-{}", std::process::id()));
        std::fs::create_dir_all(dev.join("dri")).unwrap();
        std::fs::write(dev.join("dri").join("card0"), b"").unwrap();
        assert!(
            !device::hardware_nodes_in(&dev),
            "a card node alone renders nothing"
        );
        std::fs::write(dev.join("dri").join("renderD128"), b"").unwrap();
        assert!(device::hardware_nodes_in(&dev));
        std::fs::remove_file(dev.join("dri").join("renderD128")).unwrap();
        std::fs::write(dev.join("nvidia0"), b"").unwrap();
        assert!(device::hardware_nodes_in(&dev));
        std::fs::remove_dir_all(&dev).unwrap();
    }
}
