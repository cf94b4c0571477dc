//! Speculative decoding gives the target's own output. Greedy: token for token the same as
//! plain decoding — with a real draft model, with lookup, and with a scripted drafter that
//! proposes the true continuation corrupted at a chosen position (so every position of a draft
//! is rejected somewhere), EOS inside a draft, a draft that would overrun the context, and stop
//! strings that end inside a draft. Sampled: the tokens' distribution equals plain sampling's
//! (two-sample chi-square over many seeded runs).
mod common;

use brisk::generate::speculative::{DraftModel, Drafted, Drafter, Lookup, Proposal};
use brisk::generate::{
    decode, DecodeOptions, DecodeSink, Decoded, Dist, Finish, Sampler, SamplerParams, Session,
    SessionError, SpecOptions, SpecStats, Speculator,
};
use brisk::model::{loader, LoadedModel, Logits};
use std::path::Path;

struct Collect;

impl DecodeSink for Collect {
    fn text(&mut self, _piece: &str) -> bool {
        true
    }
    fn interrupted(&self) -> bool {
        false
    }
}

fn greedy() -> SamplerParams {
    SamplerParams {
        temp: 0.0,
        seed: 1,
        ..SamplerParams::default()
    }
}

/// A generation's result and the tokens the session ends holding.
type Run = (Decoded, Vec<u32>);

/// One generation; returns what it gave and the tokens the session ends holding.
fn generate(
    lm: &LoadedModel,
    prompt: &str,
    n_ctx: usize,
    params: &SamplerParams,
    opts: &DecodeOptions,
    spec: Option<&mut Speculator>,
) -> Run {
    let tok = &lm.tokenizer;
    let ids = tok.encode(prompt, true, true);
    let mut session = Session::new(&lm.model, n_ctx);
    let mut sampler = Sampler::new(params.clone(), n_ctx);
    for &t in &ids {
        sampler.accept(t);
    }
    let logits = session.eval(&ids, Logits::Last).unwrap();
    let out = decode(
        &mut session,
        &mut sampler,
        tok,
        logits,
        opts,
        None,
        spec,
        &mut Collect,
    )
    .unwrap();
    (out, session.tokens().to_vec())
}

fn load(fx: &Path, name: &str) -> LoadedModel {
    loader::load(&fx.join("models").join(name), 1).unwrap()
}

/// Proposes the known plain continuation, with the proposal at index `wrong` (counted from
/// the round's first proposal, cycling over rounds) replaced by another token.
struct Scripted {
    /// Prompt then the plain output (then EOS when it ended with one).
    truth: Vec<u32>,
    round: usize,
    n_vocab: u32,
}

impl Drafter for Scripted {
    fn draft(
        &mut self,
        context: &[u32],
        max: usize,
        _params: &SamplerParams,
        _p_min: f32,
    ) -> Result<Drafted, SessionError> {
        let from = context.len().min(self.truth.len());
        let mut proposals: Vec<Proposal> = self.truth[from..]
            .iter()
            .take(max)
            .map(|&token| Proposal { token, q: None })
            .collect();
        // Rounds alternate: a wholly right draft, then one wrong at position 0, 1, 2, …
        let wrong = self.round % (max + 1);
        self.round += 1;
        if let Some(p) = proposals.get_mut(wrong) {
            p.token = (p.token + 1) % self.n_vocab;
        }
        // Past the truth: propose junk (the context fills, or the output stopped earlier).
        while proposals.len() < max {
            proposals.push(Proposal {
                token: (proposals.len() as u32 * 7 + 3) % self.n_vocab,
                q: None,
            });
        }
        Ok(Drafted {
            proposals,
            ..Default::default()
        })
    }
}

fn fixed(draft_max: usize, p_min: f32) -> SpecOptions {
    SpecOptions {
        draft_max,
        draft_min: 0,
        p_min,
        fixed: true,
    }
}

fn assert_same(plain: &Run, spec: &Run, what: &str) {
    assert_eq!(spec.0.tokens, plain.0.tokens, "{what}: tokens");
    assert_eq!(spec.0.text, plain.0.text, "{what}: text");
    assert_eq!(spec.0.finish, plain.0.finish, "{what}: finish");
    assert_eq!(
        spec.1, plain.1,
        "{what}: the session holds what plain decoding leaves"
    );
}

const PROMPTS: [&str; 4] = [
    "Once upon a time",
    "The little dog",
    "Lily and Tom went to the park. They",
    "One day",
];

