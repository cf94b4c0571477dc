//! One chat turn: render the whole conversation with the template, keep the tokens the session
//! already holds (common prefix, plus a context shift when old turns were dropped), evaluate only
//! the rest, then sample the reply until an end-of-turn token, `-n`, a stop string, a full
//! context or an interrupt.
use super::history::Conversation;
use super::template::ChatTemplate;
pub use crate::generate::Finish;
use crate::generate::{
    decode, DecodeOptions, DecodeSink, Sampler, SamplerParams, Session, Speculator,
};
use crate::grammar::Constraint;
use crate::model::Logits;
use crate::tokenizer::Tokenizer;
use std::time::Instant;

/// Counters of one turn.
#[derive(Clone, Debug)]
pub struct TurnStats {
    /// Tokens of the rendered conversation.
    pub prompt_tokens: usize,
    /// Of those, already in the KV cache.
    pub reused_tokens: usize,
    /// Of those, evaluated this turn.
    pub new_tokens: usize,
    pub generated: usize,
    pub prompt_ms: f64,
    pub gen_ms: f64,
    /// Old turns dropped to make room.
    pub dropped_turns: usize,
    pub finish: Finish,
    /// With speculative decoding: this turn's counters.
    pub spec: Option<crate::generate::SpecStats>,
}

/// The decode loop's sink over a turn's events.
struct Sink<'e> {
    events: &'e mut dyn ReplyEvents,
}

impl DecodeSink for Sink<'_> {
    fn text(&mut self, piece: &str) -> bool {
        self.events.text(piece)
    }
    fn interrupted(&self) -> bool {
        self.events.interrupted()
    }
}

/// Where a turn's output goes.
pub trait ReplyEvents {
    /// Reply text as it is generated; false when the reader has gone (stops the reply).
    fn text(&mut self, piece: &str) -> bool;
    /// A notice for the user (stderr).
    fn notice(&mut self, msg: &str);
    /// Whether the user asked to stop the reply (Ctrl-C).
    fn interrupted(&self) -> bool;
}

pub struct ChatEngine<'m> {
    /// `-md` / `--lookup`: speculative decoding (the draft's cache persists across turns).
    pub spec: Option<Speculator<'m>>,
    pub session: Session<'m>,
    tok: &'m Tokenizer,
    template: ChatTemplate,
    pub conv: Conversation,
    sampler: Sampler,
    /// `-n` (tokens per reply), `--ignore-eos`, `--special`, stop strings and the template's
    /// end-of-turn tokens.
    pub decode: DecodeOptions,
    /// `--grammar` / `--json-schema`: every reply follows it from its start.
    pub grammar: Option<Constraint>,
    /// `--keep`: tokens at the start never shifted out (None: BOS and the system prompt).
    pub keep: Option<usize>,
    folded_notice_given: bool,
}

impl<'m> ChatEngine<'m> {
    pub fn new(
        session: Session<'m>,
        tok: &'m Tokenizer,
        template: ChatTemplate,
        conv: Conversation,
        params: SamplerParams,
        stops: Vec<String>,
    ) -> ChatEngine<'m> {
        let n_ctx = session.n_ctx();
        let mut stops = stops;
        let mut extra_eog = Vec::new();
        if let Some(eot) = &template.end_of_turn {
            let ids = tok.encode(eot, false, true);
            match ids.as_slice() {
                [id] if tok.is_control(*id) || tok.is_eog(*id) => extra_eog.push(*id),
                _ => stops.push(eot.clone()),
            }
        }
        ChatEngine {
            spec: None,
            session,
            tok,
            template,
            conv,
            sampler: Sampler::new(params, n_ctx),
            decode: DecodeOptions {
                n_predict: -1,
                stops,
                extra_eog,
                ..Default::default()
            },
            grammar: None,
            keep: None,
            folded_notice_given: false,
        }
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Forget the conversation (the system prompt stays) and the cache.
    pub fn reset(&mut self) {
        self.conv.clear_turns();
        self.session.reset();
        self.sampler.reset();
    }

    /// The conversation rendered and tokenized; `gen`: with the assistant's turn opened.
    pub fn tokenize_conversation(
        &mut self,
        gen: bool,
        events: &mut dyn ReplyEvents,
    ) -> Result<Vec<u32>, String> {
        let r = self.template.render(&self.conv.messages, gen)?;
        if r.folded_system && !self.folded_notice_given {
            self.folded_notice_given = true;
            events.notice(
                "brisk: this chat template does not take a system message; the system prompt is \
                 folded into the first user message",
            );
        }
        Ok(self.encode(&r.text))
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        // Templates that write the BOS text themselves must not get a second BOS.
        let bos_written = self
            .tok
            .bos()
            .and_then(|b| self.tok.token_text(b))
            .is_some_and(|b| !b.is_empty() && text.starts_with(b));
        let mut ids = self.tok.encode(text, !bos_written, true);
        if ids.is_empty() {
            ids.extend(self.tok.bos());
        }
        ids
    }

    /// Messages at the start that a context shift must keep: the system prompt, and with
    /// `--keep N` every message that the first N tokens reach into.
    fn pinned_messages(&mut self) -> usize {
        let head = self.conv.head_len();
        let Some(keep) = self.keep else { return head };
        let mut pinned = head;
        while pinned < self.conv.messages.len().saturating_sub(1) {
            let msgs = &self.conv.messages[..pinned];
            let n = match self.template.render(msgs, false) {
                Ok(r) => self.encode(&r.text).len(),
                Err(_) => break,
            };
            if n >= keep {
                break;
            }
            pinned += 1;
        }
        pinned
    }

