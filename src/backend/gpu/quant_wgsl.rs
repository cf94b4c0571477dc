//! WGSL decoders of the weight types the GPU reads in their GGUF block layout: for each, a
//! function `dq32(base, c, v)` writing the 32 values of chunk `c` of the block at byte `base`
//! into `v`. Every block is a whole number of 32-value chunks; the matmul kernel loops over
//! them. The layouts are ggml's (`ggml-common.h`); the tests compare each against the scalar
//! reference dequantizer.
use brisk_kernels::QuantType;

/// f16 ↔ f32 in integer arithmetic: exact, subnormals kept (WGSL's `unpack2x16float` may flush
/// them), round to nearest even on the way to f16, as `half` does on the CPU.
pub const F16_BITS: &str = r#"
fn f16_to_f32(h: u32) -> f32 {
    let e = (h >> 10u) & 31u;
    let m = h & 1023u;
    var v: f32;
    if (e == 0u) { v = f32(m) * 5.9604645e-8; }
    else if (e == 31u) { v = bitcast<f32>(0x7f800000u | (m << 13u)); }
    else { v = bitcast<f32>(((e + 112u) << 23u) | (m << 13u)); }
    if ((h & 0x8000u) != 0u) { v = -v; }
    return v;
}
fn f32_to_f16(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sgn = (b >> 16u) & 0x8000u;
    let e = (b >> 23u) & 255u;
    let m = b & 0x7fffffu;
    if (e >= 143u) { return sgn | 0x7c00u; }
    if (e >= 113u) {
        var h = ((e - 112u) << 10u) | (m >> 13u);
        let r = m & 0x1fffu;
        if (r > 0x1000u || (r == 0x1000u && (h & 1u) != 0u)) { h += 1u; }
        return sgn | h;
    }
    if (e < 102u) { return sgn; }
    let full = m | 0x800000u;
    let s = 126u - e;
    var h = full >> s;
    let r = full & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    if (r > half || (r == half && (h & 1u) != 0u)) { h += 1u; }
    return sgn | h;
}
"#;

/// Reads from the weight buffer `w` (bytes packed little-endian into u32s) at any byte offset.
pub const BYTES: &str = r#"
fn b8(o: u32) -> u32 { return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn b16(o: u32) -> u32 {
    if ((o & 3u) != 3u) { return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffffu; }
    return b8(o) | (b8(o + 1u) << 8u);
}
fn b32(o: u32) -> u32 {
    let s = (o & 3u) * 8u;
    if (s == 0u) { return w[o >> 2u]; }
    return (w[o >> 2u] >> s) | (w[(o >> 2u) + 1u] << (32u - s));
}
fn f16at(o: u32) -> f32 { return f16_to_f32(b16(o)); }
fn i8at(o: u32) -> f32 { return f32((i32(b8(o)) << 24u) >> 24u); }
"#;

/// How the matmul kernel reads one weight type.
pub struct Decoder {
    /// Bytes of one block.
    pub block_bytes: u32,
    /// 32-value chunks per block.
    pub chunks: u32,
    /// WGSL defining `dq32` (and its helpers).
    pub wgsl: String,
}

/// The decoder of `ty`; `None` for the types without one (uploaded dequantized to F16).
pub fn decoder(ty: QuantType) -> Option<Decoder> {
    let (block_bytes, chunks, body) = match ty {
        QuantType::F32 => (128, 1, F32),
        QuantType::F16 => (64, 1, F16),
        QuantType::BF16 => (64, 1, BF16),
        QuantType::Q4_0 => (18, 1, Q4_0),
        QuantType::Q4_1 => (20, 1, Q4_1),
        QuantType::Q5_0 => (22, 1, Q5_0),
        QuantType::Q5_1 => (24, 1, Q5_1),
        QuantType::Q8_0 => (34, 1, Q8_0),
        QuantType::Q2_K => (84, 8, Q2_K),
        QuantType::Q3_K => (110, 8, Q3_K),
        QuantType::Q4_K => (144, 8, ""),
        QuantType::Q5_K => (176, 8, ""),
        QuantType::Q6_K => (210, 8, Q6_K),
        QuantType::IQ4_NL => (18, 1, IQ4_NL),
        QuantType::IQ4_XS => (136, 8, IQ4_XS),
        _ => return None,
    };
    let wgsl = match ty {
        QuantType::Q4_K | QuantType::Q5_K => {
            format!("{SCALE_MIN_K4}{}", k4_dq32(ty == QuantType::Q5_K))
        }
        QuantType::IQ4_NL | QuantType::IQ4_XS => format!("{KVALUES_IQ4NL}{body}"),
        _ => body.to_string(),
    };
    Some(Decoder {
        block_bytes,
        chunks,
        wgsl,
    })
}

const F32: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    for (var i = 0u; i < 32u; i++) { (*v)[i] = bitcast<f32>(w[(base >> 2u) + i]); }
}
"#;

