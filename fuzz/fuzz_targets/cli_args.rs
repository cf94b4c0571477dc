//! The argument resolution before clap (llama.cpp's flags) and clap itself, on arbitrary argv
//! (NUL-separated): an error is fine, a panic is not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::sync::OnceLock;

fn command() -> &'static clap::Command {
    static C: OnceLock<clap::Command> = OnceLock::new();
    C.get_or_init(brisk::cli::command)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut argv: Vec<OsString> = vec!["brisk".into()];
    argv.extend(text.split('\0').take(64).map(OsString::from));
    let cmd = command();
    if let Ok(p) = brisk::cli::args::prepare(argv, cmd) {
        let _ = cmd.clone().try_get_matches_from(p.argv);
    }
});
