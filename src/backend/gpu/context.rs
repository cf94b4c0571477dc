//! The open device: its queue, compiled pipelines, pooled buffers, and the recorder that turns
//! verbs into compute passes of one command encoder, with every dispatch's parameters and small
//! host data (RoPE tables, row indices) in arenas written once per submit.
use super::{DeviceInfo, GpuError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes between two dispatches' parameters (the uniform offset alignment WebGPU guarantees).
const PARAM_STRIDE: usize = 256;
/// Parameter slots per submit.
const PARAM_SLOTS: usize = 4096;
/// Initial bytes of the host-data arena.
const AUX_BYTES: usize = 4 << 20;

pub struct Gpu {
    pub info: DeviceInfo,
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) limits: wgpu::Limits,
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    rec: Mutex<Recorder>,
    pool: Arc<Mutex<Vec<wgpu::Buffer>>>,
    /// When non-zero, the binding size weights are split by (tests exercise the split).
    binding_cap: std::sync::atomic::AtomicUsize,
}

struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    params: Vec<u8>,
    params_buf: wgpu::Buffer,
    aux: Vec<u8>,
    aux_buf: wgpu::Buffer,
    staging: Option<wgpu::Buffer>,
}

/// A buffer of f32s on the device (activations, norm weights), returned to the device's pool
/// when dropped.
pub struct GpuBuf {
    pub(super) buf: Option<wgpu::Buffer>,
    pub(super) len: usize,
    pool: Arc<Mutex<Vec<wgpu::Buffer>>>,
}

impl GpuBuf {
    pub(super) fn buffer(&self) -> &wgpu::Buffer {
        self.buf.as_ref().expect("a live buffer")
    }

    /// Floats held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn cap(&self) -> usize {
        self.buffer().size() as usize / 4
    }
}

/// Buffers the pool keeps for reuse; more are freed.
const POOL_MAX: usize = 64;

impl Drop for GpuBuf {
    fn drop(&mut self) {
        if let (Some(b), Ok(mut pool)) = (self.buf.take(), self.pool.lock()) {
            if pool.len() < POOL_MAX {
                pool.push(b);
            }
        }
    }
}