const F16: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    for (var i = 0u; i < 16u; i++) {
        let p = unpack2x16float(w[(base >> 2u) + i]);
        (*v)[2u * i] = p.x;
        (*v)[2u * i + 1u] = p.y;
    }
}
"#;

const BF16: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    for (var i = 0u; i < 16u; i++) {
        let p = w[(base >> 2u) + i];
        (*v)[2u * i] = bitcast<f32>(p << 16u);
        (*v)[2u * i + 1u] = bitcast<f32>(p & 0xffff0000u);
    }
}
"#;

const Q4_0: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base);
    for (var j = 0u; j < 16u; j++) {
        let q = b8(base + 2u + j);
        (*v)[j] = (f32(q & 15u) - 8.0) * d;
        (*v)[j + 16u] = (f32(q >> 4u) - 8.0) * d;
    }
}
"#;

const Q4_1: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base);
    let m = f16at(base + 2u);
    for (var j = 0u; j < 16u; j++) {
        let q = b8(base + 4u + j);
        (*v)[j] = f32(q & 15u) * d + m;
        (*v)[j + 16u] = f32(q >> 4u) * d + m;
    }
}
"#;

const Q5_0: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base);
    let qh = b32(base + 2u);
    for (var j = 0u; j < 16u; j++) {
        let q = b8(base + 6u + j);
        let h0 = ((qh >> j) << 4u) & 16u;
        let h1 = (qh >> (j + 12u)) & 16u;
        (*v)[j] = (f32((q & 15u) | h0) - 16.0) * d;
        (*v)[j + 16u] = (f32((q >> 4u) | h1) - 16.0) * d;
    }
}
"#;

const Q5_1: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base);
    let m = f16at(base + 2u);
    let qh = b32(base + 4u);
    for (var j = 0u; j < 16u; j++) {
        let q = b8(base + 8u + j);
        let h0 = ((qh >> j) << 4u) & 16u;
        let h1 = (qh >> (j + 12u)) & 16u;
        (*v)[j] = f32((q & 15u) | h0) * d + m;
        (*v)[j + 16u] = f32((q >> 4u) | h1) * d + m;
    }
}
"#;

const Q8_0: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base);
    for (var j = 0u; j < 32u; j++) { (*v)[j] = i8at(base + 2u + j) * d; }
}
"#;

// Q2_K: scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin. Chunk c = 4n + j takes
// bits 2j of bytes qs[32n + l]; its two halves use scales 2c and 2c + 1.
const Q2_K: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base + 80u);
    let dmin = f16at(base + 82u);
    let n = c / 4u;
    let shift = 2u * (c % 4u);
    for (var h = 0u; h < 2u; h++) {
        let sc = b8(base + 2u * c + h);
        let dl = d * f32(sc & 15u);
        let ml = dmin * f32(sc >> 4u);
        for (var l = 0u; l < 16u; l++) {
            let q = (b8(base + 16u + 32u * n + 16u * h + l) >> shift) & 3u;
            (*v)[16u * h + l] = dl * f32(q) - ml;
        }
    }
}
"#;

