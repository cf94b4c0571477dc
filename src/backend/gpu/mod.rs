//! The GPU backend on wgpu: WGSL kernels that run on Vulkan, Metal and DX12 from one source.
//! Weights are uploaded once in their GGUF block layout (types without a decoder dequantized to
//! F16), activations and the KV cache stay on the device, each forward records into one
//! command encoder and submits when the host needs a result (the logits, MoE routing).
mod context;
pub mod kernels_wgsl;
mod kv;
pub mod quant_wgsl;
mod verbs;

pub use context::{Gpu, GpuBuf};
pub use kv::GpuKv;
pub use verbs::GpuWeight;

/// One adapter wgpu can open, as `--list-devices` shows it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The name `--device` matches (`Vulkan0`, `Metal0`, …: API and index, as llama.cpp names).
    pub id: String,
    pub name: String,
    pub kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found (wgpu saw none: install a Vulkan driver, or run with -ngl 0)")]
    NoAdapter,
    #[error("no GPU device named '{0}' (see --list-devices)")]
    NoSuchDevice(String),
    #[error("cannot open GPU device {0}: {1}")]
    Open(String, String),
    #[error("GPU: {0}")]
    Device(String),
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

fn adapters() -> Vec<(DeviceInfo, wgpu::Adapter)> {
    let inst = instance();
    let mut count: std::collections::HashMap<String, usize> = Default::default();
    pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            let api = format!("{:?}", info.backend);
            let n = count.entry(api.clone()).or_default();
            let id = format!("{api}{n}");
            *n += 1;
            let d = DeviceInfo {
                id,
                name: info.name.clone(),
                kind: format!("{:?}", info.device_type),
            };
            (d, a)
        })
        .collect()
}

/// Every adapter this machine has, in wgpu's order.
pub fn list_devices() -> Vec<DeviceInfo> {
    adapters().into_iter().map(|(d, _)| d).collect()
}

/// Open the device named `name` (its id, case-insensitive), or the first adapter (preferring
/// discrete, then integrated GPUs over software ones) when `None`.
pub fn open(name: Option<&str>) -> Result<Gpu, GpuError> {
    let mut all = adapters();
    let pick = match name {
        Some(n) => all
            .iter()
            .position(|(d, _)| d.id.eq_ignore_ascii_case(n))
            .ok_or_else(|| GpuError::NoSuchDevice(n.to_string()))?,
        None => {
            let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Other => 3,
                wgpu::DeviceType::Cpu => 4,
            };
            (0..all.len())
                .min_by_key(|&i| rank(&all[i].1))
                .ok_or(GpuError::NoAdapter)?
        }
    };
    let (info, adapter) = all.swap_remove(pick);
    Gpu::new(info, adapter)
}
