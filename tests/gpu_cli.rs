//! `-ngl`, `--device` and `--list-devices` on the command line: the GPU's text equals the CPU's,
//! no adapter (or a wrong name) is one error line and exit 1, never a silent CPU run.
#![cfg(feature = "wgpu")]
mod common;

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_brisk"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run brisk");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// stderr without the Vulkan loader's own complaints (Mesa prints them on headless machines).
fn brisk_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .collect()
}

fn has_gpu() -> bool {
    let ok = brisk::backend::gpu::open(None).is_ok();
    if !ok {
        eprintln!("SKIP: no GPU adapter");
    }
    ok
}

#[test]
fn list_devices_needs_no_model() {
    let (code, out, _) = run(&["run", "--list-devices"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("Available devices:\n"), "{out}");
    let (code, out, _) = run(
        &["run", "--list-devices"],
        &[("VK_ICD_FILENAMES", "/nonexistent")],
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("none"), "{out}");
}

#[test]
fn no_adapter_or_a_wrong_device_is_one_error_and_exit_1() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx
        .join("models/stories260K.gguf")
        .to_string_lossy()
        .into_owned();
    let base = ["run", "-m", &m, "-p", "hi", "-n", "2", "--quiet"];
    let (code, out, err) = run(
        &[&base[..], &["-ngl", "99"]].concat(),
        &[("VK_ICD_FILENAMES", "/nonexistent")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "");
    let lines = brisk_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("no GPU adapter"), "{err}");
    let (code, _, err) = run(&[&base[..], &["-dev", "CUDA7"]].concat(), &[]);
    assert_eq!(code, Some(1), "{err}");
    let lines = brisk_lines(&err);
    assert_eq!(
        lines,
        ["error: cannot use -ngl all: no GPU device named 'CUDA7' (see --list-devices)"]
    );
    // -ngl 0 and --device none are the CPU, adapter or not.
    for extra in [["-ngl", "0"], ["-dev", "none"]] {
        let (code, out, err) = run(
            &[&base[..], &extra[..]].concat(),
            &[("VK_ICD_FILENAMES", "/nonexistent")],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(!out.is_empty());
    }
}

#[test]
fn run_on_the_gpu_prints_the_cpus_text() {
    let Some(fx) = common::fixtures() else { return };
    if !has_gpu() {
        return;
    }
    let m = fx
        .join("models/prose-5m.gguf")
        .to_string_lossy()
        .into_owned();
    let base = [
        "run",
        "-m",
        &m,
        "-p",
        "The old man",
        "-n",
        "24",
        "--temp",
        "0",
    ];
    let (code, cpu, err) = run(&base, &[]);
    assert_eq!(code, Some(0), "{err}");
    for ngl in ["99", "3"] {
        let (code, gpu, err) = run(&[&base[..], &["-ngl", ngl]].concat(), &[]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(gpu, cpu, "-ngl {ngl}");
        assert!(
            err.contains("on Vulkan") || err.contains("on Metal") || err.contains("on Dx12"),
            "{err}"
        );
    }
}