    /// Why the conversation cannot fit, naming the part that is too long: the system prompt
    /// alone, the message, or what `--keep` pins.
    fn too_long(&self, needed: usize) -> String {
        let n_ctx = self.session.n_ctx();
        let raise = if n_ctx < self.session.model().config.n_ctx_train {
            format!(
                "raise -c (up to the model's {})",
                self.session.model().config.n_ctx_train
            )
        } else {
            "the model's context cannot hold more".to_string()
        };
        if let Some(system) = self.conv.system() {
            let alone = Conversation::new(Some(system));
            if let Ok(r) = self.template.render(&alone.messages, false) {
                let n = self.encode(&r.text).len();
                if n + self.reply_reserve() > n_ctx {
                    return format!(
                        "the system prompt alone is {n} tokens, and the context holds {n_ctx} \
                         with room for a reply (shorten -sys, or {raise})"
                    );
                }
            }
        }
        format!(
            "the message needs {needed} tokens with what must be kept, but the context holds \
             {n_ctx} ({raise}, shorten the message, or lower --keep)"
        )
    }

    /// Room to leave for the reply when deciding whether the prompt fits.
    fn reply_reserve(&self) -> usize {
        let n_ctx = self.session.n_ctx();
        let quarter = (n_ctx / 4).max(1);
        if self.decode.n_predict >= 0 {
            (self.decode.n_predict as usize).clamp(1, quarter)
        } else {
            quarter
        }
    }

    /// Add `user_text` as a user message and generate the reply, streaming it to `events`.
    /// Errors (a template that fails, a message that cannot fit the context) leave the
    /// conversation as it was.
    pub fn reply(
        &mut self,
        user_text: &str,
        events: &mut dyn ReplyEvents,
    ) -> Result<TurnStats, String> {
        let n_ctx = self.session.n_ctx();
        let saved = self.conv.clone();
        self.conv.push("user", user_text);
        let mut dropped = 0;
        let tokens = loop {
            let tokens = match self.tokenize_conversation(true, events) {
                Ok(t) => t,
                Err(e) => {
                    self.conv = saved;
                    return Err(e);
                }
            };
            if tokens.is_empty() {
                self.conv = saved;
                return Err("the chat template rendered nothing to evaluate".into());
            }
            if tokens.len() + self.reply_reserve() <= n_ctx {
                break tokens;
            }
            let pinned = self.pinned_messages();
            if !self.conv.drop_oldest_turn(pinned) {
                if tokens.len() < n_ctx {
                    break tokens;
                }
                let err = self.too_long(tokens.len());
                self.conv = saved;
                return Err(err);
            }
            dropped += 1;
        };
        if dropped > 0 {
            events.notice(&format!(
                "brisk: context full: dropped the {dropped} oldest turn(s) and shifted the rest \
                 of the cache"
            ));
        }

        let t_prompt = Instant::now();
        let held = self.session.reuse_prefix(&tokens, dropped > 0);
        let evaluated_before = self.session.evaluated;
        let logits = match self.session.eval(&tokens[held..], Logits::Last) {
            Ok(l) => l,
            Err(crate::generate::SessionError::Interrupted) => {
                // Stopped in the prompt: the turn did not happen.
                self.conv = saved;
                return Ok(TurnStats {
                    prompt_tokens: tokens.len(),
                    reused_tokens: held,
                    new_tokens: 0,
                    generated: 0,
                    prompt_ms: t_prompt.elapsed().as_secs_f64() * 1e3,
                    gen_ms: 0.0,
                    dropped_turns: dropped,
                    finish: Finish::Interrupted,
                    spec: None,
                });
            }
            Err(e) => return Err(e.to_string()),
        };
        let new_tokens = self.session.evaluated - evaluated_before;
        let spec_before = self.spec.as_ref().map(|sp| sp.stats.clone());
        if let Some(sp) = &mut self.spec {
            // The draft model reads the conversation too (its cache persists across turns).
            sp.prefill(&tokens).map_err(|e| e.to_string())?;
        }
        let prompt_ms = t_prompt.elapsed().as_secs_f64() * 1e3;
        self.sampler.reset();
        for &t in &tokens {
            self.sampler.accept(t);
        }

        let t_gen = Instant::now();
        if let Some(g) = &mut self.grammar {
            g.reset();
        }
        let mut sink = Sink { events };
        let out = decode(
            &mut self.session,
            &mut self.sampler,
            self.tok,
            logits,
            &self.decode,
            self.grammar.as_mut(),
            self.spec.as_mut(),
            &mut sink,
        )
        .map_err(|e| e.to_string())?;
        let (reply, generated, finish) = (out.text, out.generated, out.finish);
        if out.grammar_stuck {
            events.notice("\nbrisk: the grammar allows no token the model has here: reply ended");
        }
        if finish == Finish::Context {
            events.notice("\nbrisk: the context is full: reply cut (older turns are dropped before the next one)");
        }
        self.conv.push("assistant", &reply);
        Ok(TurnStats {
            prompt_tokens: tokens.len(),
            reused_tokens: held,
            new_tokens,
            generated,
            prompt_ms,
            gen_ms: t_gen.elapsed().as_secs_f64() * 1e3,
            dropped_turns: dropped,
            finish,
            spec: self
                .spec
                .as_ref()
                .zip(spec_before)
                .map(|(sp, before)| sp.stats.since(&before)),
        })
    }
}
