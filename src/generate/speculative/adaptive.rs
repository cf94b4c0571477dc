//! The draft length that pays: from the measured cost of a target forward as a function of its
//! batch size, the draft's cost per forward and the recent acceptance, the length k that
//! maximises expected tokens per millisecond — and, from the measured tokens per millisecond
//! of the speculative steps themselves (every cost included: empty drafts, catch-up, verify),
//! whether speculating beats plain decoding at all. When it does not, the controller decodes
//! plainly for a while and then probes again, waiting longer after each probe that did not
//! pay.
//!
//! Model for k: each proposal is accepted with probability a, independently, until the first
//! rejection; a round with k proposals then yields 1 + a(1 − a^k)/(1 − a) tokens and costs
//! k·d + T(k + 1) + o, with T(b) = T(1) + s·(b − 1) fitted from the forwards seen and o the
//! measured rounds' cost beyond that (switching between the models, buffers).
use super::Drafted;

/// Weight of the past in the cost estimates (per observation).
const DECAY: f64 = 0.85;
/// Weight of the past in the measured speculative rate (per step): it must follow a change
/// of text within several steps.
const RATE_DECAY: f64 = 0.85;
/// Speculative steps measured (decayed count; 2.57 after three) before their rate can stop
/// speculation.
const MIN_RATE_STEPS: f64 = 2.5;
/// Plain steps after the first probe that did not pay; doubled after each further one.
const FIRST_BACKOFF: usize = 8;
const MAX_BACKOFF: usize = 256;
/// Speculation must beat plain decoding by this factor.
const MARGIN: f64 = 1.02;
/// Failed probes in a row that accepted nothing, after which the wait is `FRUITLESS_WAIT`.
const FRUITLESS_PROBES: usize = 2;
const FRUITLESS_WAIT: usize = 4096;
/// The acceptance a probe assumes when deciding whether it could pay at all.
const PROBE_ACCEPTANCE: f64 = 0.9;
/// A catch-up of more tokens than this (after plain steps) is not a steady-state cost.
const STEADY_CATCHUP: usize = 2;

/// An exponentially weighted mean.
#[derive(Clone, Copy, Debug)]
struct Ema {
    value: f64,
    weight: f64,
    decay: f64,
}

impl Ema {
    fn new(decay: f64) -> Ema {
        Ema {
            value: 0.0,
            weight: 0.0,
            decay,
        }
    }

    fn add(&mut self, x: f64) {
        let w = self.weight * self.decay;
        self.value = (self.value * w + x) / (w + 1.0);
        self.weight = w + 1.0;
    }

    fn get(&self) -> Option<f64> {
        (self.weight > 0.0).then_some(self.value)
    }
}

/// Decayed sums of tokens and milliseconds: their ratio is the throughput (a mean of per-step
/// rates would let one long accepted round hide many costly empty ones).
#[derive(Clone, Copy, Debug, Default)]
struct RateSum {
    tokens: f64,
    ms: f64,
    /// Decayed step count.
    steps: f64,
}

impl RateSum {
    fn add(&mut self, tokens: usize, ms: f64) {
        self.tokens = self.tokens * RATE_DECAY + tokens as f64;
        self.ms = self.ms * RATE_DECAY + ms.max(0.0);
        self.steps = self.steps * RATE_DECAY + 1.0;
    }

    fn rate(&self) -> Option<f64> {
        (self.ms > 0.0).then(|| self.tokens / self.ms)
    }
}

#[derive(Clone, Debug)]
pub struct Controller {
    draft_max: usize,
    /// Target forward of one token (ms).
    t1: Ema,
    /// Extra ms per extra token in a target forward.
    slope: Ema,
    /// One draft forward (ms).
    d: Ema,
    /// Tokens per ms of speculative steps, as measured: decayed sums of their tokens and ms.
    spec_rate: RateSum,
    /// What a round costs beyond the model's k·d + T(k + 1) (switching models, buffers): the
    /// measured rounds' excess.
    overhead: Ema,
    /// Decayed counts of accepted proposals and of rounds that ended in a rejection.
    accepted: f64,
    rejected: f64,
    /// Plain steps left before the next probe, and the wait after the next failed probe.
    plain_left: usize,
    backoff: usize,
    /// The wait is over: draft once if an optimistic acceptance would pay, to measure again.
    probe: bool,
    /// A probe's steps are being measured.
    probing: bool,
    /// Proposals accepted since the probe began, and failed probes in a row that accepted none.
    probe_accepted: usize,
    fruitless_probes: usize,
    /// A draft forward's cost relative to a target forward, until one is measured.
    cost_prior: f64,
}

