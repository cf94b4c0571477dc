//! Benchmark: what a grammar costs per generated token on a real vocabulary — the full token
//! mask and a constrained draw (greedy, top-k 40, top-k 0) against the same draw without a
//! grammar, in several states of a JSON-schema grammar, on random logits (the worst case for
//! the "check the best candidates first" path: the grammar rarely likes the top tokens). The
//! mask column is a state's first visit; the draws see a state again (its mask cached), as a
//! generation does inside a string or a list.
//!
//! Run: `cargo bench --bench grammar [-- MODEL.gguf]` (default: the Gemma 3 270M that
//! `scripts/fetch-gemma3-270m.sh` fetches; 262 144 tokens).
use brisk::format::gguf::Gguf;
use brisk::generate::rng::Rng;
use brisk::generate::{Sampler, SamplerParams};
use brisk::grammar::constraint::Vocab;
use brisk::grammar::{json_schema_to_gbnf, Constraint, Grammar};
use brisk::tokenizer::Tokenizer;
use std::sync::Arc;
use std::time::Instant;

const SCHEMA: &str = r#"{"type":"object","properties":{"name":{"type":"string","maxLength":40},
  "capital":{"type":"string"},"population":{"type":"integer"},
  "languages":{"type":"array","items":{"type":"string"},"maxItems":4}},
  "required":["name","capital","population","languages"]}"#;

/// Median time of `f` over `n` runs, in microseconds.
fn median_us(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[n / 2]
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            dirs::home_dir()
                .unwrap_or_default()
                .join(".cache/brisk-models/gemma-3-270m-q4_k_m.gguf")
        });
    let Ok(gguf) = Gguf::open(&path) else {
        eprintln!(
            "SKIP: no model at {} (scripts/fetch-gemma3-270m.sh)",
            path.display()
        );
        return;
    };
    let tok = Tokenizer::from_gguf(&gguf).expect("tokenizer");
    let t0 = Instant::now();
    let vocab = Arc::new(Vocab::from_tokenizer(&tok));
    println!(
        "vocabulary: {} tokens, built for the grammar in {:.1} ms",
        vocab.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    let grammar = Arc::new(Grammar::parse(&json_schema_to_gbnf(&schema).unwrap()).unwrap());
    let mut rng = Rng::new(7);
    let logits: Vec<f32> = (0..vocab.len())
        .map(|_| rng.next_f64() as f32 * 10.0)
        .collect();
    println!(
        "{:<28} {:>16} {:>12} {:>12} {:>12} {:>12}",
        "state", "mask us (cold)", "greedy us", "top-k40 us", "top-k0 us", "allowed"
    );
    for prefix in [
        "",
        "{\"name\": \"Fra",
        "{\"name\":\"France\",\"capital\":\"Paris\",\"population\":12",
    ] {
        let mut c = Constraint::new(grammar.clone(), vocab.clone());
        for t in tok.encode(prefix, false, false) {
            assert!(c.accept(t), "prefix {prefix:?} refused at token {t}");
        }
        let allowed = c.allowed().iter().filter(|&&a| a).count();
        let mask = median_us(9, || {
            std::hint::black_box(c.allowed_uncached());
        });
        let draw = |top_k: i32, temp: f32, grammar: Option<&Constraint>| {
            let params = SamplerParams {
                temp,
                top_k,
                seed: 1,
                ..Default::default()
            };
            let mut s = Sampler::new(params, 4096);
            median_us(9, || {
                let mut l = logits.clone();
                std::hint::black_box(s.sample_constrained(&mut l, grammar));
            })
        };
        let cols: Vec<String> = [(40, 0.0), (40, 0.8), (0, 0.8)]
            .iter()
            .map(|&(k, t)| {
                format!(
                    "{:.0} (+{:.0})",
                    draw(k, t, Some(&c)),
                    draw(k, t, Some(&c)) - draw(k, t, None)
                )
            })
            .collect();
        let shown = if prefix.is_empty() { "(start)" } else { prefix };
        let shown: String = shown
            .chars()
            .rev()
            .take(26)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        println!(
            "{shown:<28} {mask:>16.0} {:>12} {:>12} {:>12} {allowed:>12}",
            cols[0], cols[1], cols[2]
        );
    }
}
