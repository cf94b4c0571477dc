//! Unit tests of the i-quant, ternary and MXFP4 scalar reference (hand-built blocks, and
//! dot products against the dequantized dot).
use super::*;
use crate::half::f32_to_f16;
use crate::iq_blocks::*;
use crate::iq_tables::IQ3S_GRID;

type DequantFn = fn(&[u8], &mut [f32]);
type DotFn = fn(&[u8], &[u8], usize) -> f32;

/// A tiny deterministic generator (64-bit LCG, top bits out).
struct Lcg(u64);

impl Lcg {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }
    fn byte(&mut self) -> u8 {
        (self.next_u32() >> 24) as u8
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

fn deq(f: DequantFn, src: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; n];
    f(src, &mut y);
    y
}

fn put_f16(b: &mut [u8], at: usize, x: f32) {
    b[at..at + 2].copy_from_slice(&f32_to_f16(x).to_le_bytes());
}

// --- hand-built blocks -------------------------------------------------------------------

/// 2^e as f32 (computed in f64, exact for the exponents used here).
fn pow2(e: i32) -> f32 {
    2f64.powi(e) as f32
}

#[test]
fn e8m0_conversions() {
    assert_eq!(e8m0_to_f32_half(0), pow2(-128));
    assert_eq!(e8m0_to_f32_half(1), pow2(-127));
    assert_eq!(e8m0_to_f32_half(2), pow2(-126));
    assert_eq!(e8m0_to_f32_half(127), 0.5);
    assert_eq!(e8m0_to_f32_half(128), 1.0);
    assert_eq!(e8m0_to_f32_half(255), pow2(127));
    assert_eq!(e8m0_to_f32(0), pow2(-127));
    assert_eq!(e8m0_to_f32(127), 1.0);
    // 255 is +inf in ggml's e8m0_to_fp32 (its NaN case is disabled), finite when halved.
    for e in 0..=254u8 {
        assert_eq!(e8m0_to_f32_half(e), e8m0_to_f32(e) / 2.0);
    }
}

#[test]
fn iq4_nl_hand_block() {
    let mut b = [0u8; IQ4NL_BYTES];
    put_f16(&mut b, IQ4NL_D, 0.5);
    b[IQ4NL_QS] = 0x8f; // element 0: index 15 (113), element 16: index 8 (1)
    b[IQ4NL_QS + 3] = 0x70; // element 3: index 0 (-127), element 19: index 7 (-10)
    let y = deq(dequantize_iq4_nl, &b, 32);
    assert_eq!(y[0], 56.5);
    assert_eq!(y[16], 0.5);
    assert_eq!(y[3], -63.5);
    assert_eq!(y[19], -5.0);
    assert_eq!(y[1], -63.5); // nibble 0
}

#[test]
fn iq4_xs_hand_block() {
    let mut b = vec![0u8; IQ4XS_BYTES];
    put_f16(&mut b, IQ4XS_D, 1.0);
    b[IQ4XS_SCALES_L] = 0x21; // sub-block 0: low bits 1, sub-block 1: low bits 2
    b[IQ4XS_SCALES_H] = 0b10; // sub-block 0: high bits 2 -> 33 -> ×1
    b[IQ4XS_QS] = 0xf8; // element 0: index 8 (1); element 16: index 15 (113)
    let y = deq(dequantize_iq4_xs, &b, 256);
    assert_eq!(y[0], 1.0);
    assert_eq!(y[16], 113.0);
    assert_eq!(y[1], -127.0);
    assert_eq!(y[32], -127.0 * -30.0); // sub-block 1: 2 - 32
    assert_eq!(y[255], -127.0 * -32.0); // sub-block 7: 0 - 32
}

#[test]
fn mxfp4_hand_block() {
    let mut b = [0u8; MXFP4_BYTES];
    b[MXFP4_E] = 130; // half scale 2^2
    b[MXFP4_QS] = 0xd7; // element 0: index 7 (12 -> 6.0 E2M1), element 16: index 13 (-6)
    let y = deq(dequantize_mxfp4, &b, 32);
    assert_eq!(y[0], 48.0);
    assert_eq!(y[16], -24.0);
    assert_eq!(y[1], 0.0);
}

