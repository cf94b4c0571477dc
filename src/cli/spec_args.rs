//! The speculative-decoding flags `run`, `chat` and `speculate` share (llama.cpp's names:
//! `-md`, `--draft-max`, `--draft-min`, `--draft-p-min`, `-td`, `-ctkd/-ctvd`), loading the
//! draft model and checking its vocabulary, and the statistics line and JSON object.
use super::common::{parse_threads, plural, probability, Log, ModelArgs};
use super::gen_args::parse_kv_type;
use super::Exit;
use crate::attn::paged::{KvType, KvTypes};
use crate::generate::speculative::{check_compatible, DraftModel, Lookup};
use crate::generate::{Session, SpecOptions, SpecStats, Speculator};
use crate::model::LoadedModel;
use anyhow::anyhow;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// Speculative decoding with this draft model (-md): a small model with the target's
    /// vocabulary proposes tokens that the target verifies in one forward. The output is the
    /// target's own.
    /// A path, or an alias from models.toml.
    #[arg(long = "model-draft", conflicts_with = "lookup")]
    pub model_draft: Option<PathBuf>,
    /// The draft model from Hugging Face (-hfd user/repo[:QUANT]), downloaded when needed.
    #[arg(long = "hf-repo-draft", value_name = "REPO[:QUANT]", conflicts_with_all = ["lookup", "model_draft"])]
    pub hf_repo_draft: Option<String>,
    /// Speculative decoding without a draft model: propose what followed the latest earlier
    /// occurrence of the last few tokens (pays when the output copies the prompt: code edits,
    /// quotes).
    #[arg(long = "lookup")]
    pub lookup: bool,
    /// Most tokens drafted per target forward.
    #[arg(long = "draft-max", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub draft_max: u32,
    /// Fewest drafted tokens worth verifying (shorter drafts are dropped).
    #[arg(long = "draft-min", default_value_t = 0)]
    pub draft_min: u32,
    /// Stop drafting when the draft model's top probability falls below this (0 to 1).
    #[arg(long = "draft-p-min", default_value_t = 0.75, value_parser = probability)]
    pub draft_p_min: f32,
    /// Draft --draft-max tokens every step instead of choosing the length from measured costs
    /// (for measurements; the adaptive default never runs slower than plain decoding).
    #[arg(long = "draft-fixed")]
    pub draft_fixed: bool,
    /// Threads for the draft model (-td; default: the target's).
    #[arg(long = "threads-draft", value_parser = parse_threads)]
    pub threads_draft: Option<usize>,
    /// KV cache type for the draft model's keys (-ctkd): f16 or q8_0.
    #[arg(long = "cache-type-k-draft", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_k_draft: KvType,
    /// KV cache type for the draft model's values (-ctvd): f16 or q8_0.
    #[arg(long = "cache-type-v-draft", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_v_draft: KvType,
}

impl SpecArgs {
    pub fn enabled(&self) -> bool {
        self.model_draft.is_some() || self.hf_repo_draft.is_some() || self.lookup
    }

    pub fn options(&self) -> SpecOptions {
        SpecOptions {
            draft_max: self.draft_max as usize,
            draft_min: self.draft_min as usize,
            p_min: self.draft_p_min,
            fixed: self.draft_fixed,
        }
    }

