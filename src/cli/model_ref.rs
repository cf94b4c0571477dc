//! Model references on the command line: `-m PATH|ALIAS`, `-hf user/repo[:QUANT]` with
//! `--hf-file`, `--hf-token` and `--offline`, resolved to a local path (downloading into the
//! Hugging Face cache when needed) before anything is loaded.
use crate::hub::{aliases, pick::RepoRef, Hub};
use clap::Args;
use std::path::{Path, PathBuf};

/// Which model: `-m PATH|ALIAS`, or `-hf REPO[:QUANT]` with `-hff FILE`.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelSource {
    /// Model: a GGUF file (first part of a split model), a safetensors directory, or an alias
    /// from models.toml (`brisk ls --aliases`), downloaded when not yet cached.
    #[arg(
        short = 'm',
        long = "model",
        required_unless_present = "hf_repo",
        conflicts_with = "hf_repo"
    )]
    pub model: Option<PathBuf>,
    /// Run a model from Hugging Face (-hf user/repo[:QUANT]; QUANT default Q4_K_M, else the
    /// first GGUF), downloaded into the Hugging Face cache when not there yet.
    #[arg(long = "hf-repo", value_name = "REPO[:QUANT]")]
    pub hf_repo: Option<String>,
    /// The file to take from --hf-repo instead of a quant (-hff).
    #[arg(long = "hf-file", requires = "hf_repo")]
    pub hf_file: Option<String>,
    #[command(flatten)]
    pub hub: HubArgs,
}

impl ModelSource {
    /// A local path (a draft model already resolved), with these hub settings.
    pub fn local(path: PathBuf, hub: HubArgs) -> ModelSource {
        ModelSource {
            model: Some(path),
            hf_repo: None,
            hf_file: None,
            hub,
        }
    }

    /// The model's local path (an alias or `-hf` repository downloaded first when needed).
    pub fn resolve(&self, quiet: bool) -> anyhow::Result<PathBuf> {
        resolve(
            self.model.as_deref(),
            self.hf_repo.as_deref(),
            self.hf_file.as_deref(),
            &self.hub.hub(quiet),
        )
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct HubArgs {
    /// Hugging Face token (default: $HF_TOKEN, then the token `hf auth login` saved); sent to
    /// the hub only, never printed.
    #[arg(long = "hf-token", value_name = "TOKEN")]
    pub hf_token: Option<String>,
    /// Never connect: use what the Hugging Face cache holds (also HF_HUB_OFFLINE=1).
    #[arg(long = "offline")]
    pub offline: bool,
}

impl HubArgs {
    pub fn hub(&self, quiet: bool) -> Hub {
        Hub::from_env(self.hf_token.clone(), self.offline, quiet)
    }
}

/// The local path of a model given as `-m` (a path or an alias) or as `-hf` (with
/// `--hf-file`).
pub fn resolve(
    model: Option<&Path>,
    hf_repo: Option<&str>,
    hf_file: Option<&str>,
    hub: &Hub,
) -> anyhow::Result<PathBuf> {
    if let Some(spec) = hf_repo {
        let mut r = RepoRef::parse(spec)?;
        if let Some(f) = hf_file {
            r.file = Some(f.to_string());
        }
        return hub.resolve(&r, None);
    }
    let Some(path) = model else {
        anyhow::bail!("no model: give -m FILE, -m ALIAS or -hf user/repo[:QUANT]");
    };
    resolve_path_or_alias(path, hub)
}

/// A path that exists is itself; otherwise an alias from models.toml is resolved (and a name
/// that is neither is left for the loader to report).
pub fn resolve_path_or_alias(path: &Path, hub: &Hub) -> anyhow::Result<PathBuf> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let Some(name) = path.to_str() else {
        return Ok(path.to_path_buf());
    };
    match aliases::find(name)? {
        Some(alias) => hub.resolve(&alias.reference()?, alias.sha256.as_deref()),
        None => Ok(path.to_path_buf()),
    }
}

/// A reference as `brisk pull` and `brisk rm` take it: an alias, or `user/repo[:QUANT]`.
pub fn repo_ref(spec: &str, hf_file: Option<&str>) -> anyhow::Result<(RepoRef, Option<String>)> {
    if let Some(alias) = aliases::find(spec)? {
        return Ok((alias.reference()?, alias.sha256));
    }
    let mut r = RepoRef::parse(spec).map_err(|e| {
        anyhow::anyhow!("{e}; and '{spec}' is no alias (brisk ls --aliases lists them)")
    })?;
    if let Some(f) = hf_file {
        r.file = Some(f.to_string());
    }
    Ok((r, None))
}
