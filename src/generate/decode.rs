//! The one decode loop `run` and `chat` share: sample (under the grammar when there is one),
//! stop at an end-of-generation token, `-n`, a stop string, a finished grammar, a full context,
//! an interrupt or a closed reader; stream the text as it is decoded; evaluate the next token
//! (with a speculator: together with the drafts it proposes, keeping those the target takes).
use super::speculative::{verify, Proposal, Speculator};
use super::stop::StopFilter;
use super::{Sampler, Session, SessionError};
use crate::grammar::Constraint;
use crate::model::Logits;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use std::time::Instant;

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// An end-of-generation or end-of-turn token.
    Eos,
    /// A `--stop` string, the template's end-of-turn text, or a grammar that allows nothing
    /// more.
    Stop,
    /// `-n` tokens.
    Length,
    /// The context is full.
    Context,
    /// Ctrl-C.
    Interrupted,
    /// Standard output was closed.
    Closed,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Eos => "eos",
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Context => "context",
            Finish::Interrupted => "interrupted",
            Finish::Closed => "closed",
        }
    }
}

/// What decides when to stop and what is printed.
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Tokens to generate; negative: no limit but the context.
    pub n_predict: i64,
    /// Never stop at end-of-generation tokens (they are not sampled).
    pub ignore_eos: bool,
    /// Print control tokens.
    pub special: bool,
    /// Tokens that end generation besides the tokenizer's end-of-generation set.
    pub extra_eog: Vec<u32>,
    pub stops: Vec<String>,
}

/// Where the text goes.
pub trait DecodeSink {
    /// Text as it is decoded; false when the reader has gone (ends generation).
    fn text(&mut self, piece: &str) -> bool;
    /// Whether the user asked to stop (Ctrl-C).
    fn interrupted(&self) -> bool;
}

/// The result of one generation.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// Exactly the text given to the sink.
    pub text: String,
    /// The generated token ids (an ending end-of-generation token is not one).
    pub tokens: Vec<u32>,
    pub generated: usize,
    pub finish: Finish,
    /// The grammar allowed no token at some step (ends as `Stop`).
    pub grammar_stuck: bool,
}

/// The rows of the last target forward and the proposals they verify: the batch was
/// `[next, drafts…]`, row `i` predicts the token after batch token `i`, so while the loop
/// samples from row `at`, `drafts[at]` (if any) is the proposal for that position.
struct Verifying {
    rows: Vec<f32>,
    drafts: Vec<Proposal>,
    at: usize,
}

