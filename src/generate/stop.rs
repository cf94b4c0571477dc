//! The `--stop` string filter: text that might begin a stop string is held back until it
//! either completes one (generation ends, the stop string unprinted) or cannot.
/// Holds back text that might be the start of a stop string; reports when one appears.
pub struct StopFilter {
    stops: Vec<String>,
    pending: String,
}

/// What to print after pushing text, and whether a stop string ended generation.
pub struct Filtered {
    pub emit: String,
    pub stopped: bool,
}

impl StopFilter {
    pub fn new(stops: Vec<String>) -> StopFilter {
        StopFilter {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            pending: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> Filtered {
        self.pending.push_str(text);
        // The earliest complete stop string ends the output just before it.
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min();
        if let Some(at) = hit {
            let emit = self.pending[..at].to_string();
            self.pending.clear();
            return Filtered {
                emit,
                stopped: true,
            };
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        let mut keep_from = self.pending.len();
        for (i, _) in self.pending.char_indices().rev() {
            let tail = &self.pending[i..];
            if self.stops.iter().any(|s| s.starts_with(tail)) {
                keep_from = i;
            }
        }
        let emit = self.pending[..keep_from].to_string();
        self.pending.drain(..keep_from);
        Filtered {
            emit,
            stopped: false,
        }
    }

    /// Whatever was held back, at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_string_split_across_pieces_is_caught_and_not_printed() {
        let mut f = StopFilter::new(vec!["\nUser:".into()]);
        let mut out = String::new();
        let mut stopped = false;
        for piece in ["Hello", " there\n", "Us", "er: more"] {
            let r = f.push(piece);
            out.push_str(&r.emit);
            if r.stopped {
                stopped = true;
                break;
            }
        }
        assert!(stopped);
        assert_eq!(out, "Hello there");
    }

    #[test]
    fn held_back_prefix_is_released_when_it_does_not_complete() {
        let mut f = StopFilter::new(vec!["END".into()]);
        assert_eq!(f.push("abc E").emit, "abc ");
        assert_eq!(f.push("N").emit, "");
        assert_eq!(f.push("x").emit, "ENx");
        assert_eq!(f.push("EN").emit, "");
        assert_eq!(f.finish(), "EN");
    }
}
