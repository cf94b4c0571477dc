//! brisk-kernels: ggml-compatible block types, the scalar reference for every operation, and
//! (later) one kernel table per instruction set. No dependencies, so it also builds for aarch64
//! with an old toolchain (see docs/ARCHITECTURE.md).
