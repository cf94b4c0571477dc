//! Which files of a repository a reference means: `user/repo[@revision][:QUANT]` parsed, the
//! GGUF of a quant (case-insensitive; Q4_K_M by default, else the first GGUF) with all parts
//! of a split model, or a whole safetensors checkpoint.
use anyhow::{bail, Result};

/// A Hugging Face repository reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoRef {
    pub repo: String,
    pub revision: String,
    pub quant: Option<String>,
    pub file: Option<String>,
}

/// The quant asked for when a reference names none.
pub const DEFAULT_QUANT: &str = "Q4_K_M";

impl RepoRef {
    /// `user/repo`, `user/repo:Q8_0`, `user/repo@v1.0:q4_k_m` (revision: a branch, tag or
    /// commit; main by default).
    pub fn parse(spec: &str) -> Result<RepoRef> {
        let (rest, quant) = match spec.rsplit_once(':') {
            Some((r, q)) if !q.is_empty() => (r, Some(q.to_string())),
            Some(_) => bail!("'{spec}': nothing after ':' (give a quant such as Q4_K_M)"),
            None => (spec, None),
        };
        let (repo, revision) = match rest.split_once('@') {
            Some((r, v)) if !v.is_empty() => (r, v.to_string()),
            Some(_) => bail!("'{spec}': nothing after '@' (give a branch, tag or commit)"),
            None => (rest, "main".to_string()),
        };
        check_repo_id(repo)?;
        check_revision(&revision)?;
        Ok(RepoRef {
            repo: repo.to_string(),
            revision,
            quant,
            file: None,
        })
    }
}

/// `org/name` as the hub allows it: letters, digits, `-`, `_`, `.`; no `--` or `..`.
pub fn check_repo_id(repo: &str) -> Result<()> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !p.contains("--")
            && !p.contains("..")
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
    };
    match repo.split_once('/') {
        Some((org, name)) if part_ok(org) && part_ok(name) => Ok(()),
        _ => bail!("'{repo}' is not a Hugging Face repository (expected user/name)"),
    }
}

/// A branch, tag or commit safe to use as a file name under `refs/`.
fn check_revision(rev: &str) -> Result<()> {
    let ok = rev.len() <= 128
        && rev
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !rev.starts_with('.');
    if !ok {
        bail!("'{rev}' is not a revision brisk can use (a branch, tag or commit hash)");
    }
    Ok(())
}

/// The quant a file name carries (`Llama-3.2-1B-Instruct-Q4_K_M.gguf` → `Q4_K_M`), from its
/// name or its folder's, upper-cased.
pub fn quant_of(path: &str) -> Option<String> {
    for part in path.rsplit('/') {
        let stem = part.strip_suffix(".gguf").unwrap_or(part);
        let found = stem
            .split(['-', '.'])
            .rfind(|t| is_quant_token(t))
            .map(|t| t.to_ascii_uppercase());
        if found.is_some() {
            return found;
        }
    }
    None
}

fn is_quant_token(t: &str) -> bool {
    let u = t.to_ascii_uppercase();
    if matches!(u.as_str(), "F16" | "F32" | "BF16" | "MXFP4" | "MXFP4_MOE") {
        return true;
    }
    let rest = u
        .strip_prefix("IQ")
        .or_else(|| u.strip_prefix("TQ"))
        .or_else(|| u.strip_prefix('Q'));
    let Some(rest) = rest else {
        return false;
    };
    let mut parts = rest.split('_');
    let digit = parts.next().unwrap_or("");
    digit.len() == 1
        && digit.as_bytes()[0].is_ascii_digit()
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && u.contains('_')
}

/// `name-00001-of-00003.gguf` → (`name`, 1, 3).
pub fn split_part(path: &str) -> Option<(&str, u32, u32)> {
    let stem = path.strip_suffix(".gguf")?;
    let (head, total) = stem.rsplit_once("-of-")?;
    let (base, index) = head.rsplit_once('-')?;
    let ok = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(index) || !ok(total) {
        return None;
    }
    Some((base, index.parse().ok()?, total.parse().ok()?))
}

fn is_gguf(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    name.ends_with(".gguf") && !name.contains("mmproj")
}

/// What to fetch from a repository, the file to load first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// GGUF files (one, or every part of a split model, part 1 first).
    Gguf(Vec<String>),
    /// A safetensors checkpoint: config, tokenizer files, shards.
    Checkpoint(Vec<String>),
}

impl Selection {
    pub fn files(&self) -> &[String] {
        match self {
            Selection::Gguf(f) | Selection::Checkpoint(f) => f,
        }
    }
}