impl Controller {
    pub fn new(draft_max: usize) -> Controller {
        Controller {
            draft_max,
            t1: Ema::new(DECAY),
            slope: Ema::new(DECAY),
            d: Ema::new(DECAY),
            spec_rate: RateSum::default(),
            overhead: Ema::new(DECAY),
            accepted: 0.0,
            rejected: 0.0,
            plain_left: 0,
            backoff: FIRST_BACKOFF,
            probe: false,
            probing: false,
            probe_accepted: 0,
            fruitless_probes: 0,
            cost_prior: 0.0,
        }
    }

    /// A new prompt (a chat turn): what held for the old text may not hold now.
    pub fn new_text(&mut self) {
        self.plain_left = 0;
        self.probe = false;
        self.probing = false;
        self.fruitless_probes = 0;
        self.backoff = FIRST_BACKOFF;
    }

    pub fn set_cost_prior(&mut self, ratio: f64) {
        self.cost_prior = ratio.max(0.0);
    }

    /// The per-proposal acceptance probability: the decayed counts with a prior of 0.8 worth
    /// two rounds, so that one rejection does not stop speculation and a few lucky rounds do
    /// not promise certainty.
    pub fn acceptance(&self) -> f64 {
        (self.accepted + 1.6) / (self.accepted + self.rejected + 2.0)
    }

    /// Expected tokens per ms of a round with `k` proposals at acceptance `a`, by the model.
    fn model_rate(&self, k: usize, t1: f64, a: f64) -> f64 {
        let a = a.min(0.999);
        let tokens = 1.0 + a * (1.0 - a.powi(k as i32)) / (1.0 - a);
        tokens / self.model_cost(k, t1)
    }

    /// The model's cost of a round with `k` proposals (ms). Before any batched forward, a
    /// memory-bound target is assumed: a token more costs a tenth of a token's forward.
    fn model_cost(&self, k: usize, t1: f64) -> f64 {
        let s = self.slope.get().unwrap_or(0.1 * t1);
        let d = self.d.get().unwrap_or(self.cost_prior * t1);
        let overhead = self.overhead.get().unwrap_or(0.0);
        k as f64 * d + t1 + s * k as f64 + overhead
    }

    /// The best k and its rate at acceptance `a`.
    fn best(&self, t1: f64, a: f64) -> (usize, f64) {
        (1..=self.draft_max)
            .map(|k| (k, self.model_rate(k, t1, a)))
            .fold((0, 0.0), |b, x| if x.1 > b.1 { x } else { b })
    }

    /// Decode plainly for a while. After a productive stretch that turned bad (the text got
    /// harder to draft) the wait is the first one; after a failed probe, or where the costs
    /// cannot pay, it doubles.
    fn back_off(&mut self, doubling: bool) -> usize {
        if !doubling {
            self.backoff = FIRST_BACKOFF;
        }
        self.plain_left = self.backoff;
        if self.fruitless_probes >= FRUITLESS_PROBES {
            // The drafter has nothing right on this text: probing only costs catch-ups.
            self.plain_left = FRUITLESS_WAIT;
        }
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        0
    }

    /// A probe ended without paying: count it when nothing it proposed was accepted.
    fn probe_failed(&mut self) -> bool {
        if std::mem::take(&mut self.probing) {
            if self.probe_accepted == 0 {
                self.fruitless_probes += 1;
            } else {
                self.fruitless_probes = 0;
            }
            true
        } else {
            false
        }
    }