/// Generate from `logits` (the prompt's last) until a stop condition. The session holds the
/// prompt; the sampler has seen it. With `spec`, a drafter proposes tokens that the target
/// verifies in one forward: the output is the same as without it (greedy: token for token;
/// sampled: in distribution), and the session ends holding exactly what it would hold
/// without it.
#[allow(clippy::too_many_arguments)]
pub fn decode(
    session: &mut Session,
    sampler: &mut Sampler,
    tok: &Tokenizer,
    mut logits: Vec<f32>,
    opts: &DecodeOptions,
    mut grammar: Option<&mut Constraint>,
    mut spec: Option<&mut Speculator>,
    sink: &mut dyn DecodeSink,
) -> Result<Decoded, SessionError> {
    let mut decoder = StreamDecoder::new();
    let mut stops = StopFilter::new(opts.stops.clone());
    let mut text = String::new();
    let mut tokens = Vec::new();
    let mut generated = 0usize;
    let mut grammar_stuck = false;
    let mut stop_string = false;
    let is_end = |t: u32| tok.is_eog(t) || opts.extra_eog.contains(&t);
    let n_vocab = session.model().config.n_vocab;
    let n_ctx = session.n_ctx();
    // Tokens decoding without drafts would hold now; the session may hold proposals past them.
    let mut held = session.tokens().len();
    let mut v = Verifying {
        rows: Vec::new(),
        drafts: Vec::new(),
        at: 0,
    };
    let finish = loop {
        if sink.interrupted() {
            break Finish::Interrupted;
        }
        if opts.n_predict >= 0 && generated as i64 >= opts.n_predict {
            break Finish::Length;
        }
        if grammar.as_deref().is_some_and(Constraint::is_finished) {
            break Finish::Stop;
        }
        if opts.ignore_eos {
            for &e in tok.eog_ids().iter().chain(&opts.extra_eog) {
                if let Some(l) = logits.get_mut(e as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let proposal = v.drafts.get(v.at);
        let chosen = match proposal {
            None => sampler.sample_constrained(&mut logits, grammar.as_deref()),
            Some(d) => sampler
                .distribution(&mut logits, grammar.as_deref())
                .map(|p| verify::choose(sampler, &p, d.token, d.q.as_ref())),
        };
        let Some(next) = chosen else {
            grammar_stuck = true;
            break Finish::Stop;
        };
        let accepted = proposal.is_some_and(|d| d.token == next);
        if is_end(next) && !opts.ignore_eos {
            break Finish::Eos;
        }
        if let Some(g) = grammar.as_deref_mut() {
            g.accept(next);
        }
        sampler.accept(next);
        tokens.push(next);
        generated += 1;
        let piece = tok.token_to_piece(next, opts.special);
        let filtered = stops.push(&decoder.push(&piece));
        text.push_str(&filtered.emit);
        if !sink.text(&filtered.emit) {
            break Finish::Closed;
        }
        if filtered.stopped {
            stop_string = true;
            break Finish::Stop;
        }
        if held == n_ctx {
            break Finish::Context;
        }
        if accepted {
            // The target already computed the logits after this proposal.
            v.at += 1;
            held += 1;
            logits.clear();
            logits.extend_from_slice(&v.rows[v.at * n_vocab..(v.at + 1) * n_vocab]);
            continue;
        }
        // Forget proposals the target did not take, then evaluate `next` (and new ones).
        session.truncate(held);
        let drafts = match spec.as_deref_mut() {
            None => Vec::new(),
            Some(sp) => {
                if !v.drafts.is_empty() {
                    sp.record_round(v.drafts.len(), v.at);
                }
                // The batch `[next, drafts…]` must fit the context, and drafts past `-n` are
                // never used.
                let mut room = n_ctx - held - 1;
                if opts.n_predict >= 0 {
                    room = room.min((opts.n_predict as usize).saturating_sub(generated));
                }
                sp.propose(session.tokens(), next, room, n_vocab, sampler.params())?
            }
        };
        let mut batch = Vec::with_capacity(1 + drafts.len());
        batch.push(next);
        batch.extend(drafts.iter().map(|d| d.token));
        let want = if drafts.is_empty() {
            Logits::Last
        } else {
            Logits::All
        };
        let t = Instant::now();
        let rows = match session.eval(&batch, want) {
            Ok(rows) => rows,
            // Ctrl-C during a verify forward: what was generated stands.
            Err(SessionError::Interrupted) => break Finish::Interrupted,
            Err(e) => return Err(e),
        };
        if let Some(sp) = spec.as_deref_mut() {
            sp.record_forward(batch.len(), drafts.len(), t.elapsed().as_secs_f64() * 1e3);
        }
        held += 1;
        logits.clear();
        logits.extend_from_slice(&rows[..n_vocab]);
        v = Verifying {
            rows,
            drafts,
            at: 0,
        };
    };
    // Leave the session as decoding without drafts would: no unverified proposals.
    session.truncate(held);
    if let Some(sp) = spec {
        if !v.drafts.is_empty() {
            sp.record_round(v.drafts.len(), v.at);
        }
    }
    if finish != Finish::Closed && !stop_string {
        let mut tail = stops.push(&decoder.finish()).emit;
        tail.push_str(&stops.finish());
        if !tail.is_empty() {
            text.push_str(&tail);
            sink.text(&tail);
        }
    }
    Ok(Decoded {
        text,
        tokens,
        generated,
        finish,
        grammar_stuck,
    })
}
