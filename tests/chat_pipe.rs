//! `brisk chat` in a pipe: one user turn per input line, no echo, one reply per turn on stdout,
//! status 0 at end of input, slash commands still work, and no way to hang.
mod common;

use common::process::{brisk_limited, Outcome};
use std::time::Duration;

/// Run `brisk ARGS` with `stdin` piped in; fails the test if it runs past 60 s.
fn chat(args: &[&str], stdin: &str) -> Outcome {
    brisk_limited(args, stdin.as_bytes(), Duration::from_secs(60))
}

/// The chat exited 0 after `n` turns (one `--stats` line per turn on stderr).
fn assert_turns(o: &Outcome, n: usize) {
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    assert_eq!(
        o.stderr.matches("brisk: prompt ").count(),
        n,
        "{}",
        o.stderr
    );
}

#[test]
fn two_lines_in_two_replies_out_and_status_zero() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "--chat-template",
            "chatml",
        ],
        "hi\nhow are you\n",
    );
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    assert!(!o.stdout.trim().is_empty(), "replies on stdout");
    assert!(o.stdout.ends_with('\n'));
    assert!(!o.stdout.contains("how are you"), "input is not echoed");
    assert!(!o.stdout.contains('\x1b'), "no colour in a pipe");

    // The same with counters: exactly two replies.
    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "--chat-template",
            "chatml",
            "--stats",
            "-n",
            "6",
            "--temp",
            "0",
        ],
        "hi\nhow are you\n",
    );
    assert_turns(&o, 2);
}

#[test]
fn commands_work_in_a_pipe_and_single_turn_answers_once() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let dir = std::env::temp_dir().join(format!("brisk-chat-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let save = dir.join("c.json");
    let input = format!(
        "/system Be brief.\nOnce upon a time\n/save {0}\n/reset\n/load {0}\n/stats\n/bogus\n/exit\nnever answered\n",
        save.display()
    );
    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "-n",
            "5",
            "--temp",
            "0",
            "--stats",
        ],
        &input,
    );
    assert_turns(&o, 1);
    assert!(o.stderr.contains("saved 3 messages"), "{}", o.stderr);
    assert!(o.stderr.contains("loaded 3 messages"), "{}", o.stderr);
    assert!(o.stderr.contains("unknown command /bogus"), "{}", o.stderr);
    assert!(o.stderr.contains("using chatml"), "{}", o.stderr);
    let saved = std::fs::read_to_string(&save).unwrap();
    assert!(saved.contains("Be brief.") && saved.contains("Once upon a time"));

    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "-n",
            "5",
            "-st",
            "--stats",
        ],
        "one\ntwo\nthree\n",
    );
    assert_turns(&o, 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replies_end_at_the_context_in_a_pipe_and_bad_arguments_fail_cleanly() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    // No -n: each reply ends at end of turn or when the tiny context is full; never a hang.
    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "-c",
            "64",
            "--temp",
            "1",
            "-s",
            "3",
            "--stats",
        ],
        "Once upon a time there was\nand then\nand then\n",
    );
    assert_turns(&o, 3);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);

    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "--chat-template",
            "nonsense",
        ],
        "hi\n",
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(
        o.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );

    let o = chat(
        &["chat", "-m", m.to_str().unwrap(), "-n", "3"],
        "/load /nonexistent/x.json\nhi\n",
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("cannot read /nonexistent/x.json"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_template_that_refuses_system_messages_gets_the_prompt_folded_with_a_notice() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let t = fx.join("templates/google-gemma-2-2b-it.jinja");
    let o = chat(
        &[
            "chat",
            "-m",
            m.to_str().unwrap(),
            "--chat-template",
            t.to_str().unwrap(),
            "-sys",
            "Be kind.",
            "-n",
            "4",
            "--stats",
        ],
        "hi\nagain\n",
    );
    assert_turns(&o, 2);
    assert_eq!(
        o.stderr
            .matches("folded into the first user message")
            .count(),
        1,
        "{}",
        o.stderr
    );
}
