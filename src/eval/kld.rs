//! KL-divergence of a model against a base model's saved log-probabilities, with the per-token
//! arithmetic (which products are f32, which sums f64) and the report lines of
//! llama-perplexity's `--kl-divergence`, so the two tools print the same statistics.
use super::base_logits::row_parts;
use super::printf::f;

/// One scored token.
#[derive(Clone, Copy, Debug)]
pub struct TokenKld {
    pub nll: f32,
    pub nll_base: f32,
    pub kld: f64,
    /// p(target) − p_base(target).
    pub p_diff: f32,
    pub same_top: bool,
}

/// Compare `logits` with the base row for the same position; `tok` is the target.
pub fn token_kld(logits: &[f32], base_row: &[u16], tok: usize) -> TokenKld {
    let mut max = logits[0];
    let mut imax = 0;
    for (i, &l) in logits.iter().enumerate().skip(1) {
        if l > max {
            max = l;
            imax = i;
        }
    }
    let mut sum_exp = 0.0f64;
    for &l in logits {
        sum_exp += (l - max).exp() as f64;
    }
    let log_sum = sum_exp.ln() as f32;
    let (scale, min_log_prob, q) = row_parts(base_row);
    let nll = max + log_sum - logits[tok];
    let nll_base = -(scale * q[tok] as f32 + min_log_prob);
    let log_norm = max + log_sum;
    let mut kld = 0.0f64;
    let mut imax_base = 0;
    let mut base_max = 0.0f32;
    for (i, (&qi, &l)) in q.iter().zip(logits).enumerate() {
        let lp_base = scale * qi as f32 + min_log_prob;
        if i == 0 || lp_base > base_max {
            base_max = lp_base;
            imax_base = i;
        }
        if lp_base > -16.0 {
            kld += (lp_base.exp() * (lp_base - l + log_norm)) as f64;
        }
    }
    TokenKld {
        nll,
        nll_base,
        kld,
        p_diff: (-nll).exp() - (-nll_base).exp(),
        same_top: imax == imax_base,
    }
}

/// Running sums over scored tokens, in llama-perplexity's precisions.
#[derive(Clone, Debug, Default)]
pub struct KldSums {
    sum_nll: f64,
    sum_nll2: f64,
    sum_nll_base: f64,
    sum_nll_base2: f64,
    sum_nll_nll_base: f64,
    sum_kld: f64,
    sum_kld2: f64,
    sum_p_diff: f64,
    sum_p_diff2: f64,
    sum_p_diff4: f64,
    n_same_top: usize,
    pub count: usize,
    /// Per-token KLD and Δp, for the percentiles.
    klds: Vec<f32>,
    p_diffs: Vec<f32>,
}

