//! Ctrl-C handling: the first Ctrl-C asks the running command to stop at its next token (so it
//! can flush and exit 130); a second one exits at once, first removing any temporary files
//! registered with [`remove_on_exit`] (so no half-written output survives).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                if let Ok(files) = TEMP_FILES.lock() {
                    for f in files.iter() {
                        let _ = std::fs::remove_file(f);
                    }
                }
                std::process::exit(130);
            }
        });
    });
}

/// Remember a temporary file to delete if a second Ctrl-C ends the process.
pub fn remove_on_exit(path: &Path) {
    if let Ok(mut files) = TEMP_FILES.lock() {
        files.push(path.to_path_buf());
    }
}

/// Forget a file registered with [`remove_on_exit`] (renamed into place or already removed).
pub fn forget(path: &Path) {
    if let Ok(mut files) = TEMP_FILES.lock() {
        files.retain(|f| f != path);
    }
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Clear a handled request (chat returns to its prompt after stopping a reply).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
