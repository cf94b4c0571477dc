//! The `Kernels` table: one function pointer per hot operation, one static table per
//! instruction set, chosen once at run time ([`selected`], overridable with `BRISK_CPU`).
//!
//! Adding an ISA: write its functions, add a `pub static AVX2: Kernels` whose `supported`
//! runs the runtime feature check, and list it in `TABLES` (best first). Operations the ISA
//! does not accelerate point at the scalar functions.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::packed::{Layout, PackedGemmFn};
use crate::scalar::{self, attn, dot, kquants_quant, legacy, vecops};
use crate::types::QuantType;

/// Dot product of `n` weights (bytes) with `n` activations (bytes) of the partner type.
pub type VecDotFn = fn(w: &[u8], a: &[u8], n: usize) -> f32;
/// Quantizes a row of f32 into a byte row of one type.
pub type QuantizeRowFn = fn(src: &[f32], dst: &mut [u8]);
/// Dot product of f16/bf16 weights (little-endian bytes) with f32 activations.
pub type DotHalfFn = fn(w: &[u8], x: &[f32]) -> f32;
/// Dot product of two f32 slices.
pub type DotF32Fn = fn(a: &[f32], b: &[f32]) -> f32;
/// Attention scores of one query against a tile of key rows (f16 bits):
/// `out[j] = Σᵢ q[i]·k[j·d + i]`, `d = q.len()`; see [`scalar::attn`].
pub type AttnScoresF16Fn = fn(q: &[f32], k: &[u16], out: &mut [f32]);
/// [`AttnScoresF16Fn`] over f32 key rows.
pub type AttnScoresF32Fn = fn(q: &[f32], k: &[f32], out: &mut [f32]);
/// Weighted sum of a tile of value rows (f16 bits) into `acc`:
/// `acc[i] += Σⱼ p[j]·v[j·d + i]`, `d = acc.len()`.
pub type AttnAccumF16Fn = fn(p: &[f32], v: &[u16], acc: &mut [f32]);
/// [`AttnAccumF16Fn`] over f32 value rows.
pub type AttnAccumF32Fn = fn(p: &[f32], v: &[f32], acc: &mut [f32]);

/// One instruction set's implementation of every hot operation.
///
/// Call through [`Kernels::vec_dot`] / [`Kernels::quantize_row`] (which check lengths and
/// dispatch on the type) once per row, or take a field directly to hoist the dispatch out of a
/// loop. Every function has the same contract as its `scalar` counterpart.
pub struct Kernels {
    /// Short name: `"scalar"`, `"avx2"`, `"avx512"` (later `"neon"`): the `BRISK_CPU` values.
    pub name: &'static str,
    /// Whether this CPU can run the table (runtime feature detection).
    pub supported: fn() -> bool,
    /// This ISA's dot products, by weight type; a weight type not listed uses the scalar
    /// reference (its [`crate::types::TypeTraits::vec_dot`]).
    pub vec_dots: &'static [(QuantType, VecDotFn)],
    pub quantize_row_q8_0: QuantizeRowFn,
    pub quantize_row_q8_1: QuantizeRowFn,
    pub quantize_row_q8_k: QuantizeRowFn,
    pub dot_f16_f32: DotHalfFn,
    pub dot_bf16_f32: DotHalfFn,
    pub dot_f32: DotF32Fn,
    /// Float weights × several tokens' activations, batch-invariant
    /// ([`crate::float_gemm`]); `None`: one dot per row and token.
    pub float_gemm: Option<crate::float_gemm::FloatGemmFn>,
    pub rms_norm: fn(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]),
    pub silu_mul: fn(gate: &[f32], up: &[f32], out: &mut [f32]),
    /// `out = gelu_tanh(gate) · up` (GeGLU).
    pub gelu_mul: fn(gate: &[f32], up: &[f32], out: &mut [f32]),
    pub add: fn(a: &mut [f32], b: &[f32]),
    pub scale: fn(x: &mut [f32], s: f32),
    /// Microkernels for the packed weight layouts ([`crate::packed`]); `None` where this ISA
    /// has none, and then weights stay in their ggml layout.
    pub gemm_q4_0x16: Option<PackedGemmFn>,
    pub gemm_q8_0x16: Option<PackedGemmFn>,
    pub gemm_q4_kx16: Option<PackedGemmFn>,
    pub gemm_q6_kx16: Option<PackedGemmFn>,
    pub attn_scores_f16: AttnScoresF16Fn,
    pub attn_scores_f32: AttnScoresF32Fn,
    pub attn_accum_f16: AttnAccumF16Fn,
    pub attn_accum_f32: AttnAccumF32Fn,
    /// `x[i] = exp(x[i] − m)`, returning `Σ x[i]`.
    pub exp_sub_sum: fn(x: &mut [f32], m: f32) -> f32,
    /// Wrapping sum of u64 words: a streaming read (`brisk bench --roofline`).
    pub sum_u64: fn(x: &[u64]) -> u64,
}