#[test]
fn greedy_draft_model_output_is_the_targets_on_both_fixture_pairs() {
    let Some(fx) = common::fixtures() else { return };
    for (target, draft) in [
        ("stories260K.gguf", "llama2xs.gguf"),
        ("prose-5m.gguf", "prose-0.5m.gguf"),
    ] {
        let (t, d) = (load(&fx, target), load(&fx, draft));
        brisk::generate::speculative::check_compatible(&t.tokenizer, &d.tokenizer).unwrap();
        let opts = DecodeOptions {
            n_predict: 48,
            ..Default::default()
        };
        let mut lengths = SpecStats::default().accepted_lengths;
        for prompt in PROMPTS {
            let plain = generate(&t, prompt, 256, &greedy(), &opts, None);
            for (k, p_min) in [
                (1, 0.0),
                (3, 0.0),
                (5, 0.75),
                (8, 0.0),
                (16, 0.0),
                (16, 0.75),
            ] {
                let session = Session::new(&d.model, 256);
                let mut sp = Speculator::new(Box::new(DraftModel::new(session)), fixed(k, p_min));
                let spec = generate(&t, prompt, 256, &greedy(), &opts, Some(&mut sp));
                assert_same(
                    &plain,
                    &spec,
                    &format!("{target} ← {draft}, k {k}, {prompt:?}"),
                );
                if lengths.len() < sp.stats.accepted_lengths.len() {
                    lengths.resize(sp.stats.accepted_lengths.len(), 0);
                }
                for (i, n) in sp.stats.accepted_lengths.iter().enumerate() {
                    lengths[i] += n;
                }
            }
            // Adaptive (the default options) too.
            let session = Session::new(&d.model, 256);
            let mut sp =
                Speculator::new(Box::new(DraftModel::new(session)), SpecOptions::default());
            let spec = generate(&t, prompt, 256, &greedy(), &opts, Some(&mut sp));
            assert_same(
                &plain,
                &spec,
                &format!("{target} ← {draft}, adaptive, {prompt:?}"),
            );
        }
        assert!(
            lengths.iter().filter(|&&n| n > 0).count() >= 4,
            "{target}: rounds by accepted length {lengths:?}: the drafts hardly ever differed"
        );
    }
}

#[test]
fn greedy_lookup_output_is_the_targets() {
    let Some(fx) = common::fixtures() else { return };
    let t = load(&fx, "stories260K.gguf");
    let opts = DecodeOptions {
        n_predict: 80,
        ..Default::default()
    };
    let mut drafted = 0;
    for prompt in PROMPTS {
        let plain = generate(&t, prompt, 256, &greedy(), &opts, None);
        for k in [1, 4, 16] {
            let mut sp = Speculator::new(Box::new(Lookup::default()), fixed(k, 0.0));
            let spec = generate(&t, prompt, 256, &greedy(), &opts, Some(&mut sp));
            assert_same(&plain, &spec, &format!("lookup k {k}, {prompt:?}"));
            drafted += sp.stats.drafted;
        }
    }
    assert!(
        drafted > 0,
        "the stories repeat themselves: lookup must have proposed"
    );
}

/// Plain decoding's result and the scripted drafter that knows it.
fn scripted_case(
    t: &LoadedModel,
    prompt: &str,
    n_ctx: usize,
    opts: &DecodeOptions,
    k: usize,
) -> (Run, Run, SpecStats) {
    let plain = generate(t, prompt, n_ctx, &greedy(), opts, None);
    let mut truth = t.tokenizer.encode(prompt, true, true);
    truth.extend(&plain.0.tokens);
    if plain.0.finish == Finish::Eos {
        let eog = opts.extra_eog.first().copied();
        truth.push(eog.or(t.tokenizer.eos()).unwrap());
    }
    let drafter = Scripted {
        truth,
        round: 0,
        n_vocab: t.model.config.n_vocab as u32,
    };
    let mut sp = Speculator::new(Box::new(drafter), fixed(k, 0.0));
    let spec = generate(t, prompt, n_ctx, &greedy(), opts, Some(&mut sp));
    (plain, spec, sp.stats)
}

