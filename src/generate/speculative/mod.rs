//! Speculative decoding: a drafter (a small draft model, or n-gram lookup in the text so far)
//! proposes the next few tokens, the target verifies them all in one batched forward, and the
//! decode loop (`generate::decode`) keeps the prefix the target agrees with — exactly the
//! target's output: greedy token for token, sampled in distribution (`verify`). An adaptive
//! controller (`adaptive`) picks each draft's length from measured costs, and decodes plainly
//! for a while when speculation does not pay.
pub mod adaptive;
pub mod draft_model;
pub mod lookup;
pub mod verify;

use super::sampler::{Dist, SamplerParams};
use super::SessionError;
use adaptive::Controller;
use std::time::Instant;

pub use draft_model::{check_compatible, DraftModel};
pub use lookup::Lookup;

/// One proposed token and the distribution it was drawn from.
#[derive(Clone, Debug)]
pub struct Proposal {
    pub token: u32,
    /// `None`: chosen deterministically (the draft's argmax, or a lookup).
    pub q: Option<Dist>,
}

/// What a drafter returns: its proposals and what they cost.
#[derive(Clone, Debug, Default)]
pub struct Drafted {
    pub proposals: Vec<Proposal>,
    /// Tokens the first forward evaluated to catch up with the target (1 or 2 while drafting
    /// every step; more after plain steps), and its time.
    pub catchup_tokens: usize,
    pub catchup_ms: f64,
    /// Single-token draft forwards after it, and their time.
    pub steps: usize,
    pub step_ms: f64,
}

/// Something that proposes continuations.
pub trait Drafter {
    /// Up to `max` tokens that may follow `context` (every token the target holds, then the one
    /// about to be evaluated), drawn under `params` (greedy when its temperature is ≤ 0);
    /// drafting stops early when the drafter's confidence falls below `p_min`.
    fn draft(
        &mut self,
        context: &[u32],
        max: usize,
        params: &SamplerParams,
        p_min: f32,
    ) -> Result<Drafted, SessionError>;

    /// What it is, for statistics: "draft model", "lookup".
    fn name(&self) -> &'static str {
        "drafter"
    }

    /// Take in `context` (a prompt the target has just evaluated) ahead of the first draft.
    fn prefill(&mut self, context: &[u32]) -> Result<(), SessionError> {
        let _ = context;
        Ok(())
    }
}

/// `--draft-max`, `--draft-min`, `--draft-p-min` (llama.cpp's names and the defaults).
#[derive(Clone, Copy, Debug)]
pub struct SpecOptions {
    pub draft_max: usize,
    /// Drafts shorter than this are not verified (plain step instead).
    pub draft_min: usize,
    /// Stop drafting when the draft's top probability falls below this.
    pub p_min: f32,
    /// Always draft `draft_max` (no cost model): for tests and measurements.
    pub fixed: bool,
}

impl Default for SpecOptions {
    fn default() -> Self {
        SpecOptions {
            draft_max: 16,
            draft_min: 0,
            p_min: 0.75,
            fixed: false,
        }
    }
}

/// Counters of one generation (or of every turn of a chat).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SpecStats {
    /// Tokens proposed and verified.
    pub drafted: usize,
    /// Of those, accepted.
    pub accepted: usize,
    /// Verify forwards that carried drafts.
    pub rounds: usize,
    /// Target forwards in the decode (verifications and plain steps).
    pub target_forwards: usize,
    /// Target forwards of one token because the controller chose not to draft (a draft that
    /// came out empty is not one).
    pub plain_steps: usize,
    pub draft_ms: f64,
    pub target_ms: f64,
    /// The draft model's prompt processing (counted with the prompt, not in `draft_ms`).
    pub prefill_ms: f64,
    /// Rounds by how many proposals they accepted (index 0: none).
    pub accepted_lengths: Vec<usize>,
}

impl SpecStats {
    /// What happened since `earlier` (a copy of these counters taken then): one chat turn's.
    pub fn since(&self, earlier: &SpecStats) -> SpecStats {
        let mut lengths = self.accepted_lengths.clone();
        for (l, e) in lengths.iter_mut().zip(&earlier.accepted_lengths) {
            *l -= e;
        }
        SpecStats {
            drafted: self.drafted - earlier.drafted,
            accepted: self.accepted - earlier.accepted,
            rounds: self.rounds - earlier.rounds,
            target_forwards: self.target_forwards - earlier.target_forwards,
            plain_steps: self.plain_steps - earlier.plain_steps,
            draft_ms: self.draft_ms - earlier.draft_ms,
            target_ms: self.target_ms - earlier.target_ms,
            prefill_ms: self.prefill_ms - earlier.prefill_ms,
            accepted_lengths: lengths,
        }
    }

