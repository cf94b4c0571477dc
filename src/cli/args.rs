//! Argument plumbing: llama.cpp's multi-letter single-dash flags (`-ngl 99`, `-ctk q8_0`) are
//! rewritten to their long forms before clap, whose short flags are single letters, parses them.
use std::ffi::OsString;

/// llama.cpp single-dash spellings and the long flags brisk gives them.
const MULTI_LETTER: &[(&str, &str)] = &[
    ("-sys", "--system-prompt"),
    ("-st", "--single-turn"),
    ("-ctk", "--cache-type-k"),
    ("-ctv", "--cache-type-v"),
    ("-md", "--model-draft"),
    ("-ngl", "--n-gpu-layers"),
    ("-fa", "--flash-attn"),
    ("-pg", "--pg"),
];

/// Rewrite `-sys X` / `-sys=X` style arguments (only whole arguments before a `--`).
pub fn rewrite_llamacpp_flags(argv: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(argv.len());
    let mut passthrough = false;
    for arg in argv {
        if passthrough {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let (flag, value) = match s.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (s, None),
        };
        match MULTI_LETTER.iter().find(|(short, _)| *short == flag) {
            Some((_, long)) => out.push(match value {
                Some(v) => OsString::from(format!("{long}={v}")),
                None => OsString::from(*long),
            }),
            None => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(args: &[&str]) -> Vec<String> {
        rewrite_llamacpp_flags(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn rewrites_multi_letter_flags_only_as_whole_arguments() {
        assert_eq!(
            rw(&["brisk", "chat", "-sys", "be kind", "-ctk=q8_0", "-s", "1"]),
            [
                "brisk",
                "chat",
                "--system-prompt",
                "be kind",
                "--cache-type-k=q8_0",
                "-s",
                "1"
            ]
        );
        assert_eq!(rw(&["brisk", "--", "-ngl"]), ["brisk", "--", "-ngl"]);
    }
}