#[test]
fn tq2_0_hand_block() {
    let mut b = vec![0u8; TQ2_0_BYTES];
    put_f16(&mut b, TQ2_0_D, 2.0);
    b[TQ2_0_QS] = 0b11_10_01_00; // elements 0, 32, 64, 96
    b[TQ2_0_QS + 32 + 5] = 0b10 << 2; // element 128 + 32 + 5
    let y = deq(dequantize_tq2_0, &b, 256);
    assert_eq!((y[0], y[32], y[64], y[96]), (-2.0, 0.0, 2.0, 4.0));
    assert_eq!(y[165], 2.0);
    assert_eq!(y[128], -2.0);
}

/// ggml's TQ1_0 quantizer packs trits t0..t4 as `⌈(Σ t_n·3^(4−n))·256 / 243⌉`; the decoder
/// must return every digit of every such byte (qh bytes hold 4 trits, t4 = 0).
#[test]
fn tq1_0_decodes_every_packed_byte() {
    for v in 0..243u32 {
        let trits: Vec<i32> = (0..5).map(|n| ((v / 3u32.pow(4 - n)) % 3) as i32).collect();
        let byte = ((v * 256 + 242) / 243) as u8;
        let mut b = vec![0u8; TQ1_0_BYTES];
        put_f16(&mut b, TQ1_0_D, 1.0);
        b[TQ1_0_QS + 3] = byte; // elements 32n + 3
        b[TQ1_0_QS + 40] = byte; // elements 160 + 16n + 8
        if v % 3 == 0 {
            b[TQ1_0_QH + 2] = byte; // elements 240 + 4n + 2
        }
        let y = deq(dequantize_tq1_0, &b, 256);
        for n in 0..5 {
            assert_eq!(y[32 * n + 3], (trits[n] - 1) as f32, "v {} n {}", v, n);
            assert_eq!(
                y[160 + 16 * n + 8],
                (trits[n] - 1) as f32,
                "v {} n {}",
                v,
                n
            );
            if v % 3 == 0 && n < 4 {
                assert_eq!(y[240 + 4 * n + 2], (trits[n] - 1) as f32, "v {} n {}", v, n);
            }
        }
        assert_eq!(y[0], -1.0); // byte 0: all digits 0
    }
}

#[test]
fn iq2_xxs_hand_block() {
    let mut b = vec![0u8; IQ2XXS_BYTES];
    put_f16(&mut b, IQ2XXS_D, 1.0);
    // All zero: grid 0 (all 0x08), no signs, scale 0 -> 1·0.5·0.25·8 = 1.
    assert!(deq(dequantize_iq2_xxs, &b, 256).iter().all(|&v| v == 1.0));
    // Sub-block 0: group 1 uses grid 1 (byte 0 = 0x2b), group 0 sign index 1
    // (ksigns 129: elements 0 and 7 negative), scale 3 -> db = 3.5·0.25 = 0.875.
    b[IQ2XXS_QS + 1] = 1;
    let aux1: u32 = (3 << 28) | 1;
    b[IQ2XXS_QS + 4..IQ2XXS_QS + 8].copy_from_slice(&aux1.to_le_bytes());
    let y = deq(dequantize_iq2_xxs, &b, 256);
    assert_eq!(y[0..8], [-7.0f32, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, -7.0]);
    assert_eq!(y[8], 0.875 * 43.0);
    assert_eq!(y[9], 7.0);
    assert_eq!(y[32], 1.0);
}

#[test]
fn iq3_s_hand_block() {
    let mut b = vec![0u8; IQ3S_BYTES];
    put_f16(&mut b, IQ3S_D, 0.5);
    b[IQ3S_SCALES] = 0x20; // sub-block 0: 0 -> ×1, sub-block 1: 2 -> ×5
    b[IQ3S_QH] = 0x01; // group 0, first grid point: index 256
    b[IQ3S_SIGNS] = 0x10; // group 0, element 4 negative
    let y = deq(dequantize_iq3_s, &b, 256);
    let g256 = IQ3S_GRID[256].to_le_bytes();
    let g0 = IQ3S_GRID[0].to_le_bytes();
    for j in 0..4 {
        assert_eq!(y[j], 0.5 * g256[j] as f32);
    }
    assert_eq!(y[4], -0.5 * g0[0] as f32);
    assert_eq!(y[32], 2.5 * g0[0] as f32);
}

