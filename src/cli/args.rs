//! Argument plumbing before clap: every option is resolved the way llama.cpp resolves it — a
//! whole argument names one flag (`-ngl`, `-cnv`, `-sm` are never split into letters) and a
//! flag's value is the next argument whatever it looks like (`-s -1`, `-p "- item"`). brisk's
//! own flags are rewritten to `--long=value`; llama.cpp flags go through `flag_map`: mapped,
//! ignored with a note, or refused with one line naming them.
use super::flag_map::{self, Handling};
use clap::Command;
use std::ffi::OsString;

/// One brisk option of a subcommand, read from its clap definition.
struct BriskFlag {
    long: String,
    longs: Vec<String>,
    shorts: Vec<char>,
    takes_value: bool,
    /// `--color` and friends: a value only when the next argument is one of these.
    optional_values: Option<Vec<String>>,
}

fn brisk_flags(sub: &Command) -> Vec<BriskFlag> {
    let mut out = Vec::new();
    for arg in sub.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let mut longs = vec![long.to_string()];
        if let Some(aliases) = arg.get_all_aliases() {
            longs.extend(aliases.iter().map(|s| s.to_string()));
        }
        let mut shorts: Vec<char> = arg.get_short().into_iter().collect();
        if let Some(s) = arg.get_all_short_aliases() {
            shorts.extend(s);
        }
        let takes_value = arg.get_action().takes_values();
        let optional = arg
            .get_num_args()
            .map(|r| r.min_values() == 0)
            .unwrap_or(false);
        let optional_values = (takes_value && optional).then(|| {
            arg.get_possible_values()
                .iter()
                .flat_map(|v| {
                    v.get_name_and_aliases()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        out.push(BriskFlag {
            long: long.to_string(),
            longs,
            shorts,
            takes_value,
            optional_values,
        });
    }
    // clap's own --help / --version.
    out.push(BriskFlag {
        long: "help".into(),
        longs: vec!["help".into()],
        shorts: vec!['h'],
        takes_value: false,
        optional_values: None,
    });
    out
}

/// The argument list for clap, and notes about ignored llama.cpp flags (shown under `-v`).
pub struct Prepared {
    pub argv: Vec<OsString>,
    pub notes: Vec<String>,
}

/// Resolve every flag of `argv` (program name first) against the subcommand's options and
/// llama.cpp's tables. A refused flag is a usage error (exit 2) with one line.
pub fn prepare(argv: Vec<OsString>, cli: &Command) -> Result<Prepared, String> {
    let mut it = argv.into_iter();
    let mut out: Vec<OsString> = it.next().into_iter().collect();
    let mut notes = Vec::new();
    let Some(sub_name) = it.next() else {
        return Ok(Prepared { argv: out, notes });
    };
    let sub = sub_name
        .to_str()
        .and_then(|n| cli.find_subcommand(n))
        .cloned();
    out.push(sub_name);
    let Some(sub) = sub else {
        out.extend(it);
        return Ok(Prepared { argv: out, notes });
    };
    let name = sub.get_name().to_string();
    let flags = brisk_flags(&sub);
    let bench_table = name == "bench";
    let rest: Vec<OsString> = it.collect();
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        let Some(s) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        if s == "--" {
            out.extend(rest[i - 1..].iter().cloned());
            break;
        }
        if !s.starts_with('-') || s == "-" {
            out.push(arg.clone());
            continue;
        }
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (s, None),
        };
        let brisk = find_brisk(&flags, flag);
        let resolved = match brisk {
            Some(f) => Resolved::Brisk(f),
            None => {
                let handling = if bench_table {
                    flag_map::bench(flag)
                } else {
                    flag_map::common(flag, &name)
                };
                match handling {
                    Some(Handling::Brisk(long)) => match find_brisk(&flags, long) {
                        Some(f) => Resolved::Brisk(f),
                        None => return Err(not_here(flag, long, &name, cli)),
                    },
                    Some(h) => Resolved::Llama(h),
                    None if flag.starts_with("--") => {
                        // Unknown long flag: clap's message has the suggestions.
                        out.push(arg.clone());
                        continue;
                    }
                    None => return Err(format!("brisk {name}: unknown option '{flag}'")),
                }
            }
        };
        // `optional`: the values a flag with an optional value takes (anything else after it is
        // the next argument, not its value).
        let mut take_value = |optional: Option<&[&str]>| -> Result<Option<String>, String> {
            if let Some(v) = &inline {
                return Ok(Some(v.clone()));
            }
            match (rest.get(i).and_then(|v| v.to_str()), optional) {
                (Some(v), Some(allowed)) if allowed.contains(&v) => {
                    i += 1;
                    Ok(Some(v.to_string()))
                }
                (_, Some(_)) => Ok(None),
                (Some(v), None) => {
                    i += 1;
                    Ok(Some(v.to_string()))
                }
                (None, None) if rest.get(i).is_some() => Err(format!(
                    "brisk {name}: the value of {flag} is not valid UTF-8"
                )),
                (None, None) => Err(format!("brisk {name}: {flag} needs a value")),
            }
        };
        match resolved {
            Resolved::Brisk(f) => {
                if f.takes_value {
                    let allowed: Option<Vec<&str>> = f
                        .optional_values
                        .as_ref()
                        .map(|v| v.iter().map(String::as_str).collect());
                    match take_value(allowed.as_deref())? {
                        Some(v) => out.push(OsString::from(format!("--{}={v}", f.long))),
                        None => out.push(OsString::from(format!("--{}", f.long))),
                    }
                } else {
                    match &inline {
                        // Let clap refuse `--ignore-eos=x` in its words.
                        Some(v) => out.push(OsString::from(format!("--{}={v}", f.long))),
                        None => out.push(OsString::from(format!("--{}", f.long))),
                    }
                }
            }
            Resolved::Llama(h) => {
                let value = match flag_map::llama_optional_values(flag) {
                    Some(allowed) => take_value(Some(allowed))?,
                    None if flag_map::llama_takes_value(flag, bench_table) => take_value(None)?,
                    None => None,
                };
                let shown = match &value {
                    Some(v) => format!("{flag} {v}"),
                    None => flag.to_string(),
                };
                if let Some(why) = value
                    .as_deref()
                    .and_then(|v| flag_map::harmless_value(flag, v))
                {
                    notes.push(format!("brisk: ignoring {shown}: {why}"));
                    continue;
                }
                let long = flag_map::llama_long_name(flag).filter(|l| *l != flag);
                let called = match long {
                    Some(l) => format!("{flag} is llama.cpp's {l}"),
                    None => format!("{flag} is a llama.cpp option"),
                };
                match h {
                    Handling::Ignored(why) => notes.push(format!("brisk: ignoring {shown}: {why}")),
                    Handling::Later(why) => return Err(format!("{called}: {why}")),
                    Handling::Unsupported | Handling::Brisk(_) => {
                        return Err(format!("{called}, which brisk {name} does not support"))
                    }
                }
            }
        }
    }
    Ok(Prepared { argv: out, notes })
}

enum Resolved<'a> {
    Brisk(&'a BriskFlag),
    Llama(Handling),
}

fn find_brisk<'a>(flags: &'a [BriskFlag], flag: &str) -> Option<&'a BriskFlag> {
    if let Some(long) = flag.strip_prefix("--") {
        return flags.iter().find(|f| f.longs.iter().any(|l| l == long));
    }
    let short = flag.strip_prefix('-')?;
    let mut chars = short.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    flags.iter().find(|f| f.shorts.contains(&c))
}

