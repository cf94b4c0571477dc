//! Pieces shared by the AVX-512 microkernels of the 16-row packed layouts (one weight row per
//! 32-bit lane): nibble unpacking, the per-block `vpdpbusd` chain against broadcast activation
//! bytes, and the dispatch from a token count to the kernel instantiated for it.

use core::arch::x86_64::*;

/// The 8 weight vectors of a 32-element block stored as 4 nibble lines of 64 bytes at `wb`:
/// vectors 0..4 are the low nibbles (elements `4p..4p+4` of each row), 4..8 the high ones
/// (elements `16 + 4p..`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn unpack_nibbles(wb: *const u8) -> [__m512i; 8] {
    let m4 = _mm512_set1_epi8(0x0f);
    let mut wq = [_mm512_setzero_si512(); 8];
    for p in 0..4 {
        let q = _mm512_loadu_si512(wb.add(64 * p) as *const _);
        wq[p] = _mm512_and_si512(q, m4);
        wq[p + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    }
    wq
}

/// `init + Σ_k wq[k]·(4 bytes at qa + 4k, broadcast)`: each lane's integer dot over the 32
/// elements of a block. With few tokens per call (`NT`) the out-of-order core has too little
/// independent work to hide the `vpdpbusd` latency, so the sum is split into independent
/// chains (one token: 4 chains of 2; two: 2 of 4; more: one chain per token).
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
pub(super) unsafe fn block_dot<const NT: usize>(
    init: __m512i,
    wq: &[__m512i; 8],
    qa: *const u8,
) -> __m512i {
    let bcast = |k: usize| _mm512_set1_epi32((qa.add(4 * k) as *const i32).read_unaligned());
    let chains = match NT {
        1 => 4,
        2 => 2,
        _ => 1,
    };
    let mut c = [_mm512_setzero_si512(); 4];
    c[0] = init;
    for k in 0..8 {
        c[k % chains] = _mm512_dpbusd_epi32(c[k % chains], wq[k], bcast(k));
    }
    match chains {
        4 => _mm512_add_epi32(_mm512_add_epi32(c[0], c[1]), _mm512_add_epi32(c[2], c[3])),
        2 => _mm512_add_epi32(c[0], c[1]),
        _ => c[0],
    }
}

/// `by_tokens!(ntok, kernel, [PRE..], (args..))` calls `kernel::<PRE.., NT, PF>(args..)` for `ntok` tokens (1..=8): the kernel instantiated
/// for that count, prefetching (`PF`) only for one token (decode, where weights stream from
/// DRAM once).
macro_rules! by_tokens {
    ($ntok:expr, $kernel:ident, [$($pre:tt),*], ($($arg:expr),* $(,)?)) => {
        match $ntok {
            1 => $kernel::<$($pre,)* 1, true>($($arg),*),
            2 => $kernel::<$($pre,)* 2, false>($($arg),*),
            3 => $kernel::<$($pre,)* 3, false>($($arg),*),
            4 => $kernel::<$($pre,)* 4, false>($($arg),*),
            5 => $kernel::<$($pre,)* 5, false>($($arg),*),
            6 => $kernel::<$($pre,)* 6, false>($($arg),*),
            7 => $kernel::<$($pre,)* 7, false>($($arg),*),
            _ => $kernel::<$($pre,)* 8, false>($($arg),*),
        }
    };
}
pub(super) use by_tokens;