/// Choose the files `r` means among a repository's `files` (all its paths).
pub fn select(r: &RepoRef, files: &[String]) -> Result<Selection> {
    let ggufs: Vec<&String> = {
        let mut g: Vec<&String> = files.iter().filter(|f| is_gguf(f)).collect();
        g.sort();
        g
    };
    if let Some(file) = &r.file {
        if !files.contains(file) {
            bail!("{} has no file '{file}'", r.repo);
        }
        return Ok(match is_gguf(file) {
            true => Selection::Gguf(with_parts(file, files)?),
            false => Selection::Gguf(vec![file.clone()]),
        });
    }
    if ggufs.is_empty() {
        let checkpoint = checkpoint_files(files);
        if r.quant.is_none() && checkpoint.iter().any(|f| f.ends_with(".safetensors")) {
            return Ok(Selection::Checkpoint(checkpoint));
        }
        match &r.quant {
            Some(q) => bail!("{} has no GGUF files, so no {q}", r.repo),
            None => bail!("{} has no GGUF files and no safetensors checkpoint", r.repo),
        }
    }
    let wanted = r.quant.as_deref().unwrap_or(DEFAULT_QUANT);
    let matching: Vec<&String> = ggufs
        .iter()
        .copied()
        .filter(|f| quant_of(f).is_some_and(|q| q.eq_ignore_ascii_case(wanted)))
        .collect();
    let chosen = match (matching.first(), &r.quant) {
        (Some(f), _) => *f,
        (None, None) => ggufs[0],
        (None, Some(q)) => {
            let mut quants: Vec<String> = ggufs.iter().filter_map(|f| quant_of(f)).collect();
            quants.sort();
            quants.dedup();
            let has = match quants.is_empty() {
                true => "no file names a quant".to_string(),
                false => format!("it has {}", quants.join(", ")),
            };
            bail!("{} has no {} GGUF; {has}", r.repo, q.to_ascii_uppercase());
        }
    };
    Ok(Selection::Gguf(with_parts(chosen, files)?))
}

/// `file` and, when it is part of a split model, every other part (part 1 first).
fn with_parts(file: &str, files: &[String]) -> Result<Vec<String>> {
    let Some((base, _, total)) = split_part(file) else {
        return Ok(vec![file.to_string()]);
    };
    let mut parts = Vec::new();
    for i in 1..=total {
        let name = format!("{base}-{i:05}-of-{total:05}.gguf");
        if !files.contains(&name) {
            bail!("split model {file}: part {name} is missing");
        }
        parts.push(name);
    }
    Ok(parts)
}

/// The files of a safetensors checkpoint worth fetching: configs, tokenizer files, chat
/// templates and the safetensors shards (not other frameworks' weights or `original/`).
pub fn checkpoint_files(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| !f.contains('/'))
        .filter(|f| {
            f.ends_with(".json")
                || f.ends_with(".safetensors")
                || f.ends_with(".jinja")
                || f.ends_with(".txt")
                || f.ends_with(".model")
                || f.ends_with(".tiktoken")
        })
        .cloned()
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_references() {
        let r = RepoRef::parse("bartowski/Llama-3.2-1B-Instruct-GGUF:q8_0").unwrap();
        assert_eq!(r.repo, "bartowski/Llama-3.2-1B-Instruct-GGUF");
        assert_eq!(r.quant.as_deref(), Some("q8_0"));
        assert_eq!(r.revision, "main");
        let r = RepoRef::parse("a/b@v2").unwrap();
        assert_eq!((r.revision.as_str(), r.quant), ("v2", None));
        for bad in [
            "nope", "a/b/c", "../x", "a/b:", "a/b@:Q4", "a/..", "a/b@../x", "a--b/c",
        ] {
            assert!(RepoRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reads_quants_from_names() {
        for (name, q) in [
            ("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", Some("Q4_K_M")),
            ("qwen2.5-0.5b-instruct-q8_0.gguf", Some("Q8_0")),
            ("Model-UD-Q4_K_XL.gguf", Some("Q4_K_XL")),
            ("m-IQ4_XS.gguf", Some("IQ4_XS")),
            ("Q5_K_M/m-Q5_K_M-00001-of-00002.gguf", Some("Q5_K_M")),
            ("model-f16.gguf", Some("F16")),
            ("Qwen3-4B.gguf", None),
        ] {
            assert_eq!(quant_of(name).as_deref(), q, "{name}");
        }
    }

    #[test]
    fn picks_the_quant_its_splits_or_the_first_gguf() {
        let files = names(&[
            "README.md",
            "m-Q4_K_M.gguf",
            "m-Q4_K_S.gguf",
            "m-Q8_0-00002-of-00002.gguf",
            "m-Q8_0-00001-of-00002.gguf",
            "mmproj-m-f16.gguf",
        ]);
        let pick = |spec: &str| select(&RepoRef::parse(spec).unwrap(), &files);
        assert_eq!(pick("a/b").unwrap().files(), ["m-Q4_K_M.gguf"]);
        assert_eq!(pick("a/b:q4_k_s").unwrap().files(), ["m-Q4_K_S.gguf"]);
        assert_eq!(
            pick("a/b:Q8_0").unwrap().files(),
            ["m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf"]
        );
        let e = pick("a/b:Q2_K").unwrap_err().to_string();
        assert!(e.contains("it has Q4_K_M, Q4_K_S, Q8_0"), "{e}");
        let only = names(&["x.gguf", "y-F16.gguf"]);
        let r = RepoRef::parse("a/b").unwrap();
        assert_eq!(select(&r, &only).unwrap().files(), ["x.gguf"]);
        let broken = names(&[
            "m-Q4_K_M-00001-of-00003.gguf",
            "m-Q4_K_M-00003-of-00003.gguf",
        ]);
        assert!(select(&r, &broken)
            .unwrap_err()
            .to_string()
            .contains("00002"));
    }

    #[test]
    fn a_safetensors_repo_is_fetched_whole() {
        let files = names(&[
            ".gitattributes",
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "original/consolidated.00.pth",
            "tokenizer.json",
            "tokenizer_config.json",
        ]);
        let r = RepoRef::parse("a/b").unwrap();
        let Selection::Checkpoint(f) = select(&r, &files).unwrap() else {
            panic!("not a checkpoint");
        };
        assert_eq!(f.len(), 6);
        assert!(!f
            .iter()
            .any(|x| x.ends_with(".bin") || x.starts_with("original")));
    }
}
