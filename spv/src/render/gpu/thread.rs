//! A GPU thread: gathers the jobs waiting into one batch, renders it with one vello
//! submission, reads it back once and splits it. While one thread waits for its batch
//! on the GPU, the other gathers and submits the next.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use kurbo::{Affine, Rect};
use vello::peniko::{self, BlendMode};
use vello::wgpu;

use super::Drawn;
use super::batch::{Incoming, Job, Placed, atlas_scene, pack};
use super::encode::Weight;
use super::stats::Counters;

/// The GPU thread: owns the device, the queue, vello and the reused target and readback
/// buffer.
pub(super) struct Thread {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) renderer: vello::Renderer,
    pub(super) dead: Arc<AtomicBool>,
    /// Batches this worker's threads have finished (progress, to tell a stalled GPU from
    /// a busy one).
    pub(super) batches: Arc<AtomicU64>,
    pub(super) counters: Arc<Counters>,
    pub(super) atlas_side: u32,
    pub(super) max_batch: usize,
    /// The render target, reused while it is large enough.
    pub(super) target: Option<(wgpu::Texture, wgpu::TextureView)>,
    /// The readback buffer, reused while it is large enough.
    pub(super) readback: Option<wgpu::Buffer>,
    /// How long a readback may take (the configured readback timeout; the warm-up
    /// timeout for the first render).
    pub(super) readback_timeout: Duration,
    /// The longest the first render may take, shader compilation included.
    pub(super) warm_up_timeout: Duration,
}

impl Thread {
    /// Draws a small scene (a rectangle, a stroke, a gradient and a blended layer) and
    /// checks one of its pixels.
    pub(super) fn warm_up(&mut self) -> Result<(), String> {
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
        let readback_timeout = std::mem::replace(&mut self.readback_timeout, self.warm_up_timeout);
        let drawn = self.render_batch(&[Placed { job, x: 0, y: 0 }]);
        self.readback_timeout = readback_timeout;
        let (pixels, _) = drawn?;
        match pixels.first().map(|p| p.get(..4)) {
            Some(Some([255, 0, 0, 255])) => Ok(()),
            other => Err(format!("drew {other:?} where red was expected")),
        }
    }

    pub(super) fn run(&mut self, shared: &Mutex<Incoming>) {
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
                pack(pending, self.atlas_side, self.max_batch)
            };
            match self.render_batch(&batch) {
                Ok((pixels, gpu_time)) => {
                    Counters::bump(&self.counters.batches);
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
