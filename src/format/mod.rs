//! File formats brisk reads and writes: GGUF (read + write) and Hugging Face safetensors.
pub mod atomic_file;
pub mod error;
pub mod gguf;
pub mod gptq_awq;
pub mod hf_config;
pub mod hf_names;
pub mod safetensors;
pub mod storage;

pub use hf_config::HfConfig;
pub use safetensors::SafetensorsModel;
pub use storage::TensorBytes;

use brisk_kernels::QuantType;

/// A named tensor, ggml dimension order (`dims[0]` is the row length), with zero-copy bytes.
/// Both GGUF and safetensors loaders produce these, named with GGUF tensor names.
#[derive(Clone, Debug)]
pub struct TensorView {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: QuantType,
    pub bytes: TensorBytes,
}