    /// The draft length for the next forward (0: a plain step).
    pub fn plan(&mut self) -> usize {
        if self.plain_left > 0 {
            self.plain_left -= 1;
            self.probe = self.plain_left == 0;
            return 0;
        }
        // The first step measures a plain forward.
        let Some(t1) = self.t1.get() else { return 0 };
        let (best_k, best) = self.best(t1, self.acceptance());
        let plain = MARGIN / t1;
        if std::mem::take(&mut self.probe) {
            // Probe only where the measured costs could pay at a good acceptance (a probe
            // after plain steps makes the draft catch up on all of them).
            let (k, rate) = self.best(t1, self.acceptance().max(PROBE_ACCEPTANCE));
            if rate < plain {
                return self.back_off(true);
            }
            // Judge the probe by its own measurement.
            self.spec_rate = RateSum::default();
            self.probing = true;
            self.probe_accepted = 0;
            return k;
        }
        // (Against plain's own rate: an empty draft that cost nothing is no loss.)
        let measured_loss = self.spec_rate.steps >= MIN_RATE_STEPS
            && self.spec_rate.rate().is_some_and(|r| r * t1 < 1.0 - 1e-9);
        if best_k == 0 || best < plain {
            // Doubling only where even a good acceptance could not pay (the costs rule it out),
            // not after a few rejections.
            let cost_bound = self.best(t1, PROBE_ACCEPTANCE).1 < plain;
            let failed_probe = self.probe_failed();
            return self.back_off(cost_bound || failed_probe);
        }
        if measured_loss {
            let failed_probe = self.probe_failed();
            return self.back_off(failed_probe);
        }
        if self.spec_rate.steps >= MIN_RATE_STEPS {
            self.backoff = FIRST_BACKOFF;
            self.probing = false;
            self.fruitless_probes = 0;
        }
        best_k
    }

    /// A target forward of `batch` tokens took `ms`.
    pub fn record_target(&mut self, batch: usize, ms: f64) {
        match (batch, self.t1.get()) {
            (0, _) => {}
            (1, _) => self.t1.add(ms),
            (b, Some(t1)) => self.slope.add(((ms - t1) / (b - 1) as f64).max(0.0)),
            // No plain forward measured yet: take the batch's mean as both.
            (b, None) => self.t1.add(ms / b as f64),
        }
    }

    /// A draft was made; returns its steady-state cost in ms (a long catch-up after plain
    /// steps counts as one forward).
    pub fn record_draft(&mut self, d: &Drafted) -> f64 {
        let steady_catchup = d.catchup_tokens <= STEADY_CATCHUP;
        let (forwards, ms) = if steady_catchup && d.catchup_tokens > 0 {
            (d.steps + 1, d.step_ms + d.catchup_ms)
        } else {
            (d.steps, d.step_ms)
        };
        if forwards > 0 {
            self.d.add(ms / forwards as f64);
        }
        if d.catchup_tokens > 0 && !steady_catchup {
            ms + self.d.get().unwrap_or(d.catchup_ms)
        } else {
            ms
        }
    }

    /// A speculative step (a draft of `drafted` proposals, then the target forward) gave
    /// `tokens` in `ms`.
    pub fn record_step(&mut self, drafted: usize, tokens: usize, ms: f64) {
        self.spec_rate.add(tokens, ms);
        if let (Some(t1), true) = (self.t1.get(), drafted > 0) {
            let excess = ms - (self.model_cost(drafted, t1) - self.overhead.get().unwrap_or(0.0));
            self.overhead.add(excess.max(0.0));
        }
    }

    /// A draft came back empty after `ms`: the step was a plain forward plus that.
    pub fn record_empty(&mut self, ms: f64) {
        if let Some(t1) = self.t1.get() {
            self.record_step(0, 1, t1 + ms);
        }
    }

