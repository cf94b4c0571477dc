//! The one decode loop `run` and `chat` share: sample (under the grammar when there is one),
//! stop at an end-of-generation token, `-n`, a stop string, a finished grammar, a full context,
//! an interrupt or a closed reader; stream the text as it is decoded; evaluate the next token.
use super::stop::StopFilter;
use super::{Sampler, Session, SessionError};
use crate::grammar::Constraint;
use crate::model::Logits;
use crate::tokenizer::{StreamDecoder, Tokenizer};

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
    pub generated: usize,
    pub finish: Finish,
    /// The grammar allowed no token at some step (ends as `Stop`).
    pub grammar_stuck: bool,
}

/// Generate from `logits` (the prompt's last) until a stop condition. The session holds the
/// prompt; the sampler has seen it.
pub fn decode(
    session: &mut Session,
    sampler: &mut Sampler,
    tok: &Tokenizer,
    mut logits: Vec<f32>,
    opts: &DecodeOptions,
    mut grammar: Option<&mut Constraint>,
    sink: &mut dyn DecodeSink,
) -> Result<Decoded, SessionError> {
    let mut decoder = StreamDecoder::new();
    let mut stops = StopFilter::new(opts.stops.clone());
    let mut text = String::new();
    let mut generated = 0usize;
    let mut grammar_stuck = false;
    let mut stop_string = false;
    let is_end = |t: u32| tok.is_eog(t) || opts.extra_eog.contains(&t);
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
        let Some(next) = sampler.sample_constrained(&mut logits, grammar.as_deref()) else {
            grammar_stuck = true;
            break Finish::Stop;
        };
        if is_end(next) && !opts.ignore_eos {
            break Finish::Eos;
        }
        if let Some(g) = grammar.as_deref_mut() {
            g.accept(next);
        }
        sampler.accept(next);
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
        if session.remaining() == 0 {
            break Finish::Context;
        }
        logits = session.eval(&[next], Logits::Last)?;
    };
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
        generated,
        finish,
        grammar_stuck,
    })
}