// Q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales, offset 32), d. Chunk c = 4n + j takes
// bits 2j of qs[32n + l], its high bit from bit c of hmask[l] (set: no −4).
const Q3_K: &str = r#"
fn q3_scale(base: u32, i: u32) -> f32 {
    var lo: u32;
    if (i < 8u) { lo = b8(base + 96u + i) & 15u; } else { lo = b8(base + 96u + i - 8u) >> 4u; }
    let hi = (b8(base + 104u + (i % 4u)) >> (2u * (i / 4u))) & 3u;
    return f32(i32(lo | (hi << 4u)) - 32);
}
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base + 108u);
    let n = c / 4u;
    let shift = 2u * (c % 4u);
    for (var h = 0u; h < 2u; h++) {
        let dl = d * q3_scale(base, 2u * c + h);
        for (var l = 0u; l < 16u; l++) {
            let e = 16u * h + l;
            let q = i32((b8(base + 32u + 32u * n + e) >> shift) & 3u);
            var sub = 4;
            if (((b8(base + e) >> c) & 1u) != 0u) { sub = 0; }
            (*v)[e] = dl * f32(q - sub);
        }
    }
}
"#;

/// The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block (`get_scale_min_k4`), the
/// 12 scale bytes starting at `s`.
const SCALE_MIN_K4: &str = r#"
fn scale_min_k4(s: u32, j: u32) -> vec2<f32> {
    if (j < 4u) { return vec2<f32>(f32(b8(s + j) & 63u), f32(b8(s + j + 4u) & 63u)); }
    let sc = (b8(s + j + 4u) & 15u) | ((b8(s + j - 4u) >> 6u) << 4u);
    let m = (b8(s + j + 4u) >> 4u) | ((b8(s + j) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}
"#;

/// Q4_K (d, dmin, scales[12], qs[128]) and Q5_K (the same with qh[32] before qs): chunk c is
/// nibble c % 2 of qs[32(c/2) + l] (Q5_K: bit c of qh[l] adds 16), with scale/min c.
fn k4_dq32(high_bit: bool) -> String {
    let (qs, hi) = if high_bit {
        ("48u", " | (((b8(base + 16u + l) >> c) & 1u) << 4u)")
    } else {
        ("16u", "")
    };
    format!(
        r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {{
    let sm = scale_min_k4(base + 4u, c);
    let dl = f16at(base) * sm.x;
    let ml = f16at(base + 2u) * sm.y;
    let shift = 4u * (c % 2u);
    for (var l = 0u; l < 32u; l++) {{
        let q = ((b8(base + {qs} + 32u * (c / 2u) + l) >> shift) & 15u){hi};
        (*v)[l] = dl * f32(q) - ml;
    }}
}}
"#
    )
}

// Q6_K: ql[128], qh[64], scales[16] (i8), d. Chunk c = 4n + k: nibble k / 2 of
// ql[64n + 32(k % 2) + l], bits 2k of qh[32n + l], scale 8n + 2k + l / 16; offset −32.
const Q6_K: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base + 208u);
    let n = c / 4u;
    let k = c % 4u;
    for (var l = 0u; l < 32u; l++) {
        let lo = (b8(base + 64u * n + 32u * (k % 2u) + l) >> (4u * (k / 2u))) & 15u;
        let hi = (b8(base + 128u + 32u * n + l) >> (2u * k)) & 3u;
        let sc = i8at(base + 192u + 8u * n + 2u * k + l / 16u);
        (*v)[l] = d * sc * f32(i32(lo | (hi << 4u)) - 32);
    }
}
"#;

/// The 16 non-linear levels of IQ4_NL and IQ4_XS (`kvalues_iq4nl`).
const KVALUES_IQ4NL: &str = r#"
const KV4: array<f32, 16> = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
"#;

const IQ4_NL: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let d = f16at(base);
    for (var j = 0u; j < 16u; j++) {
        let q = b8(base + 2u + j);
        (*v)[j] = d * KV4[q & 15u];
        (*v)[j + 16u] = d * KV4[q >> 4u];
    }
}
"#;

// IQ4_XS: d, scales_h (u16), scales_l[4], qs[128]; sub-block c has a 6-bit scale (offset 32).
const IQ4_XS: &str = r#"
fn dq32(base: u32, c: u32, v: ptr<function, array<f32, 32>>) {
    let ls = ((b8(base + 4u + c / 2u) >> (4u * (c % 2u))) & 15u) | (((b16(base + 2u) >> (2u * c)) & 3u) << 4u);
    let dl = f16at(base) * f32(i32(ls) - 32);
    for (var j = 0u; j < 16u; j++) {
        let q = b8(base + 8u + 16u * c + j);
        (*v)[j] = dl * KV4[q & 15u];
        (*v)[j + 16u] = dl * KV4[q >> 4u];
    }
}
"#;