    /// The draft model's local path (an alias or `-hfd` repository downloaded first); one that
    /// is not there is an error before the target is loaded.
    pub fn check_draft_path(&mut self, target: &ModelArgs) -> Result<(), Exit> {
        let hub = target.source.hub.hub(target.quiet);
        let draft_error = |e: anyhow::Error| match super::models::interrupted(e) {
            Exit::Runtime(e) => Exit::Runtime(anyhow!("draft model: {e:#}")),
            other => other,
        };
        if let Some(spec) = &self.hf_repo_draft {
            let path =
                super::model_ref::resolve(None, Some(spec), None, &hub).map_err(draft_error)?;
            self.model_draft = Some(path);
        } else if let Some(p) = &self.model_draft {
            let path = super::model_ref::resolve_path_or_alias(p, &hub).map_err(draft_error)?;
            self.model_draft = Some(path);
        }
        match &self.model_draft {
            Some(p) if !p.exists() => Err(Exit::Runtime(anyhow!(
                "draft model {}: no such file or directory",
                p.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Load the draft model (with `-md`), refusing one whose vocabulary does not match the
    /// target's.
    pub fn load_draft(
        &self,
        target: &ModelArgs,
        target_model: &LoadedModel,
    ) -> Result<Option<LoadedModel>, Exit> {
        let Some(path) = &self.model_draft else {
            return Ok(None);
        };
        let args = ModelArgs {
            source: super::model_ref::ModelSource::local(path.clone(), target.source.hub.clone()),
            threads: self.threads_draft.or(target.threads),
            n_gpu_layers: None,
            ..target.clone()
        };
        let (mut draft, _) = args
            .load()
            .map_err(|e| Exit::Runtime(anyhow!("draft model {}: {e:#}", path.display())))?;
        check_compatible(&target_model.tokenizer, &draft.tokenizer).map_err(|e| {
            Exit::Runtime(anyhow!(
                "the draft model {} cannot draft for {}: {e}",
                path.display(),
                target_model.path.display()
            ))
        })?;
        // Target and draft run in turn: one thread pool serves both.
        draft
            .model
            .backend
            .share_pool_of(&target_model.model.backend);
        Ok(Some(draft))
    }

    /// The speculator for a target context of `n_ctx` tokens (None without -md/--lookup).
    pub fn speculator<'d>(
        &self,
        target: &LoadedModel,
        draft: Option<&'d LoadedModel>,
        n_ctx: usize,
        log: Log,
    ) -> Result<Option<Speculator<'d>>, Exit> {
        let opts = self.options();
        if let Some(d) = draft {
            // The draft follows the target's whole context, past its own training length if
            // need be (its proposals get worse there, and the controller notices).
            let types = KvTypes {
                k: self.cache_type_k_draft,
                v: self.cache_type_v_draft,
            };
            let session = Session::with_kv_types(&d.model, n_ctx, types)
                .map_err(|e| Exit::Runtime(anyhow!("draft model: {e}")))?;
            log.verbose(format!(
                "brisk: speculative decoding with draft {} (context {n_ctx}, up to {} tokens a step, p-min {})",
                d.path.display(),
                opts.draft_max,
                opts.p_min
            ));
            let mut sp = Speculator::new(Box::new(DraftModel::new(session)), opts);
            // Decoding reads every weight once: the bytes say what a draft forward costs.
            sp.set_cost_prior(d.size_bytes as f64 / target.size_bytes.max(1) as f64);
            return Ok(Some(sp));
        }
        if self.lookup {
            log.verbose(format!(
                "brisk: speculative decoding by n-gram lookup (up to {} tokens a step)",
                opts.draft_max
            ));
            return Ok(Some(Speculator::new(Box::new(Lookup::default()), opts)));
        }
        Ok(None)
    }
}

/// The `speculative` object of `--json`.
#[derive(serde::Serialize)]
pub struct SpecJson {
    pub drafter: &'static str,
    pub drafted: usize,
    pub accepted: usize,
    pub acceptance_rate: f64,
    pub mean_accepted: f64,
    pub rounds: usize,
    pub target_forwards: usize,
    pub plain_steps: usize,
    pub draft_ms: f64,
    pub target_ms: f64,
    pub tokens_per_s: f64,
    /// With --compare: the plain decode of the same prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain_tokens_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// With --compare: whether the plain decode gave the same text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_text: Option<bool>,
}

impl SpecJson {
    pub fn new(drafter: &'static str, s: &SpecStats, tokens_per_s: f64) -> SpecJson {
        SpecJson {
            drafter,
            drafted: s.drafted,
            accepted: s.accepted,
            acceptance_rate: s.acceptance_rate(),
            mean_accepted: s.mean_accepted(),
            rounds: s.rounds,
            target_forwards: s.target_forwards,
            plain_steps: s.plain_steps,
            draft_ms: s.draft_ms,
            target_ms: s.target_ms,
            tokens_per_s,
            plain_tokens_per_s: None,
            speedup: None,
            same_text: None,
        }
    }

    /// The stderr line.
    pub fn line(&self) -> String {
        let mut l = format!(
            "brisk: speculative ({}): drafted {}, accepted {} ({:.1}%), {:.2} per round, {} target {} ({} plain), draft {:.0} ms, target {:.0} ms",
            self.drafter,
            self.drafted,
            self.accepted,
            100.0 * self.acceptance_rate,
            self.mean_accepted,
            self.target_forwards,
            plural(self.target_forwards, "forward", "forwards"),
            self.plain_steps,
            self.draft_ms,
            self.target_ms,
        );
        if let (Some(p), Some(s)) = (self.plain_tokens_per_s, self.speedup) {
            l.push_str(&format!(
                " · plain decode {p:.1} t/s, speedup {s:.2}×{}",
                match self.same_text {
                    Some(false) => " (different text: sampled)",
                    _ => "",
                }
            ));
        }
        l
    }
}
