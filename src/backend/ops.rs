//! Element-wise f32 operations of the forward pass that the kernel tables do not carry: a plain
//! softmax (RMSNorm, SiLU·mul and the residual add come from `brisk_kernels`, RoPE from `rope`).

/// Softmax in place (max-subtracted, the sum in f64): the scalar reference's.
pub use brisk_kernels::scalar::softmax;