/// A flag brisk has, but not in this subcommand: say which subcommand takes it.
fn not_here(flag: &str, long: &str, sub: &str, cli: &Command) -> String {
    let others: Vec<String> = cli
        .get_subcommands()
        .filter(|c| c.get_name() != sub)
        .filter(|c| {
            c.get_arguments()
                .any(|a| a.get_long() == long.strip_prefix("--"))
        })
        .map(|c| format!("brisk {}", c.get_name()))
        .collect();
    let shown = if flag == long {
        flag.to_string()
    } else {
        format!("{flag} ({long})")
    };
    if others.is_empty() {
        format!("brisk {sub} does not take {shown}")
    } else {
        format!(
            "brisk {sub} does not take {shown}; {} does",
            others.join(" and ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cli() -> Command {
        Command::new("brisk")
            .subcommand(
                Command::new("run")
                    .arg(Arg::new("prompt").short('p').long("prompt"))
                    .arg(Arg::new("seed").short('s').long("seed"))
                    .arg(
                        Arg::new("stop")
                            .short('r')
                            .long("stop")
                            .action(ArgAction::Append),
                    )
                    .arg(Arg::new("temp").long("temp"))
                    .arg(Arg::new("ngl").long("n-gpu-layers"))
                    .arg(Arg::new("ctk").long("cache-type-k"))
                    .arg(
                        Arg::new("special")
                            .long("special")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(
                        Arg::new("verbose")
                            .short('v')
                            .long("verbose")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(
                        Arg::new("color")
                            .long("color")
                            .num_args(0..=1)
                            .value_parser(["auto", "always", "never"]),
                    ),
            )
            .subcommand(Command::new("chat").arg(Arg::new("sys").long("system-prompt")))
    }

    fn prep(args: &[&str]) -> Result<Vec<String>, String> {
        prepare(args.iter().map(OsString::from).collect(), &cli()).map(|p| {
            p.argv
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect()
        })
    }

    #[test]
    fn values_are_the_next_argument_whatever_they_look_like() {
        assert_eq!(
            prep(&[
                "brisk",
                "run",
                "-s",
                "-1",
                "-p",
                "- a list item",
                "--temp",
                "-0.5"
            ])
            .unwrap(),
            [
                "brisk",
                "run",
                "--seed=-1",
                "--prompt=- a list item",
                "--temp=-0.5"
            ]
        );
        assert_eq!(
            prep(&[
                "brisk",
                "run",
                "-ctk",
                "q8_0",
                "--stop=\\n",
                "-sp",
                "--",
                "-ngl"
            ])
            .unwrap(),
            [
                "brisk",
                "run",
                "--cache-type-k=q8_0",
                "--stop=\\n",
                "--special",
                "--",
                "-ngl"
            ]
        );
    }

    #[test]
    fn llamacpp_flags_are_mapped_ignored_or_refused_in_one_line() {
        let e = prep(&["brisk", "run", "-mli"]).unwrap_err();
        assert_eq!(
            e,
            "-mli is llama.cpp's --multiline-input, which brisk run does not support"
        );
        let e = prep(&["brisk", "run", "-ts", "1,1"]).unwrap_err();
        assert!(e.contains("GPU"), "{e}");
        assert_eq!(
            prep(&["brisk", "run", "-ngl", "99"]).unwrap(),
            ["brisk", "run", "--n-gpu-layers=99"]
        );
        assert!(prep(&["brisk", "run", "-mu", "https://x/y.gguf"])
            .unwrap_err()
            .contains("-hf"));
        assert!(prep(&["brisk", "run", "-cnv"]).is_err());
        assert!(prep(&["brisk", "run", "-sm", "row"]).is_err());
        let e = prep(&["brisk", "run", "-sys", "x"]).unwrap_err();
        assert_eq!(
            e,
            "brisk run does not take -sys (--system-prompt); brisk chat does"
        );
        // Harmless ones are accepted and their values consumed.
        let p = prepare(
            [
                "brisk",
                "run",
                "-fa",
                "-ngl",
                "0",
                "--no-warmup",
                "-tb",
                "2",
                "-sm",
                "none",
                "-p",
                "x",
            ]
            .iter()
            .map(OsString::from)
            .collect(),
            &cli(),
        )
        .unwrap();
        assert_eq!(p.argv, ["brisk", "run", "--n-gpu-layers=0", "--prompt=x"]);
        assert_eq!(p.notes.len(), 4, "{:?}", p.notes);
        assert_eq!(
            prep(&["brisk", "run", "-fa", "on", "-p", "x"]).unwrap(),
            ["brisk", "run", "--prompt=x"]
        );
    }

    #[test]
    fn optional_values_and_unknown_flags() {
        assert_eq!(
            prep(&["brisk", "run", "--color", "-p", "x"]).unwrap(),
            ["brisk", "run", "--color", "--prompt=x"]
        );
        assert_eq!(
            prep(&["brisk", "run", "--color", "never"]).unwrap(),
            ["brisk", "run", "--color=never"]
        );
        assert_eq!(
            prep(&["brisk", "run", "-zz"]).unwrap_err(),
            "brisk run: unknown option '-zz'"
        );
        assert_eq!(
            prep(&["brisk", "run", "--bogus"]).unwrap(),
            ["brisk", "run", "--bogus"]
        );
        assert_eq!(
            prep(&["brisk", "run", "-p"]).unwrap_err(),
            "brisk run: -p needs a value"
        );
    }
}