    pub fn acceptance_rate(&self) -> f64 {
        ratio(self.accepted, self.drafted)
    }

    /// Accepted drafts per verify round.
    pub fn mean_accepted(&self) -> f64 {
        ratio(self.accepted, self.rounds)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// A drafter with its options, cost model and counters: what `decode` consults before each
/// target forward.
pub struct Speculator<'d> {
    drafter: Box<dyn Drafter + 'd>,
    pub opts: SpecOptions,
    controller: Controller,
    pub stats: SpecStats,
    /// The steady-state cost of the draft just made (ms), until its forward is recorded.
    drafting: Option<f64>,
    /// The cost of the round being verified (draft and forward), until it ends.
    round_ms: Option<f64>,
}

impl<'d> Speculator<'d> {
    pub fn new(drafter: Box<dyn Drafter + 'd>, opts: SpecOptions) -> Speculator<'d> {
        Speculator {
            drafter,
            controller: Controller::new(opts.draft_max),
            opts,
            stats: SpecStats::default(),
            drafting: None,
            round_ms: None,
        }
    }

    pub fn drafter_name(&self) -> &'static str {
        self.drafter.name()
    }

    /// The drafter's cost per forward relative to the target's (the draft model's bytes over
    /// the target's), used until a draft forward has been timed.
    pub fn set_cost_prior(&mut self, ratio: f64) {
        self.controller.set_cost_prior(ratio);
    }

    /// Evaluate the prompt the target holds in the draft model too (part of prompt
    /// processing: the first draft then needs no long catch-up).
    pub fn prefill(&mut self, context: &[u32]) -> Result<(), SessionError> {
        self.controller.new_text();
        let t = Instant::now();
        self.drafter.prefill(context)?;
        self.stats.prefill_ms += t.elapsed().as_secs_f64() * 1e3;
        Ok(())
    }

    /// Drafts to verify together with `next`, which follows the target's `held` tokens: `room`
    /// is the most the context and `-n` leave for drafts, `n_vocab` the target's
    /// vocabulary (a draft token outside it ends the draft).
    pub(crate) fn propose(
        &mut self,
        held: &[u32],
        next: u32,
        room: usize,
        n_vocab: usize,
        params: &SamplerParams,
    ) -> Result<Vec<Proposal>, SessionError> {
        let want = if self.opts.fixed {
            self.opts.draft_max
        } else {
            self.controller.plan()
        }
        .min(room);
        if want == 0 || want < self.opts.draft_min {
            return Ok(Vec::new());
        }
        // The context is copied only for a step that drafts.
        let mut context = Vec::with_capacity(held.len() + 1);
        context.extend_from_slice(held);
        context.push(next);
        let t = Instant::now();
        let mut d = self
            .drafter
            .draft(&context, want, params, self.opts.p_min)?;
        self.stats.draft_ms += t.elapsed().as_secs_f64() * 1e3;
        self.drafting = Some(self.controller.record_draft(&d));
        if let Some(bad) = d.proposals.iter().position(|p| p.token as usize >= n_vocab) {
            d.proposals.truncate(bad);
        }
        if d.proposals.len() < self.opts.draft_min.max(1) {
            d.proposals.clear();
        }
        Ok(d.proposals)
    }

    /// A target forward of `batch` tokens took `ms`; `drafts` of them were proposals.
    pub(crate) fn record_forward(&mut self, batch: usize, drafts: usize, ms: f64) {
        self.stats.target_forwards += 1;
        self.stats.target_ms += ms;
        self.controller.record_target(batch, ms);
        match self.drafting.take() {
            // Drafted nothing: the step gave one token at the draft's cost and a plain forward.
            Some(draft_ms) if drafts == 0 => self.controller.record_empty(draft_ms),
            Some(draft_ms) => self.round_ms = Some(draft_ms + ms),
            None => self.stats.plain_steps += 1,
        }
    }

    /// A verify round ended: `accepted` of `drafted` proposals were kept.
    pub(crate) fn record_round(&mut self, drafted: usize, accepted: usize) {
        if let Some(ms) = self.round_ms.take() {
            self.controller.record_step(drafted, accepted + 1, ms);
        }
        self.stats.drafted += drafted;
        self.stats.accepted += accepted;
        self.stats.rounds += 1;
        let h = &mut self.stats.accepted_lengths;
        if h.len() <= accepted {
            h.resize(accepted + 1, 0);
        }
        h[accepted] += 1;
        self.controller.record_round(drafted, accepted);
    }
}
