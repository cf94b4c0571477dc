//! brisk: the command-line entry point. Parses arguments (after rewriting llama.cpp's
//! multi-letter single-dash flags), runs the subcommand, and turns errors into one line on stderr
//! and an exit code: 0 success, 1 runtime error, 2 usage error, 130 interrupted.
use brisk::cli::{self, Exit};

fn main() {
    brisk::format::storage::install_sigbus_handler();
    let code = match cli::main(std::env::args_os().collect()) {
        Ok(()) => 0,
        Err(Exit::Usage(msg)) => {
            eprintln!("error: {msg}");
            2
        }
        Err(Exit::Clap(e)) => {
            let code = e.exit_code();
            let _ = e.print();
            code
        }
        Err(Exit::Interrupted) => 130,
        Err(Exit::Runtime(e)) => {
            eprintln!("error: {e:#}");
            // A download stopped by Ctrl-C (its partial file kept for the next run).
            match e.root_cause().to_string() == brisk::hub::INTERRUPTED {
                true => 130,
                false => 1,
            }
        }
    };
    std::process::exit(code);
}
