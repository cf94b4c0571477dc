//! Measuring a model on text as llama.cpp's tools do: perplexity over chunks, KL-divergence
//! against a base model's saved log-probabilities, and importance matrices for quantization.
pub mod base_logits;
pub mod chunks;
pub mod imatrix;
pub mod kld;
pub mod printf;

use crate::generate::SessionError;

#[derive(thiserror::Error, Debug)]
pub enum EvalError {
    #[error(
        "the text tokenizes to only {have} tokens; a context of {n_ctx} needs at least {need} \
         (two chunks)"
    )]
    TooShort {
        have: usize,
        need: usize,
        n_ctx: usize,
    },
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("{0}")]
    BaseFile(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `f(i)` for every `i < n` on the model's threads, the results in index order (sums over
/// them are then the same whatever the thread count).
pub(crate) fn par_map<R: Send + Sync>(
    be: &crate::backend::Cpu,
    n: usize,
    f: &(dyn Fn(usize) -> R + Sync),
) -> Vec<R> {
    let slots: Vec<std::sync::OnceLock<R>> = (0..n).map(|_| std::sync::OnceLock::new()).collect();
    be.parallel(n, &|i| {
        let _ = slots[i].set(f(i));
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("Cpu::parallel calls every index"))
        .collect()
}
