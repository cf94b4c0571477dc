//! The verbs the model calls (`verbs`: matmul, norms, RoPE, attention, activations) and the
//! backends that implement them: the CPU on the kernel table `brisk-kernels` selects, and (with
//! the `wgpu` feature) the GPU.
pub mod attn_shape;
pub mod cpu;
mod cpu_verbs;
#[cfg(feature = "wgpu")]
pub mod gpu;
pub mod ops;
pub mod packed;
pub mod pool;
pub mod roofline;
pub mod rope;
pub mod tensor;
pub mod verbs;

pub use attn_shape::AttnShape;
pub use cpu::Cpu;
pub use tensor::QTensor;
pub use verbs::{Attention, Backend, Glu};
