//! Ctrl-C handling: the first Ctrl-C asks the running command to stop at its next token (so it
//! can flush and exit 130); a second one exits at once.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Clear a handled request (chat returns to its prompt after stopping a reply).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