#[test]
fn iq1_s_and_iq1_m_hand_blocks() {
    let mut b = vec![0u8; IQ1S_BYTES];
    put_f16(&mut b, IQ1S_D, 1.0);
    // Grid 0 is all −1; scale 0 (×1), delta +0.125.
    assert!(deq(dequantize_iq1_s, &b, 256).iter().all(|&v| v == -0.875));
    // Sub-block 0: scale 2 (×5), negative delta.
    b[IQ1S_QH..IQ1S_QH + 2].copy_from_slice(&(0x8000u16 | (2 << 12)).to_le_bytes());
    let y = deq(dequantize_iq1_s, &b, 256);
    assert_eq!(y[0], 5.0 * -1.125);
    assert_eq!(y[32], -0.875);

    let mut b = vec![0u8; IQ1M_BYTES];
    // d = 1.0 = 0x3c00: nibbles 0x0, 0x0, 0xc, 0x3 in the tops of scale u16 0..3.
    let sc: [u16; 4] = [0x0001, 0x0000, 0xc000, 0x3000];
    for (k, s) in sc.iter().enumerate() {
        b[IQ1M_SCALES + 2 * k..IQ1M_SCALES + 2 * k + 2].copy_from_slice(&s.to_le_bytes());
    }
    b[IQ1M_QH] = 0x80; // group 1: negative delta
    let y = deq(dequantize_iq1_m, &b, 256);
    assert_eq!(y[0], 3.0 * -0.875); // sub-block 0, first half: scale 1 -> ×3
    assert_eq!(y[8], 3.0 * -1.125);
    assert_eq!(y[16], -0.875); // second half: scale 0
    assert_eq!(y[255], -0.875);
}

// --- vec_dot against the dequantized product ---------------------------------------------

/// Random weight blocks of `bytes` each, with sane f16 scales at the offsets `f16_at`.
fn random_blocks(rng: &mut Lcg, nb: usize, bytes: usize, f16_at: &[usize]) -> Vec<u8> {
    let mut w: Vec<u8> = (0..nb * bytes).map(|_| rng.byte()).collect();
    for blk in w.chunks_exact_mut(bytes) {
        for &at in f16_at {
            let d = rng.unit() * 0.05;
            put_f16(blk, at, d);
        }
    }
    w
}

/// Q8_K activation blocks (with consistent bsums) and their dequantized values.
fn q8k_blocks(rng: &mut Lcg, nb: usize) -> (Vec<u8>, Vec<f32>) {
    let mut bytes = Vec::new();
    let mut vals = Vec::new();
    for _ in 0..nb {
        let d = 0.01 + rng.unit().abs() * 0.02;
        let qs: Vec<i8> = (0..256).map(|_| (rng.byte() % 255) as i8).collect();
        let qs: Vec<i8> = qs
            .iter()
            .map(|&q| if q == -128 { 127 } else { q })
            .collect();
        bytes.extend_from_slice(&d.to_le_bytes());
        bytes.extend(qs.iter().map(|&q| q as u8));
        for g in 0..16 {
            let s: i32 = qs[16 * g..16 * g + 16].iter().map(|&q| q as i32).sum();
            bytes.extend_from_slice(&(s as i16).to_le_bytes());
        }
        vals.extend(qs.iter().map(|&q| d * q as f32));
    }
    (bytes, vals)
}

/// Q8_0 activation blocks and their dequantized values.
fn q8_0_blocks(rng: &mut Lcg, nb: usize) -> (Vec<u8>, Vec<f32>) {
    let mut bytes = Vec::new();
    let mut vals = Vec::new();
    for _ in 0..nb {
        let dh = f32_to_f16(0.01 + rng.unit().abs() * 0.02);
        let d = f16_to_f32(dh);
        bytes.extend_from_slice(&dh.to_le_bytes());
        for _ in 0..32 {
            let q = (rng.byte() % 255) as i8;
            let q = if q == -128 { 127 } else { q };
            bytes.push(q as u8);
            vals.push(d * q as f32);
        }
    }
    (bytes, vals)
}

fn check_dot(name: &str, deq_fn: DequantFn, dot: DotFn, w: &[u8], a: &[u8], av: &[f32]) {
    let n = av.len();
    let wv = deq(deq_fn, w, n);
    let want: f64 = wv.iter().zip(av).map(|(&p, &q)| p as f64 * q as f64).sum();
    let abs: f64 = wv
        .iter()
        .zip(av)
        .map(|(&p, &q)| (p as f64 * q as f64).abs())
        .sum();
    let got = dot(w, a, n) as f64;
    assert!(
        (got - want).abs() <= 2e-5 * abs + 1e-30,
        "{}: vec_dot {} vs Σ dequant·dequant {} (Σ|·| {})",
        name,
        got,
        want,
        abs
    );
}

