//! [`Renderer`]: which backend draws, as a value renders carry: the user's
//! [`RendererChoice`] and, with the `gpu` feature, the [`Gpu`](super::gpu::Gpu) it
//! renders with.

use std::time::Duration;

use super::Deadline;
use super::scene::Scene;
use crate::api::RenderBackend;
use crate::{Error, Result};

/// Which backend draws a render: the user's [`RendererChoice`] and, with the `gpu`
/// feature, the GPU it renders with ([`Renderer::gpu`]).
///
/// Cheap to clone: clones share the GPU. [`Renderer::new`] builds the GPU but starts
/// nothing: under `auto` renders go to the CPU until [`Renderer::start`] (the server at
/// start, the CLI for a batch large enough to repay it) has initialised a hardware
/// adapter in the background; under `gpu` the first render initialises it and waits.
///
/// ```
/// use spv::api::RenderBackend;
/// use spv::render::{Renderer, RendererChoice};
///
/// let renderer = Renderer::new(RendererChoice::Auto);
/// assert_eq!(renderer.choice(), RendererChoice::Auto);
/// // Nothing started: renders go to the CPU, and no GPU driver is loaded.
/// assert_eq!(renderer.expected_backend(), RenderBackend::Cpu);
/// assert_eq!(Renderer::cpu().choice(), RendererChoice::Cpu);
/// ```
#[derive(Clone, Debug)]
pub struct Renderer {
    choice: RendererChoice,
    #[cfg(feature = "gpu")]
    gpu: Option<super::gpu::Gpu>,
}

impl Renderer {
    /// `choice`, with a GPU of default settings for `auto` and `gpu` (feature `gpu`);
    /// nothing is probed or loaded yet.
    pub fn new(choice: RendererChoice) -> Self {
        Renderer {
            choice,
            #[cfg(feature = "gpu")]
            gpu: (choice != RendererChoice::Cpu)
                .then(|| super::gpu::Gpu::new(super::gpu::GpuConfig::new(choice))),
        }
    }

    /// Always the CPU.
    pub const fn cpu() -> Self {
        Renderer {
            choice: RendererChoice::Cpu,
            #[cfg(feature = "gpu")]
            gpu: None,
        }
    }

    /// Renders with `gpu`, under the choice it was configured for.
    #[cfg(feature = "gpu")]
    pub fn with_gpu(gpu: super::gpu::Gpu) -> Self {
        Renderer {
            choice: gpu.config().choice,
            gpu: Some(gpu),
        }
    }

    /// The user's choice.
    pub fn choice(&self) -> RendererChoice {
        self.choice
    }

    /// The GPU renders may go to (`None` for `cpu`).
    #[cfg(feature = "gpu")]
    pub fn gpu(&self) -> Option<&super::gpu::Gpu> {
        self.gpu.as_ref()
    }

    /// Starts initialising the GPU in the background (see
    /// [`Gpu::start`](super::gpu::Gpu::start)) and returns at once; nothing for `cpu` or
    /// without the `gpu` feature.
    pub fn start(&self) {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            gpu.start();
        }
    }

    /// The backend that a render is expected to be drawn by now, without starting
    /// anything: the GPU once it is initialised and healthy, else the CPU. Caches key
    /// thumbnails by it and do not keep a render drawn by the other backend (a first
    /// render that initialises the GPU, or a fallback), so that one ETag always names
    /// the same bytes.
    pub fn expected_backend(&self) -> RenderBackend {
        #[cfg(feature = "gpu")]
        if self.gpu.as_ref().is_some_and(|gpu| gpu.is_ready()) {
            return RenderBackend::Gpu;
        }
        RenderBackend::Cpu
    }

    /// Draws `scene`: on the GPU when there is one and it can, else (and after any GPU
    /// failure) on the CPU.
    pub(super) fn draw(
        &self,
        scene: &Scene<'_>,
        deadline: &Deadline,
    ) -> Result<(Vec<u8>, RenderBackend, Option<Duration>)> {
        #[cfg(feature = "gpu")]
        if let Some(drawn) = self
            .gpu
            .as_ref()
            .and_then(|gpu| gpu.try_render(scene, deadline))
        {
            return Ok((drawn.pixels, RenderBackend::Gpu, Some(drawn.gpu_time)));
        }
        Ok((
            super::cpu::render(scene, deadline)?,
            RenderBackend::Cpu,
            None,
        ))
    }
}

impl Default for Renderer {
    /// `auto`, nothing started.
    fn default() -> Self {
        Renderer::new(RendererChoice::Auto)
    }
}

impl From<RendererChoice> for Renderer {
    fn from(choice: RendererChoice) -> Self {
        Renderer::new(choice)
    }
}

/// Which backend renders: chosen at run time (`SPV_RENDERER`, `spv-cli render
/// --renderer`).
///
/// Without the `gpu` feature every choice renders on the CPU. With it, a GPU render that
/// fails (device lost, out of memory, a scene too complex for the GPU's buffers) is drawn
/// again on the CPU, logged and counted (`gpu::Gpu::stats`); no render fails because of
/// the GPU. A [`Renderer`] carries the choice into a render.
///
/// ```
/// use spv::render::RendererChoice;
/// assert_eq!("gpu".parse::<RendererChoice>().unwrap(), RendererChoice::Gpu);
/// assert_eq!(RendererChoice::Auto.to_string(), "auto");
/// let err = "vulkan".parse::<RendererChoice>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown renderer \"vulkan\": expected auto, cpu or gpu");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RendererChoice {
    /// A hardware GPU when there is one, else the CPU. A software adapter (such as Mesa's
    /// lavapipe) is never chosen by `Auto`: it is slower than the CPU backend.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// The GPU, a software adapter too when there is no hardware one; the CPU only when
    /// there is no adapter at all or the GPU fails.
    Gpu,
}

impl RendererChoice {
    /// `"auto"`, `"cpu"` or `"gpu"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RendererChoice::Auto => "auto",
            RendererChoice::Cpu => "cpu",
            RendererChoice::Gpu => "gpu",
        }
    }
}

impl std::fmt::Display for RendererChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RendererChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(RendererChoice::Auto),
            "cpu" => Ok(RendererChoice::Cpu),
            "gpu" => Ok(RendererChoice::Gpu),
            _ => Err(Error::invalid_request(format!(
                "unknown renderer {s:?}: expected auto, cpu or gpu"
            ))),
        }
    }
}
