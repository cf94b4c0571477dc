//! Model aliases: the project's `models.toml` (built in) overlaid by the user's
//! `$XDG_CONFIG_HOME/brisk/models.toml` (same schema; the user's entry wins), each naming a
//! Hugging Face repository and a file or quant in it.
use super::pick::{check_repo_id, RepoRef};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

const PROJECT: &str = include_str!("../../models.toml");

/// One alias.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    pub repo: String,
    /// The file in the repository (else `quant`, else the default quant).
    pub file: Option<String>,
    pub quant: Option<String>,
    pub revision: Option<String>,
    /// GGUF `general.architecture` (informational).
    pub arch: Option<String>,
    /// Chat template hint (informational).
    pub template: Option<String>,
    /// The file's sha256, checked after download and before use.
    pub sha256: Option<String>,
    /// A suggested draft model alias for speculative decoding.
    pub draft: Option<String>,
}

impl Alias {
    /// The repository reference this alias stands for.
    pub fn reference(&self) -> Result<RepoRef> {
        check_repo_id(&self.repo)?;
        let spec = match &self.revision {
            Some(rev) => format!("{}@{rev}", self.repo),
            None => self.repo.clone(),
        };
        let mut r = RepoRef::parse(&spec)?;
        r.quant = self.quant.clone();
        r.file = self.file.clone();
        Ok(r)
    }
}

/// The user's alias file.
pub fn user_file() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("brisk").join("models.toml"))
}

/// The aliases of a models.toml. An unquoted name with dots (`[llama-3.2-1b]`) is a nested
/// table in TOML; it is read back as the dotted name the user meant.
fn parse(text: &str, origin: &str) -> Result<BTreeMap<String, Alias>> {
    let table: toml::Table =
        toml::from_str(text).with_context(|| format!("{origin} is not a valid models.toml"))?;
    let mut out = BTreeMap::new();
    collect(&table, "", origin, &mut out)?;
    Ok(out)
}

fn collect(
    table: &toml::Table,
    prefix: &str,
    origin: &str,
    out: &mut BTreeMap<String, Alias>,
) -> Result<()> {
    for (key, value) in table {
        let name = match prefix {
            "" => key.clone(),
            p => format!("{p}.{key}"),
        };
        let Some(t) = value.as_table() else {
            bail!("{origin}: '{name}' is not a [table] of repo, file, ...");
        };
        if t.contains_key("repo") {
            let alias: Alias = value
                .clone()
                .try_into()
                .with_context(|| format!("{origin}: alias '{name}'"))?;
            out.insert(name, alias);
        } else {
            collect(t, &name, origin, out)?;
        }
    }
    Ok(())
}

/// Every alias, the user's over the project's.
pub fn all() -> Result<BTreeMap<String, Alias>> {
    let mut map = parse(PROJECT, "the built-in models.toml")?;
    if let Some(path) = user_file() {
        match std::fs::read_to_string(&path) {
            Ok(text) => map.extend(parse(&text, &path.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        }
    }
    Ok(map)
}

/// The alias `name` (exact, else case-insensitive).
pub fn find(name: &str) -> Result<Option<Alias>> {
    let map = all()?;
    if let Some(a) = map.get(name) {
        return Ok(Some(a.clone()));
    }
    Ok(map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, a)| a.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_file_parses_and_every_alias_is_a_reference() {
        let map = parse(PROJECT, "models.toml").unwrap();
        assert!(map.len() >= 5);
        for (name, a) in &map {
            let r = a.reference().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                r.file.is_some() || r.quant.is_some() || a.file.is_none(),
                "{name}"
            );
            if let Some(d) = &a.draft {
                assert!(map.contains_key(d), "{name}: draft {d} is not an alias");
            }
        }
    }

    #[test]
    fn dotted_names_are_names() {
        let map = parse("[llama-3.2-1b]\nrepo = \"a/b\"\n", "t").unwrap();
        assert!(map.contains_key("llama-3.2-1b"), "{:?}", map.keys());
        assert!(parse("x = 1\n", "t").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse("[x]\nrepo = \"a/b\"\nfiel = \"y\"\n", "t").is_err());
    }
}
