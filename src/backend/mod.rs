//! The few verbs the model calls (matmul, norms, RoPE, attention, activations). The CPU backend
//! implements them on the kernel table `brisk-kernels` selects; GPU backends come later.
pub mod cpu;
pub mod ops;
pub mod packed;
pub mod pool;
pub mod roofline;
pub mod rope;

pub use cpu::Cpu;