#[test]
fn rejections_at_every_position_eos_inside_a_draft_and_a_full_context() {
    let Some(fx) = common::fixtures() else { return };
    let t = load(&fx, "stories260K.gguf");
    // Until EOS (the stories end) or the context: both must come out the same.
    let mut finishes = Vec::new();
    for prompt in PROMPTS {
        for (n_ctx, k) in [(256, 4), (256, 7), (40, 5), (33, 16)] {
            let opts = DecodeOptions {
                n_predict: -1,
                ..Default::default()
            };
            let (plain, spec, stats) = scripted_case(&t, prompt, n_ctx, &opts, k);
            assert_same(&plain, &spec, &format!("ctx {n_ctx} k {k} {prompt:?}"));
            // Every accepted length from 0 to k occurred.
            let seen = stats.accepted_lengths.iter().filter(|&&n| n > 0).count();
            assert!(
                seen >= k.min(plain.0.generated / (k + 1)),
                "ctx {n_ctx} k {k}: accepted lengths {:?}",
                stats.accepted_lengths
            );
            finishes.push(plain.0.finish);
        }
    }
    assert!(finishes.contains(&Finish::Context), "{finishes:?}");
    // The stories do not end within the context: make a token of the output end-of-generation
    // so that it comes up inside a draft.
    let prompt = PROMPTS[0];
    let all = DecodeOptions {
        n_predict: -1,
        ..Default::default()
    };
    let plain = generate(&t, prompt, 256, &greedy(), &all, None);
    for (at, k) in [(5, 4), (11, 16), (20, 3)] {
        let opts = DecodeOptions {
            extra_eog: vec![plain.0.tokens[at]],
            ..all.clone()
        };
        let (plain, spec, stats) = scripted_case(&t, prompt, 256, &opts, k);
        assert_eq!(plain.0.finish, Finish::Eos);
        assert_same(&plain, &spec, &format!("EOS at {at}, k {k}"));
        assert!(stats.drafted > 0);
    }
}

#[test]
fn stop_strings_and_length_limits_inside_a_draft() {
    let Some(fx) = common::fixtures() else { return };
    let t = load(&fx, "stories260K.gguf");
    let prompt = "Once upon a time";
    let full = generate(
        &t,
        prompt,
        256,
        &greedy(),
        &DecodeOptions {
            n_predict: 60,
            ..Default::default()
        },
        None,
    );
    // Stop strings taken from the middle of the plain text: they end inside some draft.
    let text = &full.0.text;
    let mut stops_tried = 0;
    for at in [10, 25, 40] {
        let Some(stop) = text.get(at..at + 4) else {
            continue;
        };
        for k in [3, 8] {
            let opts = DecodeOptions {
                n_predict: 60,
                stops: vec![stop.to_string()],
                ..Default::default()
            };
            let (plain, spec, _) = scripted_case(&t, prompt, 256, &opts, k);
            assert_eq!(plain.0.finish, Finish::Stop);
            assert_same(&plain, &spec, &format!("stop {stop:?} k {k}"));
            stops_tried += 1;
        }
    }
    assert!(stops_tried >= 4);
    // -n ending inside a draft.
    for n in [1, 2, 5, 13] {
        let opts = DecodeOptions {
            n_predict: n,
            ..Default::default()
        };
        let (plain, spec, _) = scripted_case(&t, prompt, 256, &opts, 8);
        assert_eq!(plain.0.generated, n as usize);
        assert_same(&plain, &spec, &format!("-n {n}"));
    }
}

/// Counts of each token at output positions 1..=3 over `runs` seeded generations, with the
/// speculator `make` gives (None: plain).
fn position_counts<'d>(
    t: &LoadedModel,
    make: impl Fn(u64) -> Option<Speculator<'d>>,
    params: &SamplerParams,
    runs: u64,
) -> Vec<std::collections::HashMap<u32, usize>> {
    let opts = DecodeOptions {
        n_predict: 4,
        ignore_eos: true,
        ..Default::default()
    };
    let mut counts = vec![std::collections::HashMap::new(); 3];
    for seed in 0..runs {
        let p = SamplerParams {
            seed: seed * 7919 + 13,
            ..params.clone()
        };
        let mut sp = make(seed);
        let out = generate(t, "Once upon a time", 64, &p, &opts, sp.as_mut()).0;
        if let Some(sp) = sp {
            assert!(sp.stats.drafted >= 3, "positions 1..=3 were drafted");
        }
        for (c, tok) in counts.iter_mut().zip(&out.tokens[1..4]) {
            *c.entry(*tok).or_insert(0) += 1;
        }
    }
    counts
}

/// Proposes draws from one fixed distribution at every position, far from the target's: the
/// acceptance rule, not the draft's quality, has to make the output right.
struct FixedQ {
    q: Dist,
    rng: Sampler,
}

impl Drafter for FixedQ {
    fn draft(
        &mut self,
        _context: &[u32],
        max: usize,
        _params: &SamplerParams,
        _p_min: f32,
    ) -> Result<Drafted, SessionError> {
        let proposals = (0..max)
            .map(|_| Proposal {
                token: self.rng.draw(&self.q),
                q: Some(self.q.clone()),
            })
            .collect();
        Ok(Drafted {
            proposals,
            ..Default::default()
        })
    }
}

