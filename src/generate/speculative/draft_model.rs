//! A small model of the same vocabulary drafting for a large one: its own session (paged KV
//! cache) follows the target's tokens — each draft first re-syncs by keeping the common prefix
//! and evaluating the rest — then it proposes one token per forward until it has `max`, its
//! confidence falls below `p_min`, or its context is full. Rejected proposals are dropped from
//! its cache by truncation at the next draft; nothing is copied.
use super::{Drafted, Drafter, Proposal};
use crate::generate::sampler::argmax;
use crate::generate::{Sampler, SamplerParams, Session, SessionError};
use crate::model::Logits;
use crate::tokenizer::Tokenizer;
use std::time::Instant;

/// The largest candidate list a sampled draft keeps (its q).
const DRAFT_TOP_K: i32 = 64;
/// Vocabulary sizes may differ by this much (llama.cpp's SPEC_VOCAB_MAX_SIZE_DIFFERENCE).
const MAX_VOCAB_DIFFERENCE: usize = 128;
/// Token texts are compared from this id on (llama.cpp skips the first few special ids).
const CHECK_FROM: u32 = 5;

pub struct DraftModel<'d> {
    session: Session<'d>,
    /// Draws sampled drafts (temperature > 0), from its own seeded stream.
    sampler: Option<Sampler>,
}

impl<'d> DraftModel<'d> {
    pub fn new(session: Session<'d>) -> DraftModel<'d> {
        DraftModel {
            session,
            sampler: None,
        }
    }

    /// The draft's session (its cache persists across chat turns).
    pub fn session(&self) -> &Session<'d> {
        &self.session
    }

    /// The sampler sampled drafts use: the target's temperature, top-p and min-p, top-k at
    /// most `DRAFT_TOP_K`, no penalties.
    fn sampler_for(&mut self, params: &SamplerParams) -> &mut Sampler {
        let n_ctx = self.session.n_ctx();
        self.sampler.get_or_insert_with(|| {
            let top_k = if params.top_k <= 0 {
                DRAFT_TOP_K
            } else {
                params.top_k.min(DRAFT_TOP_K)
            };
            Sampler::new(
                SamplerParams {
                    top_k,
                    repeat_penalty: 1.0,
                    presence_penalty: 0.0,
                    frequency_penalty: 0.0,
                    repeat_last_n: 0,
                    seed: params.seed ^ 0x5eed_d4af_7000_0001,
                    ..params.clone()
                },
                n_ctx,
            )
        })
    }
}

/// The softmax probability of the largest logit.
fn top_probability(logits: &[f32], best: u32) -> f32 {
    let max = logits[best as usize];
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    1.0 / sum
}

impl Drafter for DraftModel<'_> {
    fn name(&self) -> &'static str {
        "draft model"
    }

    fn prefill(&mut self, context: &[u32]) -> Result<(), SessionError> {
        let held = self.session.reuse_prefix(context, false);
        if context.len() - held <= self.session.remaining() {
            self.session.eval(&context[held..], Logits::Last)?;
        }
        Ok(())
    }

    fn draft(
        &mut self,
        context: &[u32],
        max: usize,
        params: &SamplerParams,
        p_min: f32,
    ) -> Result<Drafted, SessionError> {
        let mut out = Drafted::default();
        let held = self.session.reuse_prefix(context, false);
        if context.len() - held > self.session.remaining() {
            // The draft's context is full: no drafts (the target goes on plainly).
            return Ok(out);
        }
        let t = Instant::now();
        let mut logits = self.session.eval(&context[held..], Logits::Last)?;
        out.catchup_tokens = context.len() - held;
        out.catchup_ms = t.elapsed().as_secs_f64() * 1e3;
        let greedy = params.temp <= 0.0;
        loop {
            let (token, q, confidence) = if greedy {
                let best = argmax(&logits);
                (best, None, top_probability(&logits, best))
            } else {
                let s = self.sampler_for(params);
                let dist = s
                    .distribution(&mut logits, None)
                    .expect("an unconstrained distribution has candidates");
                let token = s.draw(&dist);
                let top = dist.items[0].1 as f32;
                (token, Some(dist), top)
            };
            if confidence < p_min {
                break;
            }
            out.proposals.push(Proposal { token, q });
            if out.proposals.len() >= max || self.session.remaining() == 0 {
                break;
            }
            let t = Instant::now();
            logits = self.session.eval(&[token], Logits::Last)?;
            out.steps += 1;
            out.step_ms += t.elapsed().as_secs_f64() * 1e3;
        }
        Ok(out)
    }
}

/// Whether `draft` can draft for `target`, as llama.cpp decides it: the same tokenizer kind,
/// the same BOS and EOS handling, vocabulary sizes within 128, and the same text for every
/// token both have from id 5 on. The error names the first difference.
pub fn check_compatible(target: &Tokenizer, draft: &Tokenizer) -> Result<(), String> {
    if target.kind_name() != draft.kind_name() {
        return Err(format!(
            "the draft model's tokenizer is {} but the target's is {}",
            draft.kind_name(),
            target.kind_name()
        ));
    }
    if target.add_bos() != draft.add_bos() || (target.add_bos() && target.bos() != draft.bos()) {
        return Err(format!(
            "the draft model's BOS token differs from the target's (add {} vs {}, id {:?} vs {:?})",
            draft.add_bos(),
            target.add_bos(),
            draft.bos(),
            target.bos()
        ));
    }
    if target.add_eos() != draft.add_eos() || (target.add_eos() && target.eos() != draft.eos()) {
        return Err(format!(
            "the draft model's EOS token differs from the target's (add {} vs {}, id {:?} vs {:?})",
            draft.add_eos(),
            target.add_eos(),
            draft.eos(),
            target.eos()
        ));
    }
    let (nt, nd) = (target.n_vocab(), draft.n_vocab());
    if nt.abs_diff(nd) > MAX_VOCAB_DIFFERENCE {
        return Err(format!(
            "the draft model's vocabulary has {nd} tokens and the target's {nt} (at most \
             {MAX_VOCAB_DIFFERENCE} apart)"
        ));
    }
    for id in CHECK_FROM..nt.min(nd) as u32 {
        if target.token_text(id) != draft.token_text(id) {
            return Err(format!(
                "token {id} is {:?} in the draft model but {:?} in the target",
                draft.token_text(id).unwrap_or(""),
                target.token_text(id).unwrap_or("")
            ));
        }
    }
    Ok(())
}