/// What a dispatch binds, in binding order (its parameters follow).
pub(super) enum Res<'a> {
    Buf(&'a wgpu::Buffer),
    /// Host bytes placed in the submit's arena.
    Host(&'a [u8]),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gpu {
    pub(super) fn new(info: DeviceInfo, adapter: wgpu::Adapter) -> Result<Gpu, GpuError> {
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("brisk"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::Open(info.id.clone(), e.to_string()))?;
        let storage = |size: usize, usage: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: size as u64,
                usage,
                mapped_at_creation: false,
            })
        };
        let params_buf = storage(
            PARAM_STRIDE * PARAM_SLOTS,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let aux_buf = storage(
            AUX_BYTES,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        Ok(Gpu {
            info,
            device,
            queue,
            limits,
            pipelines: Mutex::new(HashMap::new()),
            rec: Mutex::new(Recorder {
                encoder: None,
                params: Vec::new(),
                params_buf,
                aux: Vec::new(),
                aux_buf,
                staging: None,
            }),
            pool: Arc::new(Mutex::new(Vec::new())),
            binding_cap: Default::default(),
        })
    }

    /// The largest buffer one binding may hold.
    pub fn max_binding(&self) -> usize {
        let cap = self.binding_cap.load(std::sync::atomic::Ordering::Relaxed);
        // The kernels address bytes in u32: no binding past 2 GiB (Metal reports more).
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
            .min(1 << 31);
        if cap > 0 {
            cap.min(max as usize)
        } else {
            max as usize
        }
    }

    /// Split weights uploaded from now on into parts of at most `bytes` (0: the device's
    /// limit), as a device with small bindings would; for tests.
    #[doc(hidden)]
    pub fn cap_binding_for_tests(&self, bytes: usize) {
        self.binding_cap
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Run `f` (which allocates device memory) and turn the device running out of memory
    /// meanwhile into an error.
    pub fn out_of_memory_checked<T>(
        &self,
        f: impl FnOnce() -> Result<T, GpuError>,
    ) -> Result<T, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let out = f();
        lock(&self.rec).submit(&self.queue);
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(GpuError::Device(format!("out of device memory: {e}"))),
            None => out,
        }
    }

    /// Work-groups one dispatch dimension may have.
    pub fn max_workgroups(&self) -> usize {
        self.limits.max_compute_workgroups_per_dimension as usize
    }

    /// A raw device buffer of `bytes` (rounded up to 16) for storage and copies.
    pub(super) fn raw(&self, bytes: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes.max(16).next_multiple_of(16) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A buffer of `len` floats, from the pool when one is large enough, zeroed.
    pub fn buf(&self, len: usize) -> GpuBuf {
        let taken = {
            let mut pool = lock(&self.pool);
            let best = (0..pool.len())
                .filter(|&i| (len * 4..=self.max_binding()).contains(&(pool[i].size() as usize)))
                .min_by_key(|&i| pool[i].size());
            best.map(|i| pool.swap_remove(i))
        };
        let buf = match taken {
            Some(b) => {
                self.clear(&b);
                b
            }
            None => self.raw(len * 4),
        };
        GpuBuf {
            buf: Some(buf),
            len,
            pool: self.pool.clone(),
        }
    }

    /// Make `b` hold `len` floats: a larger buffer when it has too few (contents lost).
    pub fn resize(&self, b: &mut GpuBuf, len: usize) {
        if len > b.cap() {
            // Room to grow, but never past what one binding takes.
            *b = self.buf((len + len / 4).min(self.max_binding() / 4).max(len));
        }
        b.len = len;
    }

    fn clear(&self, b: &wgpu::Buffer) {
        let mut rec = lock(&self.rec);
        let enc = rec.encoder(&self.device);
        enc.clear_buffer(b, 0, None);
    }

    /// Zero `b`.
    pub fn zero(&self, b: &GpuBuf) {
        self.clear(b.buffer());
    }

    /// Upload bytes into `dst` at byte `offset`, after the work recorded so far has been
    /// submitted (so that work sees the old contents).
    pub(super) fn upload(&self, dst: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        let mut rec = lock(&self.rec);
        rec.submit(&self.queue);
        let n = bytes.len() / 4 * 4;
        if n > 0 {
            self.queue.write_buffer(dst, offset, &bytes[..n]);
        }
        if n < bytes.len() {
            let mut tail = [0u8; 4];
            tail[..bytes.len() - n].copy_from_slice(&bytes[n..]);
            self.queue.write_buffer(dst, offset + n as u64, &tail);
        }
        // Hand the write to the device now, so its staging memory is freed as it completes.
        self.queue.submit([]);
    }

    /// The first `len` floats of `src`, on the host: everything recorded is submitted and
    /// waited for.
    pub(super) fn download(&self, src: &wgpu::Buffer, len: usize) -> Vec<f32> {
        if len == 0 {
            return Vec::new();
        }
        let bytes = (len * 4) as u64;
        let mut rec = lock(&self.rec);
        if rec.staging.as_ref().is_none_or(|s| s.size() < bytes) {
            rec.staging = Some(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("staging"),
                size: bytes.next_multiple_of(256),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let staging = rec.staging.clone().expect("made above");
        rec.encoder(&self.device)
            .copy_buffer_to_buffer(src, 0, &staging, 0, Some(bytes));
        rec.submit(&self.queue);
        let slice = staging.slice(0..bytes);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("the GPU device was lost");
        let out = {
            let view = slice.get_mapped_range().expect("mapped above");
            view.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        staging.unmap();
        out
    }

    fn pipeline(&self, key: &str, wgsl: impl FnOnce() -> String) -> wgpu::ComputePipeline {
        let mut p = lock(&self.pipelines);
        if let Some(pl) = p.get(key) {
            return pl.clone();
        }
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key),
                source: wgpu::ShaderSource::Wgsl(wgsl().into()),
            });
        let pl = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(key),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        p.insert(key.to_string(), pl.clone());
        pl
    }

    /// Record one dispatch of kernel `key` (compiled from `wgsl` the first time) over `groups`
    /// work-groups, binding `res` then a uniform of `params` (at most 16 words).
    pub(super) fn dispatch(
        &self,
        key: &str,
        wgsl: impl FnOnce() -> String,
        res: &[Res],
        params: &[u32],
        groups: (u32, u32, u32),
    ) {
        let pipeline = self.pipeline(key, wgsl);
        let align = self.limits.min_storage_buffer_offset_alignment as usize;
        let host: usize = res
            .iter()
            .map(|r| match r {
                Res::Host(b) => b.len().max(4).next_multiple_of(align.max(4)),
                Res::Buf(_) => 0,
            })
            .sum();
        let mut rec = lock(&self.rec);
        if rec.params.len() + PARAM_STRIDE > PARAM_STRIDE * PARAM_SLOTS
            || rec.aux.len() + host > rec.aux_buf.size() as usize
        {
            rec.submit(&self.queue);
        }
        if host > rec.aux_buf.size() as usize {
            rec.aux_buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("aux"),
                size: host.next_multiple_of(1 << 20) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
        }
        let slot = rec.params.len();
        let mut words = [0u32; 16];
        words[..params.len()].copy_from_slice(params);
        for w in words {
            rec.params.extend_from_slice(&w.to_le_bytes());
        }
        rec.params.resize(slot + PARAM_STRIDE, 0);
        let mut host_at = Vec::new();
        for r in res {
            if let Res::Host(b) = r {
                let at = rec.aux.len();
                rec.aux.extend_from_slice(b);
                let padded = at + b.len().max(4).next_multiple_of(align.max(4));
                rec.aux.resize(padded, 0);
                host_at.push((at as u64, b.len().max(4) as u64));
            }
        }
        let mut host_iter = host_at.into_iter();
        let Recorder {
            params_buf,
            aux_buf,
            ..
        } = &*rec;
        let mut entries: Vec<wgpu::BindGroupEntry> = res
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: match r {
                    Res::Buf(b) => b.as_entire_binding(),
                    Res::Host(_) => {
                        let (offset, size) = host_iter.next().expect("one per host resource");
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: aux_buf,
                            offset,
                            size: std::num::NonZeroU64::new(size),
                        })
                    }
                },
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: res.len() as u32,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: params_buf,
                offset: slot as u64,
                size: std::num::NonZeroU64::new(64),
            }),
        });
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let enc = rec.encoder(&self.device);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
    }

    /// Work-groups for `n` items of `per` each: `(x, y)` within the per-dimension limit, and
    /// `x` (the kernels rebuild the index as `y · x + x`).
    pub(super) fn grid(&self, n: usize, per: usize) -> (u32, u32, u32) {
        let groups = n.div_ceil(per).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        let x = groups.min(max);
        (x as u32, groups.div_ceil(x) as u32, x as u32)
    }
}

impl Recorder {
    fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()))
    }

    /// Submit what was recorded, its parameters and host data written first.
    fn submit(&mut self, queue: &wgpu::Queue) {
        let Some(enc) = self.encoder.take() else {
            return;
        };
        if !self.params.is_empty() {
            queue.write_buffer(&self.params_buf, 0, &self.params);
        }
        if !self.aux.is_empty() {
            queue.write_buffer(&self.aux_buf, 0, &self.aux);
        }
        queue.submit([enc.finish()]);
        self.params.clear();
        self.aux.clear();
    }
}