#[test]
fn vec_dot_equals_dequantized_dot() {
    // (name, block bytes, f16 offsets, dequantize, vec_dot); Q8_K partners.
    let k_types: [(&str, usize, &[usize], DequantFn, DotFn); 10] = [
        (
            "iq2_xxs",
            IQ2XXS_BYTES,
            &[IQ2XXS_D],
            dequantize_iq2_xxs,
            vec_dot_iq2_xxs_q8_k,
        ),
        (
            "iq2_xs",
            IQ2XS_BYTES,
            &[IQ2XS_D],
            dequantize_iq2_xs,
            vec_dot_iq2_xs_q8_k,
        ),
        (
            "iq2_s",
            IQ2S_BYTES,
            &[IQ2S_D],
            dequantize_iq2_s,
            vec_dot_iq2_s_q8_k,
        ),
        (
            "iq3_xxs",
            IQ3XXS_BYTES,
            &[IQ3XXS_D],
            dequantize_iq3_xxs,
            vec_dot_iq3_xxs_q8_k,
        ),
        (
            "iq3_s",
            IQ3S_BYTES,
            &[IQ3S_D],
            dequantize_iq3_s,
            vec_dot_iq3_s_q8_k,
        ),
        (
            "iq1_s",
            IQ1S_BYTES,
            &[IQ1S_D],
            dequantize_iq1_s,
            vec_dot_iq1_s_q8_k,
        ),
        (
            "iq1_m",
            IQ1M_BYTES,
            &[],
            dequantize_iq1_m,
            vec_dot_iq1_m_q8_k,
        ),
        (
            "iq4_xs",
            IQ4XS_BYTES,
            &[IQ4XS_D],
            dequantize_iq4_xs,
            vec_dot_iq4_xs_q8_k,
        ),
        (
            "tq1_0",
            TQ1_0_BYTES,
            &[TQ1_0_D],
            dequantize_tq1_0,
            vec_dot_tq1_0_q8_k,
        ),
        (
            "tq2_0",
            TQ2_0_BYTES,
            &[TQ2_0_D],
            dequantize_tq2_0,
            vec_dot_tq2_0_q8_k,
        ),
    ];
    let mut rng = Lcg(0x1234_5678);
    let nb = 4;
    for &(name, bytes, f16_at, deq_fn, dot) in &k_types {
        for _ in 0..8 {
            let mut w = random_blocks(&mut rng, nb, bytes, f16_at);
            if name == "iq1_m" {
                // The f16 scale lives in the top nibbles of the four scale u16.
                for blk in w.chunks_exact_mut(bytes) {
                    let d = f32_to_f16(rng.unit() * 0.05);
                    for k in 0..4 {
                        let at = IQ1M_SCALES + 2 * k + 1;
                        blk[at] = (blk[at] & 0x0f) | ((((d >> (4 * k)) & 0xf) as u8) << 4);
                    }
                }
            }
            let (a, av) = q8k_blocks(&mut rng, nb);
            check_dot(name, deq_fn, dot, &w, &a, &av);
        }
    }
    for _ in 0..8 {
        let w = random_blocks(&mut rng, 8 * nb, IQ4NL_BYTES, &[IQ4NL_D]);
        let (a, av) = q8_0_blocks(&mut rng, 8 * nb);
        check_dot(
            "iq4_nl",
            dequantize_iq4_nl,
            vec_dot_iq4_nl_q8_0,
            &w,
            &a,
            &av,
        );
        let mut w = random_blocks(&mut rng, 8 * nb, MXFP4_BYTES, &[]);
        for blk in w.chunks_exact_mut(MXFP4_BYTES) {
            blk[MXFP4_E] = 110 + rng.byte() % 20;
        }
        check_dot("mxfp4", dequantize_mxfp4, vec_dot_mxfp4_q8_0, &w, &a, &av);
    }
}

#[test]
#[should_panic]
fn length_mismatch_panics() {
    let mut y = vec![0.0f32; 256];
    dequantize_iq2_xxs(&[0u8; IQ2XXS_BYTES - 1], &mut y);
}