impl core::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kernels").field("name", &self.name).finish()
    }
}

impl Kernels {
    /// The dot-product function for weights of type `ty` (no length checks): this table's own,
    /// else the scalar reference. Panics for the activation-only types (Q8_1, Q8_K).
    pub fn vec_dot_fn(&self, ty: QuantType) -> VecDotFn {
        match self.vec_dots.iter().find(|(t, _)| *t == ty) {
            Some(&(_, f)) => f,
            None => scalar::vec_dot_fn(ty),
        }
    }

    /// The microkernel for a packed layout, if this table has one.
    pub fn packed_gemm(&self, layout: Layout) -> Option<PackedGemmFn> {
        match layout {
            Layout::Q4_0x16 => self.gemm_q4_0x16,
            // Q5_0x16 is stored as Q8_0x16.
            Layout::Q5_0x16 | Layout::Q8_0x16 => self.gemm_q8_0x16,
            Layout::Q4_Kx16 => self.gemm_q4_kx16,
            Layout::Q6_Kx16 => self.gemm_q6_kx16,
        }
    }

    /// Dot product of `n` weights of type `ty` with `n` activations of type
    /// `ty.vec_dot_type()`. Same contract as [`scalar::vec_dot`] (panics on length mismatch).
    pub fn vec_dot(&self, ty: QuantType, w: &[u8], a: &[u8], n: usize) -> f32 {
        let ok =
            ty.row_bytes(n) == Some(w.len()) && ty.vec_dot_type().row_bytes(n) == Some(a.len());
        assert!(
            ok,
            "vec_dot {}: {} elements vs {} weight bytes / {} activation bytes",
            ty.name(),
            n,
            w.len(),
            a.len()
        );
        (self.vec_dot_fn(ty))(w, a, n)
    }

    /// Quantizes `src` to `ty`. The activation types (Q8_0, Q8_1, Q8_K) use this table's
    /// functions; every other type uses the scalar reference (weights are quantized offline).
    /// Same contract as [`scalar::quantize_row`].
    pub fn quantize_row(&self, ty: QuantType, src: &[f32], dst: &mut [u8]) {
        let f = match ty {
            QuantType::Q8_0 => self.quantize_row_q8_0,
            QuantType::Q8_1 => self.quantize_row_q8_1,
            QuantType::Q8_K => self.quantize_row_q8_k,
            _ => return scalar::quantize_row(ty, src, dst),
        };
        assert!(
            ty.row_bytes(src.len()) == Some(dst.len()),
            "quantize_row {}: {} elements vs {} bytes",
            ty.name(),
            src.len(),
            dst.len()
        );
        f(src, dst)
    }
}

fn always() -> bool {
    true
}

/// The scalar reference table: runs everywhere.
pub static SCALAR: Kernels = Kernels {
    name: "scalar",
    supported: always,
    vec_dots: &[],
    quantize_row_q8_0: legacy::quantize_q8_0,
    quantize_row_q8_1: legacy::quantize_q8_1,
    quantize_row_q8_k: kquants_quant::quantize_q8_k,
    dot_f16_f32: dot::dot_f16_f32,
    dot_bf16_f32: dot::dot_bf16_f32,
    dot_f32: dot::dot_f32,
    float_gemm: None,
    rms_norm: vecops::rms_norm,
    silu_mul: vecops::silu_mul,
    gelu_mul: vecops::gelu_mul,
    add: vecops::add,
    scale: vecops::scale,
    gemm_q4_0x16: None,
    gemm_q8_0x16: None,
    gemm_q4_kx16: None,
    gemm_q6_kx16: None,
    attn_scores_f16: attn::attn_scores_f16,
    attn_scores_f32: attn::attn_scores_f32,
    attn_accum_f16: attn::attn_accum_f16,
    attn_accum_f32: attn::attn_accum_f32,
    exp_sub_sum: attn::exp_sub_sum,
    sum_u64: scalar::stream::sum_u64,
};

/// Every table compiled into this build, best first. ISA tables are appended here behind
/// `#[cfg(target_arch = ...)]`; the scalar table stays last as the fallback.
#[cfg(target_arch = "x86_64")]
static TABLES: [&Kernels; 3] = [&crate::x86::AVX512, &crate::x86::AVX2, &SCALAR];
#[cfg(target_arch = "aarch64")]
static TABLES: [&Kernels; 2] = [&crate::arm::NEON, &SCALAR];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
static TABLES: [&Kernels; 1] = [&SCALAR];