/// Two-sample chi-square of equal-sized samples (bins with fewer than 10 together pooled) and
/// its degrees of freedom.
fn chi_square_two(
    a: &std::collections::HashMap<u32, usize>,
    b: &std::collections::HashMap<u32, usize>,
) -> (f64, usize) {
    let mut keys: Vec<u32> = a.keys().chain(b.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let (mut chi, mut bins, mut pool) = (0.0, 0usize, (0usize, 0usize));
    for k in keys {
        let (x, y) = (
            a.get(&k).copied().unwrap_or(0),
            b.get(&k).copied().unwrap_or(0),
        );
        if x + y < 10 {
            pool.0 += x;
            pool.1 += y;
            continue;
        }
        chi += (x as f64 - y as f64).powi(2) / (x + y) as f64;
        bins += 1;
    }
    if pool.0 + pool.1 > 0 {
        chi += (pool.0 as f64 - pool.1 as f64).powi(2) / (pool.0 + pool.1) as f64;
        bins += 1;
    }
    (chi, bins.saturating_sub(1))
}

/// The chi-square value exceeded with probability 0.001 (Wilson–Hilferty).
fn critical_999(df: usize) -> f64 {
    let df = df.max(1) as f64;
    let z = 3.09;
    let h = 2.0 / (9.0 * df);
    df * (1.0 - h + z * h.sqrt()).powi(3)
}

#[test]
fn sampled_speculative_output_has_the_targets_distribution() {
    let Some(fx) = common::fixtures() else { return };
    let t = load(&fx, "stories260K.gguf");
    let d = load(&fx, "llama2xs.gguf");
    let runs = 2500;
    let configs = [
        SamplerParams {
            temp: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..Default::default()
        },
        // Every sampler at once: penalties, top-k, top-p, min-p, temperature.
        SamplerParams {
            temp: 0.7,
            top_k: 20,
            top_p: 0.9,
            min_p: 0.02,
            repeat_penalty: 1.3,
            presence_penalty: 0.2,
            ..Default::default()
        },
    ];
    let no_spec = |_| None;
    let draft_model = |_| {
        let session = Session::new(&d.model, 64);
        Some(Speculator::new(
            Box::new(DraftModel::new(session)),
            fixed(3, 0.0),
        ))
    };
    for params in &configs {
        let plain = position_counts(&t, no_spec, params, runs);
        // q: the tokens plain sampling gave most often, with weights unlike their own.
        let mut common: Vec<(u32, usize)> = plain
            .iter()
            .flat_map(|c| c.iter().map(|(&t, &n)| (t, n)))
            .collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        common.dedup_by_key(|c| c.0);
        common.truncate(12);
        let weights: Vec<f64> = (0..common.len()).map(|i| 1.0 + (i % 3) as f64).collect();
        let total: f64 = weights.iter().sum();
        let q = Dist {
            items: common
                .iter()
                .zip(&weights)
                .map(|(c, w)| (c.0, w / total))
                .collect(),
            greedy: false,
        };
        let fixed_q = |seed: u64| {
            let drafter = FixedQ {
                q: q.clone(),
                rng: Sampler::new(
                    SamplerParams {
                        seed: seed ^ 0xabcdef,
                        ..Default::default()
                    },
                    16,
                ),
            };
            Some(Speculator::new(Box::new(drafter), fixed(3, 0.0)))
        };
        let by_draft = position_counts(&t, draft_model, params, runs);
        let by_fixed_q = position_counts(&t, fixed_q, params, runs);
        for (name, spec) in [("draft model", by_draft), ("fixed q", by_fixed_q)] {
            for pos in 0..3 {
                let (chi, df) = chi_square_two(&plain[pos], &spec[pos]);
                assert!(
                    chi < critical_999(df),
                    "{name}, temp {} position {}: chi-square {chi:.1} over {df} degrees of \
                     freedom",
                    params.temp,
                    pos + 1
                );
            }
        }
    }
    // The same check tells a different distribution apart: temperature 1.0 against 0.6.
    let hot = position_counts(&t, no_spec, &configs[0], runs);
    let cool = position_counts(
        &t,
        no_spec,
        &SamplerParams {
            temp: 0.6,
            ..configs[0].clone()
        },
        runs,
    );
    let (chi, df) = chi_square_two(&hot[2], &cool[2]);
    assert!(
        chi > critical_999(df),
        "chi-square {chi:.1} over {df}: the test cannot fail"
    );
}