    /// A round ended with `accepted` of `drafted` proposals kept.
    pub fn record_round(&mut self, drafted: usize, accepted: usize) {
        self.probe_accepted += accepted;
        self.accepted = self.accepted * DECAY + accepted as f64;
        self.rejected = self.rejected * DECAY + if accepted < drafted { 1.0 } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a controller with a synthetic cost model: a target forward of b tokens costs
    /// t1 + s(b − 1), a draft forward d, and each proposal is accepted with `accept_rate` until
    /// the first rejection. Returns (speculative rounds, plain steps, tokens per ms).
    fn simulate(t1: f64, s: f64, d: f64, accept_rate: f64, steps: usize) -> (usize, usize, f64) {
        let mut c = Controller::new(16);
        let mut rng = crate::generate::rng::Rng::new(1);
        let (mut rounds, mut plain, mut tokens, mut ms) = (0, 0, 0usize, 0.0);
        for _ in 0..steps {
            let k = c.plan();
            if k == 0 {
                plain += 1;
                c.record_target(1, t1);
                tokens += 1;
                ms += t1;
                continue;
            }
            rounds += 1;
            let draft = Drafted {
                catchup_tokens: 1,
                catchup_ms: d,
                steps: k - 1,
                step_ms: (k - 1) as f64 * d,
                ..Default::default()
            };
            let draft_ms = c.record_draft(&draft);
            let verify = t1 + s * k as f64;
            c.record_target(k + 1, verify);
            let accepted = (0..k).take_while(|_| rng.next_f64() < accept_rate).count();
            c.record_round(k, accepted);
            c.record_step(k, accepted + 1, draft_ms + verify);
            tokens += accepted + 1;
            ms += draft_ms + verify;
        }
        (rounds, plain, tokens as f64 / ms)
    }

    #[test]
    fn drafts_when_cheap_and_accepted() {
        let (rounds, plain, rate) = simulate(100.0, 2.0, 5.0, 0.9, 200);
        assert!(rounds > 150 && plain < 50, "rounds {rounds} plain {plain}");
        assert!(rate > 2.0 / 100.0, "{rate}");
    }

    #[test]
    fn never_much_slower_than_plain() {
        // Expensive drafts, poor acceptance, a compute-bound target: plain almost always,
        // and the rate within a few percent of plain's.
        for (t1, s, d, a) in [
            (100.0, 10.0, 60.0, 0.2),
            (10.0, 10.0, 0.0, 0.5),
            (46.0, 5.0, 39.0, 0.8),
        ] {
            let (rounds, plain, rate) = simulate(t1, s, d, a, 400);
            assert!(
                plain > 300,
                "t1 {t1} d {d} a {a}: rounds {rounds} plain {plain}"
            );
            assert!(
                rate * t1 > 0.95,
                "t1 {t1} d {d} a {a}: {:.3} of plain",
                rate * t1
            );
        }
    }

    #[test]
    fn a_draft_that_costs_more_than_its_model_says_is_dropped() {
        // The model thinks drafts are free (no draft forward measured) but each step's
        // measured rate is poor: the measured rate wins.
        let mut c = Controller::new(16);
        c.record_target(1, 10.0);
        assert!(c.plan() > 0);
        for _ in 0..3 {
            c.record_step(0, 1, 30.0);
        }
        assert_eq!(c.plan(), 0);
    }

    #[test]
    fn probes_again_after_backing_off() {
        let mut c = Controller::new(16);
        c.record_target(1, 10.0);
        for _ in 0..10 {
            c.record_round(4, 0);
        }
        // A draft cheap enough to pay if it were right, but never right: plain, with probes.
        c.record_draft(&Drafted {
            catchup_tokens: 1,
            catchup_ms: 3.0,
            ..Default::default()
        });
        assert_eq!(c.plan(), 0);
        let waited = (0..1000).take_while(|_| c.plan() == 0).count();
        assert_eq!(waited, FIRST_BACKOFF, "probes after the first wait");
        c.record_round(4, 0);
        let waited = (0..1000).take_while(|_| c.plan() == 0).count();
        assert_eq!(
            waited,
            2 * FIRST_BACKOFF + 1,
            "waits longer after a failed probe"
        );
        // A draft as costly as the target cannot pay even when right: no probes at all.
        c.record_draft(&Drafted {
            catchup_tokens: 1,
            catchup_ms: 10.0,
            steps: 20,
            step_ms: 600.0,
            ..Default::default()
        });
        assert_eq!((0..2000).filter(|_| c.plan() > 0).count(), 0);
    }
}
