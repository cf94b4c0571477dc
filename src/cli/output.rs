//! Standard output for generated text: streamed and flushed per piece, with a closed pipe
//! (`| head`) reported as a quiet end rather than an error.
use std::io::{ErrorKind, Write};

pub struct Out {
    closed: bool,
}

impl Default for Out {
    fn default() -> Self {
        Self::new()
    }
}

impl Out {
    pub fn new() -> Out {
        Out { closed: false }
    }

    /// Write and flush; returns false once the reader has gone away.
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|_| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }
}
