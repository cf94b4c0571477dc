//! The target's decision at a drafted position (Leviathan et al. 2023; Chen et al. 2023): keep
//! the draft token x with probability min(1, p(x)/q(x)), otherwise draw from the residual
//! norm(max(0, p − q)). The token that comes out is distributed exactly as p, the target's
//! distribution after all of its samplers, whatever q is. A greedy target keeps x only when it
//! is its argmax; a deterministic draft (q puts all its mass on x) is accepted with p(x) and
//! otherwise replaced by a draw from p without x.
use super::super::sampler::{draw_from, Dist, Sampler};

/// The token the target emits at a position where the drafter proposed `x`, drawn from `q`
/// (`None`: deterministic); `p` is the target's distribution there.
pub fn choose(sampler: &mut Sampler, p: &Dist, x: u32, q: Option<&Dist>) -> u32 {
    if p.greedy {
        return p.items[0].0;
    }
    let px = p.prob(x);
    let qx = q.map_or(1.0, |q| q.prob(x));
    let r = sampler.uniform();
    if qx <= 0.0 || r * qx < px {
        // (qx = 0 cannot happen for a token drawn from q; keep it rather than divide by 0.)
        return x;
    }
    let residual: Vec<(u32, f64)> = p
        .items
        .iter()
        .map(|&(t, pt)| {
            let qt = match q {
                Some(q) => q.prob(t),
                None if t == x => 1.0,
                None => 0.0,
            };
            (t, (pt - qt).max(0.0))
        })
        .filter(|c| c.1 > 0.0)
        .collect();
    let sum: f64 = residual.iter().map(|c| c.1).sum();
    if residual.is_empty() || sum <= 0.0 {
        // p ≤ q everywhere means p = q, where rejection has probability 0: rounding only.
        return x;
    }
    let r = sampler.uniform() * sum;
    draw_from(&residual, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::SamplerParams;

    fn dist(items: &[(u32, f64)]) -> Dist {
        Dist {
            items: items.to_vec(),
            greedy: false,
        }
    }

    /// Pearson's chi-square of observed counts against probabilities `p` over `n` draws.
    fn chi_square(counts: &[usize], p: &[f64], n: usize) -> f64 {
        counts
            .iter()
            .zip(p)
            .map(|(&c, &pi)| {
                let e = pi * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum()
    }

    /// Runs the draft-then-verify step `n` times: x drawn from q (or fixed), then `choose`.
    fn emitted(p: &Dist, q: Option<&Dist>, fixed: u32, n: usize, seed: u64) -> Vec<usize> {
        let params = SamplerParams {
            temp: 1.0,
            seed,
            ..Default::default()
        };
        let mut target = Sampler::new(params.clone(), 16);
        let mut draft = Sampler::new(
            SamplerParams {
                seed: seed + 1,
                ..params
            },
            16,
        );
        let mut counts = vec![0usize; 8];
        for _ in 0..n {
            let x = match q {
                Some(q) => draft.draw(q),
                None => fixed,
            };
            counts[choose(&mut target, p, x, q) as usize] += 1;
        }
        counts
    }

    // Critical value of chi-square with 7 degrees of freedom at p = 0.001: 24.32.
    const CHI2_7_999: f64 = 24.32;

    #[test]
    fn speculative_sampling_keeps_the_target_distribution() {
        let p_probs = [0.30, 0.20, 0.15, 0.10, 0.10, 0.08, 0.05, 0.02];
        let p = dist(
            &p_probs
                .iter()
                .enumerate()
                .map(|(i, &x)| (i as u32, x))
                .collect::<Vec<_>>(),
        );
        // Draft distributions: close, far, one disjoint from p's best tokens, and one putting
        // mass on a token p lacks (7 is absent from q2's support the other way round).
        let qs = [
            dist(&[
                (0, 0.35),
                (1, 0.25),
                (2, 0.1),
                (3, 0.1),
                (4, 0.1),
                (5, 0.05),
                (6, 0.05),
            ]),
            dist(&[(7, 0.6), (6, 0.3), (5, 0.1)]),
            dist(&[(3, 0.5), (4, 0.5)]),
        ];
        let n = 40_000;
        for (k, q) in qs.iter().enumerate() {
            let counts = emitted(&p, Some(q), 0, n, 11 + k as u64);
            let chi = chi_square(&counts, &p_probs, n);
            assert!(
                chi < CHI2_7_999,
                "q{k}: chi-square {chi:.1}, counts {counts:?}"
            );
        }
        for fixed in [0, 3, 7] {
            let counts = emitted(&p, None, fixed, n, 5);
            let chi = chi_square(&counts, &p_probs, n);
            assert!(
                chi < CHI2_7_999,
                "fixed {fixed}: chi-square {chi:.1}, counts {counts:?}"
            );
        }
    }

    #[test]
    fn the_test_can_fail() {
        // Accepting every draft gives q's distribution, not p's: the same check must reject it.
        let p_probs = [0.30, 0.20, 0.15, 0.10, 0.10, 0.08, 0.05, 0.02];
        let mut counts = vec![0usize; 8];
        let mut draft = Sampler::new(SamplerParams::default(), 16);
        let q = dist(&[
            (0, 0.35),
            (1, 0.25),
            (2, 0.1),
            (3, 0.1),
            (4, 0.1),
            (5, 0.05),
            (6, 0.05),
        ]);
        for _ in 0..40_000 {
            counts[draft.draw(&q) as usize] += 1;
        }
        assert!(chi_square(&counts, &p_probs, 40_000) > CHI2_7_999);
    }

    #[test]
    fn greedy_target_keeps_only_its_argmax() {
        let mut s = Sampler::new(SamplerParams::default(), 16);
        let p = Dist::greedy(4);
        assert_eq!(choose(&mut s, &p, 4, None), 4);
        assert_eq!(choose(&mut s, &p, 2, None), 4);
        let q = dist(&[(2, 1.0)]);
        assert_eq!(choose(&mut s, &p, 2, Some(&q)), 4);
    }

    #[test]
    fn a_token_the_target_excludes_is_always_replaced() {
        let mut s = Sampler::new(SamplerParams::default(), 16);
        let p = dist(&[(1, 0.5), (2, 0.5)]);
        for _ in 0..200 {
            assert_ne!(choose(&mut s, &p, 9, None), 9);
            let q = dist(&[(9, 0.9), (1, 0.1)]);
            assert_ne!(choose(&mut s, &p, 9, Some(&q)), 9);
        }
    }
}