/// The tables this CPU can run, best first (the scalar table is always present, last).
pub fn available() -> Vec<&'static Kernels> {
    TABLES.iter().copied().filter(|k| (k.supported)()).collect()
}

/// The available table named `name` (case-insensitive), if any.
pub fn by_name(name: &str) -> Option<&'static Kernels> {
    available()
        .into_iter()
        .find(|k| k.name.eq_ignore_ascii_case(name))
}

const UNSET: usize = usize::MAX;
static SELECTED: AtomicUsize = AtomicUsize::new(UNSET);

/// Index in `TABLES` of the table to use, given the `BRISK_CPU` value (if any).
fn choose(env: Option<&str>) -> usize {
    let usable = |k: &Kernels| (k.supported)();
    if let Some(name) = env.map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(i) = TABLES
            .iter()
            .position(|k| k.name.eq_ignore_ascii_case(name) && usable(k))
        {
            return i;
        }
        let names: Vec<&str> = available().iter().map(|k| k.name).collect();
        eprintln!(
            "brisk: BRISK_CPU={} is not available on this CPU (available: {}); using the best one",
            name,
            names.join(", ")
        );
    }
    TABLES
        .iter()
        .position(|k| usable(k))
        .unwrap_or(TABLES.len() - 1)
}

/// The table to use: the best available one, or the one named by the `BRISK_CPU` environment
/// variable (`scalar`, `avx2`, `avx512`, later `neon`) when set and available (an unavailable
/// name prints a warning and falls back). Chosen once per process; callers log `.name` if they
/// want to report it.
pub fn selected() -> &'static Kernels {
    let i = SELECTED.load(Ordering::Relaxed);
    if i < TABLES.len() {
        return TABLES[i];
    }
    let env = std::env::var("BRISK_CPU").ok();
    let i = choose(env.as_deref());
    // A race only computes the same answer twice.
    SELECTED.store(i, Ordering::Relaxed);
    TABLES[i]
}

/// Every kernel set's name, on any CPU.
const KNOWN: &[&str] = &["scalar", "avx2", "avx512", "neon"];

/// The table `BRISK_CPU` asks for, as an error when it names a table this CPU cannot run (or
/// none at all); the best available table when it is unset or empty. Programs that take user
/// input call this once at start-up so a wrong override is reported, never silently replaced.
pub fn requested() -> Result<&'static Kernels, String> {
    requested_from(std::env::var("BRISK_CPU").ok().as_deref())
}

fn requested_from(env: Option<&str>) -> Result<&'static Kernels, String> {
    match env.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(selected()),
        Some(name) => by_name(name).ok_or_else(|| {
            let names: Vec<&str> = available().iter().map(|k| k.name).collect();
            if KNOWN.contains(&name.to_ascii_lowercase().as_str()) {
                format!(
                    "BRISK_CPU={name}: this CPU cannot run that kernel set (it runs: {})",
                    names.join(", ")
                )
            } else {
                format!(
                    "BRISK_CPU={name} is not a kernel set (one of {}; this CPU runs: {})",
                    KNOWN.join(", "),
                    names.join(", ")
                )
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_rejects_unavailable_names() {
        assert_eq!(requested_from(Some("scalar")).map(|k| k.name), Ok("scalar"));
        assert_eq!(
            requested_from(Some(" AVX2 ")).is_ok(),
            by_name("avx2").is_some()
        );
        let err = requested_from(Some("sparc")).unwrap_err();
        assert!(err.contains("sparc") && err.contains("scalar"), "{err}");
        assert_eq!(requested_from(None).map(|k| k.name), Ok(selected().name));
        assert_eq!(
            requested_from(Some("")).map(|k| k.name),
            Ok(selected().name)
        );
    }

    #[test]
    fn scalar_is_always_available_and_last() {
        let av = available();
        assert_eq!(av.last().map(|k| k.name), Some("scalar"));
        assert_eq!(by_name("SCALAR").map(|k| k.name), Some("scalar"));
        assert!(by_name("no-such-isa").is_none());
    }

    #[test]
    fn choose_honours_override_and_falls_back() {
        assert_eq!(TABLES[choose(Some("scalar"))].name, "scalar");
        assert_eq!(choose(Some("bogus")), choose(None));
        assert!((TABLES[choose(None)].supported)());
        assert!((selected().supported)());
    }
}
