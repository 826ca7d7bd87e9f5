//! The device: which adapter (and whether there can be one at all), the device and its
//! error handlers, and the GPU threads started and warmed up on it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use vello::wgpu;

use super::batch::{Incoming, Job};
use super::config::GpuConfig;
use super::stats::Counters;
use super::thread::Thread;
use crate::render::RendererChoice;

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

/// Whether this machine may have a hardware GPU adapter, found without loading any
/// driver. On Linux a hardware Vulkan adapter needs a DRM render node
/// (`/dev/dri/renderD*`), an NVIDIA device (`/dev/nvidia*`: the proprietary driver
/// has no render node in some containers) or, under WSL, `/dev/dxg`; without any of
/// them `auto` creates no wgpu instance at all, since creating one loads every Vulkan
/// driver installed, Mesa's software one (and LLVM) included, only to refuse it.
/// Elsewhere there is no such shortcut: always true.
pub(super) fn hardware_may_exist() -> bool {
    #[cfg(target_os = "linux")]
    {
        hardware_nodes_in(std::path::Path::new("/dev"))
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Whether `dev` (a `/dev`) holds a device node of a hardware GPU.
#[cfg(any(target_os = "linux", test))]
pub(super) fn hardware_nodes_in(dev: &std::path::Path) -> bool {
    let names = |dir: std::path::PathBuf| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
    };
    names(dev.join("dri")).any(|name| name.starts_with("renderD"))
        || names(dev.to_path_buf()).any(|name| name.starts_with("nvidia") || name == "dxg")
}

/// Why no device was started.
pub(super) enum StartError {
    /// `auto` on a machine without a GPU device node: nothing was loaded.
    NoDeviceNode,
    /// No adapter that the choice accepts.
    NoAdapter {
        /// The software adapter refused by `auto`, if one was found.
        software: Option<String>,
    },
    /// An adapter was found but could not be used.
    Failed(String),
}

/// A started device and the handle on its GPU threads.
pub(super) struct Worker {
    pub(super) jobs: mpsc::Sender<Job>,
    pub(super) adapter: AdapterSummary,
    /// Set by the threads when the device failed; the next caller retires the worker.
    pub(super) dead: Arc<AtomicBool>,
    /// Batches this worker's threads have finished (progress, to tell a stalled GPU from
    /// a busy one).
    pub(super) batches: Arc<AtomicU64>,
    pub(super) device: wgpu::Device,
    pub(super) max_side: u32,
    threads: Vec<JoinHandle<()>>,
}

impl Worker {
    /// Finds an adapter that `config.choice` accepts, creates the device and starts and
    /// warms up the GPU threads. Blocks while shaders compile.
    pub(super) fn start(
        config: &GpuConfig,
        counters: &Arc<Counters>,
    ) -> Result<Worker, StartError> {
        let allow_software = config.choice == RendererChoice::Gpu;
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
        let software = adapters
            .iter()
            .map(|a| a.get_info())
            .find(|info| info.device_type == wgpu::DeviceType::Cpu)
            .map(|info| info.name);
        // Returning drops the instance and the adapters, so that a refused driver can be
        // unloaded.
        let adapter = adapters
            .into_iter()
            .filter(|a| allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu)
            .min_by_key(|a| rank(&a.get_info()))
            .ok_or(StartError::NoAdapter { software })?;
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
        let max_side = limits
            .max_texture_dimension_2d
            .min(config.atlas_side.max(8192));
        let (jobs, incoming) = mpsc::channel();
        let (warmed_tx, warmed_rx) = mpsc::channel();
        let batches = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Mutex::new(Incoming {
            jobs: incoming,
            pending: VecDeque::new(),
        }));
        let gpu_threads = config.gpu_threads.max(1);
        let mut threads = Vec::with_capacity(gpu_threads);
        for index in 0..gpu_threads {
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
                counters: counters.clone(),
                atlas_side: config.atlas_side.min(limits.max_texture_dimension_2d),
                max_batch: config.max_batch.max(1),
                target: None,
                readback: None,
                readback_timeout: config.readback_timeout,
                warm_up_timeout: config.warm_up_timeout,
            };
            let shared = shared.clone();
            let warmed = warmed_tx.clone();
            let handle = std::thread::Builder::new()
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
            threads.push(handle);
        }
        drop(warmed_tx);
        // Each thread draws a small scene first: drivers compile shaders at their first
        // dispatch (seconds on lavapipe), which belongs to initialisation, not to the
        // time limit of the first real render.
        for _ in 0..gpu_threads {
            match warmed_rx.recv_timeout(config.warm_up_timeout) {
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
                        config.warm_up_timeout.as_secs()
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
            threads,
        })
    }

    /// Closes the job channel and waits for the GPU threads to end, which releases the
    /// device (each thread holds a reference to it).
    pub(super) fn stop(self) {
        let Worker { jobs, threads, .. } = self;
        drop(jobs);
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Marks the worker dead when the GPU thread ends.
struct DeadOnExit(Arc<AtomicBool>);

impl Drop for DeadOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}