/// Mean and standard error of the mean (0 with 10 values or fewer).
fn mean_and_se(sum: f64, sum2: f64, n: usize) -> (f64, f64) {
    if n < 1 {
        return (0.0, 0.0);
    }
    let m = sum / n as f64;
    let var = sum2 / n as f64 - m * m;
    let se = if var > 0.0 && n > 10 {
        (var / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    (m, se)
}

/// Covariance of two means (0 under 10 values).
fn covariance(a: f64, b: f64, ab: f64, n: usize) -> f64 {
    if n < 10 {
        return 0.0;
    }
    let nf = n as f64;
    (ab / nf - (a / nf) * (b / nf)) / (n - 1) as f64
}

/// Linear interpolation at `fraction` of sorted `v`, in f32 as llama-perplexity computes it.
fn percentile(v: &[f32], fraction: f32) -> f32 {
    if fraction <= 0.0 {
        return v[0];
    }
    if fraction >= 1.0 {
        return v[v.len() - 1];
    }
    let mut p = fraction * (v.len() - 1) as f32;
    let ip = p as usize;
    p -= ip as f32;
    (1.0 - p) * v[ip] + p * v[(ip + 1).min(v.len() - 1)]
}

fn median(v: &[f32]) -> f32 {
    let n = v.len();
    if n.is_multiple_of(2) {
        0.5 * (v[n / 2] + v[n / 2 - 1])
    } else {
        v[n / 2]
    }
}

/// The statistics a report prints, as numbers (`--json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct KldSummary {
    pub n_tokens: usize,
    pub ppl: f64,
    pub ppl_error: f64,
    pub ppl_base: f64,
    pub ppl_base_error: f64,
    pub ln_ppl_ratio: f64,
    pub ln_ppl_ratio_error: f64,
    pub mean_kld: f64,
    pub mean_kld_error: f64,
    pub max_kld: f32,
    pub kld_99_9: f32,
    pub kld_99: f32,
    pub kld_95: f32,
    pub kld_90: f32,
    pub median_kld: f32,
    pub mean_p_diff: f64,
    pub rms_p_diff: f64,
    pub rms_p_diff_error: f64,
    pub same_top_p: f64,
    pub same_top_p_error: f64,
}

impl KldSums {
    pub fn add(&mut self, t: &TokenKld) {
        self.sum_nll += t.nll as f64;
        self.sum_nll2 += (t.nll * t.nll) as f64;
        self.sum_nll_base += t.nll_base as f64;
        self.sum_nll_base2 += (t.nll_base * t.nll_base) as f64;
        self.sum_nll_nll_base += (t.nll * t.nll_base) as f64;
        self.sum_kld += t.kld;
        self.sum_kld2 += t.kld * t.kld;
        self.sum_p_diff += t.p_diff as f64;
        let p2 = (t.p_diff * t.p_diff) as f64;
        self.sum_p_diff2 += p2;
        self.sum_p_diff4 += p2 * p2;
        self.n_same_top += t.same_top as usize;
        self.count += 1;
        self.klds.push(t.kld as f32);
        self.p_diffs.push(t.p_diff);
    }

    fn log_ppl(&self) -> (f64, f64) {
        mean_and_se(self.sum_nll, self.sum_nll2, self.count)
    }

    fn log_ppl_base(&self) -> (f64, f64) {
        mean_and_se(self.sum_nll_base, self.sum_nll_base2, self.count)
    }

    fn cov(&self) -> f64 {
        covariance(
            self.sum_nll,
            self.sum_nll_base,
            self.sum_nll_nll_base,
            self.count,
        )
    }

    fn ln_ratio(&self) -> (f64, f64) {
        let ((a, sa), (b, sb)) = (self.log_ppl(), self.log_ppl_base());
        (a - b, (sa * sa + sb * sb - 2.0 * self.cov()).sqrt())
    }

    fn rms_p_diff(&self) -> (f64, f64) {
        let (mse, se) = mean_and_se(self.sum_p_diff2, self.sum_p_diff4, self.count);
        let rms = mse.sqrt();
        (rms, 0.5 / rms * se)
    }

    fn same_top(&self) -> (f64, f64) {
        let p = self.n_same_top as f64 / self.count as f64;
        (p, (p * (1.0 - p) / (self.count as f64 - 1.0)).sqrt())
    }

    /// The table heading llama-perplexity prints before the per-chunk lines.
    pub const HEADING: &'static str = "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p";

    /// The cumulative line after chunk `chunk` (1-based).
    pub fn running_line(&self, chunk: usize) -> String {
        let (lp, lp_se) = self.log_ppl();
        let ppl = lp.exp();
        let (r, r_se) = self.ln_ratio();
        let (k, k_se) = mean_and_se(self.sum_kld, self.sum_kld2, self.count);
        let (rms, rms_se) = self.rms_p_diff();
        let (top, top_se) = self.same_top();
        format!(
            "{chunk:4}    {} ± {}    {} ± {}    {} ± {}    {} ± {} %    {} ± {} %",
            f(ppl, 9, 4),
            f(ppl * lp_se, 9, 4),
            f(r, 10, 5),
            f(r_se, 10, 5),
            f(k, 10, 5),
            f(k_se, 10, 5),
            f(100.0 * rms, 6, 3),
            f(100.0 * rms_se, 6, 3),
            f(100.0 * top, 6, 3),
            f(100.0 * top_se, 6, 3),
        )
    }

    /// The numbers of the final report (`None` under 100 tokens, where llama-perplexity
    /// prints none).
    pub fn summary(&self) -> Option<KldSummary> {
        (self.count >= 100).then(|| self.summary_of(&sorted(&self.klds)))
    }

    /// `summary` given the per-token KLDs sorted.
    fn summary_of(&self, k: &[f32]) -> KldSummary {
        let (lp, lp_se) = self.log_ppl();
        let (lb, lb_se) = self.log_ppl_base();
        let (r, r_se) = self.ln_ratio();
        let (mk, mk_se) = mean_and_se(self.sum_kld, self.sum_kld2, self.count);
        let (rms, rms_se) = self.rms_p_diff();
        let (top, top_se) = self.same_top();
        KldSummary {
            n_tokens: self.count,
            ppl: lp.exp(),
            ppl_error: lp.exp() * lp_se,
            ppl_base: lb.exp(),
            ppl_base_error: lb.exp() * lb_se,
            ln_ppl_ratio: r,
            ln_ppl_ratio_error: r_se,
            mean_kld: mk,
            mean_kld_error: mk_se,
            max_kld: k[k.len() - 1],
            kld_99_9: percentile(k, 0.999),
            kld_99: percentile(k, 0.99),
            kld_95: percentile(k, 0.95),
            kld_90: percentile(k, 0.90),
            median_kld: median(k),
            mean_p_diff: mean_and_se(self.sum_p_diff, self.sum_p_diff2, self.count).0,
            rms_p_diff: rms,
            rms_p_diff_error: rms_se,
            same_top_p: top,
            same_top_p_error: top_se,
        }
    }

    /// llama-perplexity's final report, line for line (empty under 100 tokens).
    pub fn report(&self) -> Vec<String> {
        if self.count < 100 {
            return Vec::new();
        }
        let k = sorted(&self.klds);
        let d = sorted(&self.p_diffs);
        let s = self.summary_of(&k);
        let (_, lp_se) = self.log_ppl();
        let (_, lb_se) = self.log_ppl_base();
        let cov = self.cov();
        let ratio = s.ln_ppl_ratio.exp();
        let diff_se = (s.ppl_error * s.ppl_error + s.ppl_base_error * s.ppl_base_error
            - 2.0 * s.ppl * s.ppl_base * cov)
            .sqrt();
        let pm =
            |label: &str, v: f64, e: f64| format!("{label}: {} ± {}", f(v, 10, 6), f(e, 10, 6));
        let pct = |v: f64, w: usize| f(100.0 * v, w, 3);
        let mut out = vec![
            "====== Perplexity statistics ======".to_string(),
            pm("Mean PPL(Q)                   ", s.ppl, s.ppl_error),
            pm(
                "Mean PPL(base)                ",
                s.ppl_base,
                s.ppl_base_error,
            ),
            format!(
                "Cor(ln(PPL(Q)), ln(PPL(base))): {}%",
                f(100.0 * cov / (lp_se * lb_se), 6, 2)
            ),
            pm(
                "Mean ln(PPL(Q)/PPL(base))     ",
                s.ln_ppl_ratio,
                s.ln_ppl_ratio_error,
            ),
            pm(
                "Mean PPL(Q)/PPL(base)         ",
                ratio,
                ratio * s.ln_ppl_ratio_error,
            ),
            pm(
                "Mean PPL(Q)-PPL(base)         ",
                s.ppl - s.ppl_base,
                diff_se,
            ),
            String::new(),
            "====== KL divergence statistics ======".to_string(),
            pm("Mean    KLD", s.mean_kld, s.mean_kld_error),
        ];
        out.extend(quantile_lines(&k, "KLD: ", KLD_QUANTILES, |v| {
            f(v as f64, 10, 6)
        }));
        out.push(String::new());
        out.push("====== Token probability statistics ======".to_string());
        let (mean, mean_se) = mean_and_se(self.sum_p_diff, self.sum_p_diff2, self.count);
        out.push(format!(
            "Mean    Δp: {} ± {} %",
            pct(mean, 6),
            pct(mean_se, 5)
        ));
        out.extend(quantile_lines(&d, "Δp: ", P_DIFF_QUANTILES, |v| {
            format!("{}%", pct(v as f64, 6))
        }));
        out.push(format!(
            "RMS Δp    : {} ± {} %",
            pct(s.rms_p_diff, 6),
            pct(s.rms_p_diff_error, 5)
        ));
        out.push(format!(
            "Same top p: {} ± {} %",
            pct(s.same_top_p, 6),
            pct(s.same_top_p_error, 5)
        ));
        out
    }
}

fn sorted(v: &[f32]) -> Vec<f32> {
    let mut v = v.to_vec();
    v.sort_by(f32::total_cmp);
    v
}

/// A row of a quantile table: its label and fraction (`None`: the median, which
/// llama-perplexity takes as the middle value or the mean of the two middle ones).
type Quantile = (&'static str, Option<f32>);

const KLD_QUANTILES: &[Quantile] = &[
    ("Maximum ", Some(1.0)),
    ("99.9%   ", Some(0.999)),
    ("99.0%   ", Some(0.99)),
    ("95.0%   ", Some(0.95)),
    ("90.0%   ", Some(0.90)),
    ("Median  ", None),
    ("10.0%   ", Some(0.1)),
    (" 5.0%   ", Some(0.05)),
    (" 1.0%   ", Some(0.01)),
    (" 0.1%   ", Some(0.001)),
    ("Minimum ", Some(0.0)),
];

const P_DIFF_QUANTILES: &[Quantile] = &[
    ("Maximum ", Some(1.0)),
    ("99.9%   ", Some(0.999)),
    ("99.0%   ", Some(0.99)),
    ("95.0%   ", Some(0.95)),
    ("90.0%   ", Some(0.90)),
    ("75.0%   ", Some(0.75)),
    ("Median  ", None),
    ("25.0%   ", Some(0.25)),
    ("10.0%   ", Some(0.1)),
    (" 5.0%   ", Some(0.05)),
    (" 1.0%   ", Some(0.01)),
    (" 0.1%   ", Some(0.001)),
    ("Minimum ", Some(0.0)),
];

/// The quantile lines of sorted `v`: `label + stat + value` per row.
fn quantile_lines(
    v: &[f32],
    stat: &str,
    rows: &[Quantile],
    value: impl Fn(f32) -> String,
) -> Vec<String> {
    rows.iter()
        .map(|&(label, fr)| {
            let q = fr.map_or_else(|| median(v), |fr| percentile(v, fr));
            format!("{label}{stat}{}", value(q))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::base_logits::{quantize_row, row_len};

    #[test]
    fn a_model_against_its_own_base_has_almost_no_divergence() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37 % 11) as f32) * 0.3).collect();
        let mut row = vec![0u16; row_len(50)];
        quantize_row(&logits, 3, &mut row);
        let t = token_kld(&logits, &row, 3);
        assert!(t.same_top);
        assert!(t.kld.abs() < 1e-4, "{}", t.kld);
        assert!((t.nll - t.nll_base).abs() < 1e-3);
        // Another distribution diverges: KL(base || q) > 0.
        let other: Vec<f32> = logits.iter().rev().copied().collect();
        assert!(token_kld(&other, &row, 3).kld > 0.1);
    }

    #[test]
    fn percentiles_interpolate_like_llama_perplexity() {
        let v: Vec<f32> = (0..11).map(|i| i as f32).collect();
        assert_eq!(percentile(&v, 0.95), 9.5);
        assert_eq!(percentile(&v, 0.0), 0.0);
        assert_eq!(median(&v), 5.0);
        assert_eq!(median(&v[..10]), 4.5);
    }
}
