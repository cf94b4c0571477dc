//! ggml's own kernels, called through llama-cpp-sys-2's bindgen bindings (the `ggml-ref`
//! feature): the reference the `ggml_ref` tests and bench hold brisk's kernels against.
#![allow(dead_code)]

use std::sync::Once;

use brisk_kernels::QuantType;
use llama_cpp_sys_2 as sys;

fn init() {
    static INIT: Once = Once::new();
    // SAFETY: ggml_cpu_init takes no arguments and only fills ggml's lookup tables; Once
    // runs it a single time before any other call here.
    INIT.call_once(|| unsafe { sys::ggml_cpu_init() });
}

// ggml-quants.h's Q8_K reference pair (GGML_API, but outside the public headers the bindings
// cover, and absent from ggml's type-traits table).
extern "C" {
    fn quantize_row_q8_K_ref(x: *const f32, y: *mut std::ffi::c_void, k: i64);
    fn dequantize_row_q8_K(x: *const std::ffi::c_void, y: *mut f32, k: i64);
}

fn id(ty: QuantType) -> sys::ggml_type {
    ty.ggml_id() as sys::ggml_type
}

/// ggml's bytes per row of `n` elements, checked against brisk's (the block layouts agree).
fn row_bytes(ty: QuantType, n: usize) -> usize {
    let brisk = ty
        .row_bytes(n)
        .expect("n is a multiple of the block length");
    // SAFETY: a plain size query on a valid type id.
    let ggml = unsafe { sys::ggml_row_size(id(ty), n as i64) };
    assert_eq!(brisk, ggml, "{}: row size of {} elements", ty, n);
    brisk
}

/// `ggml_quantize_chunk` over `src` in rows of `n_per_row`, with an optional importance
/// matrix (one value per column): what llama-quantize writes for a tensor.
pub fn quantize_chunk(
    ty: QuantType,
    src: &[f32],
    n_per_row: usize,
    imatrix: Option<&[f32]>,
) -> Vec<u8> {
    let mut dst = vec![0u8; src.len() / n_per_row * row_bytes(ty, n_per_row)];
    quantize_chunk_into(ty, src, n_per_row, imatrix, &mut dst);
    dst
}

/// [`quantize_chunk`] into `dst` (exactly the rows' size).
pub fn quantize_chunk_into(
    ty: QuantType,
    src: &[f32],
    n_per_row: usize,
    imatrix: Option<&[f32]>,
    dst: &mut [u8],
) {
    init();
    assert_eq!(src.len() % n_per_row, 0);
    if let Some(m) = imatrix {
        assert_eq!(m.len(), n_per_row);
    }
    let rows = src.len() / n_per_row;
    assert_eq!(dst.len(), rows * row_bytes(ty, n_per_row));
    let imatrix = imatrix.map_or(std::ptr::null(), |m| m.as_ptr());
    // SAFETY: src holds rows·n_per_row floats, dst holds rows·ggml_row_size bytes, imatrix is
    // null or n_per_row floats; ggml_quantize_init builds the grid tables the i-quants need
    // (once; later calls return at once).
    let written = unsafe {
        sys::ggml_quantize_init(id(ty));
        sys::ggml_quantize_chunk(
            id(ty),
            src.as_ptr(),
            dst.as_mut_ptr().cast(),
            0,
            rows as i64,
            n_per_row as i64,
            imatrix,
        )
    };
    assert_eq!(written, dst.len());
}

/// ggml's reference quantizer (`from_float_ref`, e.g. `quantize_row_q8_K_ref`), if it has one.
pub fn from_float_ref(ty: QuantType, src: &[f32]) -> Option<Vec<u8>> {
    init();
    let f = if ty == QuantType::Q8_K {
        quantize_row_q8_K_ref
    } else {
        // SAFETY: ggml_get_type_traits points into ggml's static table for a valid id.
        unsafe { (*sys::ggml_get_type_traits(id(ty))).from_float_ref }?
    };
    let mut dst = vec![0u8; row_bytes(ty, src.len())];
    // SAFETY: src holds k floats and dst the row size of k elements of this type.
    unsafe { f(src.as_ptr(), dst.as_mut_ptr().cast(), src.len() as i64) };
    Some(dst)
}

/// ggml's CPU quantizer for activations (`from_float` of the CPU traits: the SIMD one).
pub fn from_float_cpu(ty: QuantType, src: &[f32]) -> Option<Vec<u8>> {
    init();
    // SAFETY: as in from_float_ref, for the CPU backend's static table.
    let f = unsafe { (*sys::ggml_get_type_traits_cpu(id(ty))).from_float }?;
    let mut dst = vec![0u8; row_bytes(ty, src.len())];
    // SAFETY: src holds k floats and dst the row size of k elements of this type.
    unsafe { f(src.as_ptr(), dst.as_mut_ptr().cast(), src.len() as i64) };
    Some(dst)
}

/// ggml's dequantizer (`to_float`) of `n` elements, if it has one.
pub fn to_float(ty: QuantType, src: &[u8], n: usize) -> Option<Vec<f32>> {
    let mut dst = vec![0.0f32; n];
    to_float_into(ty, src, &mut dst).then_some(dst)
}

/// [`to_float`] into `dst`; false when ggml has no dequantizer for `ty`.
pub fn to_float_into(ty: QuantType, src: &[u8], dst: &mut [f32]) -> bool {
    init();
    assert_eq!(src.len(), row_bytes(ty, dst.len()));
    let f = if ty == QuantType::Q8_K {
        dequantize_row_q8_K
    } else {
        // SAFETY: as in from_float_ref.
        match unsafe { (*sys::ggml_get_type_traits(id(ty))).to_float } {
            Some(f) => f,
            None => return false,
        }
    };
    // SAFETY: src holds the row size of dst.len() elements, dst that many floats.
    unsafe { f(src.as_ptr().cast(), dst.as_mut_ptr(), dst.len() as i64) };
    true
}

/// The activation type ggml's CPU dot for weights of `ty` takes (`vec_dot_type`).
pub fn vec_dot_type(ty: QuantType) -> QuantType {
    init();
    // SAFETY: as in from_float_cpu.
    let t = unsafe { (*sys::ggml_get_type_traits_cpu(id(ty))).vec_dot_type };
    QuantType::from_ggml_id(t as u32).expect("a type brisk knows")
}

/// ggml's CPU dot product (the SIMD one this build selected) of `n` weights of `ty` with `n`
/// activations of `vec_dot_type(ty)`.
pub fn vec_dot(ty: QuantType, w: &[u8], a: &[u8], n: usize) -> f32 {
    init();
    assert_eq!(w.len(), row_bytes(ty, n));
    assert_eq!(a.len(), row_bytes(vec_dot_type(ty), n));
    // SAFETY: as in from_float_cpu.
    let f = unsafe { (*sys::ggml_get_type_traits_cpu(id(ty))).vec_dot }.expect("a weight type");
    let mut s = 0.0f32;
    // SAFETY: one row (nrc = 1) of n elements: w and a hold their row sizes, s one float.
    unsafe {
        f(
            n as i32,
            &mut s,
            0,
            w.as_ptr().cast(),
            0,
            a.as_ptr().cast(),
            0,
            1,
        )
    };
    s
}
