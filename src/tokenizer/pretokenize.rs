//! Pre-tokenization for byte-level BPE: the regex set of each `tokenizer.ggml.pre` value, applied
//! the way llama.cpp applies it. Each regex splits every chunk left by the previous one into its
//! matches and the gaps between them (nothing is dropped). The common patterns (GPT-2, Llama 3,
//! Qwen2, Qwen3.5) run through hand-written splitters with llama.cpp's exact decisions; any other
//! pattern runs through `fancy-regex` on a "collapsed" view of the text in which each non-ASCII
//! code point stands for its category, as llama.cpp does, so `\p{L}` etc. follow its tables.

use super::unicode::{
    self, ACCENT_MARK, CATEGORIES, LETTER, NUMBER, PUNCTUATION, SYMBOL, WHITESPACE_FLAG,
};

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_ORIG: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const JAIS2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}";
const DEEPSEEK_LLM: &[&str] = &[
    r"[\r\n]",
    "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
    r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
    r"\s+$",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}+",
];
const DEEPSEEK3_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;
const GPT2_STYLE_TAIL: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const BLOOM: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GRANITE_EMB_MULTI: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const YOUTU: &[&str] = &[
    r"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];

/// How llama.cpp configures a byte-level BPE vocabulary for one `tokenizer.ggml.pre` value.
#[derive(Clone, Debug)]
pub struct PreConfig {
    pub regexes: Vec<&'static str>,
    pub ignore_merges: bool,
    pub clean_spaces: bool,
    /// `Some(true)` where llama.cpp turns BOS on by default for this pre-tokenizer.
    pub add_bos: bool,
    /// llama.cpp clears the default BOS id (chatglm).
    pub no_default_bos: bool,
}

/// Errors: `Err(name)` when the value is known to llama.cpp but not implemented here, or unknown.
pub enum PreLookup {
    Found(PreConfig),
    Unsupported,
    Unknown,
}

/// The configuration for a `tokenizer.ggml.pre` value (`""` = key missing: llama.cpp's default).
pub fn pre_config(pre: &str) -> PreLookup {
    let mut c = PreConfig {
        regexes: vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
        ignore_merges: false,
        clean_spaces: true,
        add_bos: false,
        no_default_bos: false,
    };
    let deepseek3 = vec![r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", DEEPSEEK3_MAIN];
    let chatglm = LLAMA3;
    match pre {
        "" | "default" => {}
        "minicpm5" => {
            c.regexes = vec![
                r"\p{N}{1,3}",
                r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ];
            c.ignore_merges = true;
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => {
            c.regexes = vec![LLAMA3];
            c.ignore_merges = true;
            c.add_bos = true;
        }
        "deepseek-llm" => {
            c.regexes = DEEPSEEK_LLM.to_vec();
            c.clean_spaces = false;
        }
        "deepseek-coder" => {
            c.regexes = vec![
                r"[\r\n]",
                r"\s?\p{L}+",
                r"\s?\p{P}+",
                "[一-龥ࠀ-一가-퟿]+",
                r"\p{N}",
            ];
            c.clean_spaces = false;
        }
        "deepseek-v3" | "hunyuan-dense" | "hy_v4" | "joyai-llm" => {
            c.regexes = deepseek3;
            c.clean_spaces = false;
        }
        "spark2_5" => {
            c.regexes = vec![
                r"\p{N}{1,3}",
                "[一-龥぀-ゟ゠-ヿ]+",
                r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##,
                r"\p{N}",
            ];
            c.clean_spaces = false;
        }
        "youtu" => {
            c.regexes = YOUTU.to_vec();
            c.clean_spaces = false;
            c.ignore_merges = true;
        }
        "falcon" => {
            c.regexes = vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2_STYLE_TAIL, "[0-9][0-9][0-9]"];
        }
        "mpt" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
        | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code"
        | "roberta-bpe" | "exaone4" | "olmo" | "jais" => {
            c.regexes = vec![GPT2];
        }
        "trillion" | "granite-docling" => {
            c.regexes = vec![GPT2];
            c.clean_spaces = false;
        }
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
            c.regexes = vec![r"\p{N}", GPT2];
        }
        "command-r" | "smollm" => {
            c.regexes = vec![r"\p{N}", GPT2];
            c.clean_spaces = false;
        }
        "jais-2" => c.regexes = vec![JAIS2],
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" => {
            c.regexes = vec![QWEN2];
            c.clean_spaces = false;
        }
        "megrez" | "stablelm2" => c.regexes = vec![QWEN2],
        "qwen35" => {
            c.regexes = vec![QWEN35];
            c.clean_spaces = false;
        }
        "dbrx" | "smaug-bpe" => c.regexes = vec![LLAMA3],
        "poro-chat" | "bloom" | "gpt3-finnish" => {
            c.regexes = vec![BLOOM];
            c.clean_spaces = pre != "poro-chat";
        }
        "chatglm-bpe" => {
            c.regexes = vec![chatglm];
            c.no_default_bos = true;
        }
        "glm4" | "glm5" => {
            c.regexes = vec![chatglm];
            c.no_default_bos = true;
            c.ignore_merges = true;
        }
        "viking" => {
            c.regexes = vec![BLOOM, r"\p{N}"];
            c.clean_spaces = false;
        }
        "tekken" => {
            c.regexes = vec![TEKKEN];
            c.clean_spaces = false;
            c.ignore_merges = true;
            c.add_bos = true;
        }
        "chameleon" => {
            c.regexes = vec![
                "<sentinel:[0-9]+>",
                "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                r"([\t\n]|    |  )",
                r"\p{N}",
                r"[\p{P}!-/:-@\[-`{-~]",
                GPT2_STYLE_TAIL,
            ];
            c.add_bos = true;
            c.clean_spaces = false;
        }
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => {
            c.regexes = vec![GPT4O];
            c.clean_spaces = false;
        }
        "granite-embed-multi-97m" => {
            c.regexes = vec![GRANITE_EMB_MULTI];
            c.clean_spaces = false;
            c.ignore_merges = true;
        }
        "superbpe" => {
            c.regexes = vec![r"\p{N}+", r"(?=(\d{3})+(?!\d))"];
            c.clean_spaces = false;
        }
        "bailingmoe" | "bailingmoe2" | "llada-moe" => {
            c.regexes = vec![
                r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
            ];
            c.clean_spaces = false;
        }
        "seed-coder" => {
            c.regexes = vec![
                r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
            ];
            c.clean_spaces = false;
        }
        "ufakzeka" => {
            c.regexes = vec![
                r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ];
            c.clean_spaces = false;
        }
        "grok-2" => {
            c.regexes = vec![QWEN2];
            c.clean_spaces = false;
        }
        "laguna" => {
            c.regexes = vec![r"[^\n]+|[\n]+", QWEN2];
            c.clean_spaces = false;
        }
        "exaone-moe" => {
            c.regexes = vec![
                r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+",
            ];
        }
        // Known to llama.cpp but needing tokenizer machinery brisk does not have (custom digit
        // grouping, Han-aware splitting, SentencePiece-style BPE without byte encoding).
        "kimi-k2"
        | "afmoe"
        | "tiny_aya"
        | "cohere2moe"
        | "gemma4"
        | "granite-embed-multi-311m"
        | "sarvam-moe"
        | "whitespace" => return PreLookup::Unsupported,
        _ => return PreLookup::Unknown,
    }
    PreLookup::Found(c)
}

enum Step {
    Gpt2,
    /// Llama 3 / Qwen2 / Qwen3.5 family: digits grouped up to `max_digits`; `marks` lets letter
    /// runs absorb combining marks.
    Llama3Like {
        max_digits: usize,
        marks: bool,
    },
    Regex {
        re: Box<fancy_regex::Regex>,
        collapse: bool,
    },
}

/// A compiled pre-tokenizer: split text into words before BPE merging.
pub struct PreTokenizer {
    steps: Vec<Step>,
}

// Stand-ins for non-ASCII code points in the collapsed view (private use area).
const COLLAPSED_OTHER: char = '\u{E0D0}';
const COLLAPSED_NUMBER: char = '\u{E0D1}';
const COLLAPSED_LETTER: char = '\u{E0D2}';
const COLLAPSED_PUNCT: char = '\u{E0D3}';
const COLLAPSED_MARK: char = '\u{E0D4}';
const COLLAPSED_SYMBOL: char = '\u{E0D5}';

/// A regex class body standing for one llama.cpp category in the collapsed view: the stand-in
/// plus the ASCII members of the category.
fn category_class(name: &str) -> Option<String> {
    let (c, ascii) = match name {
        "N" => (COLLAPSED_NUMBER, "0-9"),
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => (COLLAPSED_LETTER, "A-Za-z"),
        "P" => (COLLAPSED_PUNCT, r"!-#%-\*,-/:-;\?-@\[-\]_\{\}"),
        "M" => (COLLAPSED_MARK, ""),
        "S" => (COLLAPSED_SYMBOL, r"\$\+<->\^`\|\~"),
        _ => return None,
    };
    Some(format!("\\x{{{:X}}}{ascii}", c as u32))
}

/// Rewrite an ECMAScript-flavoured llama.cpp regex for `fancy-regex`: `\p{..}` becomes the
/// collapsed class (when `collapse`), `\d` becomes ASCII digits.
fn translate(re: &str, collapse: bool) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 16);
    let mut inside = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n == 'p' && collapse && chars.get(i + 2) == Some(&'{') {
                if let Some(close) = chars[i + 3..].iter().position(|&x| x == '}') {
                    let name: String = chars[i + 3..i + 3 + close].iter().collect();
                    if let Some(class) = category_class(&name) {
                        if inside {
                            out.push_str(&class);
                        } else {
                            out.push('[');
                            out.push_str(&class);
                            out.push(']');
                        }
                        i += 4 + close;
                        continue;
                    }
                }
            }
            if n == 'd' {
                out.push_str(if inside { "0-9" } else { "[0-9]" });
            } else {
                out.push(c);
                out.push(n);
            }
            i += 2;
            continue;
        }
        if c == '[' && !inside {
            inside = true;
        } else if c == ']' && inside {
            inside = false;
        }
        out.push(c);
        i += 1;
    }
    out
}

impl PreTokenizer {
    pub fn new(regexes: &[&str]) -> Result<PreTokenizer, String> {
        let mut steps = Vec::with_capacity(regexes.len());
        for &re in regexes {
            let step = match re {
                GPT2 => Step::Gpt2,
                LLAMA3 | LLAMA3_ORIG => Step::Llama3Like {
                    max_digits: 3,
                    marks: false,
                },
                QWEN2 => Step::Llama3Like {
                    max_digits: 1,
                    marks: false,
                },
                QWEN35 => Step::Llama3Like {
                    max_digits: 1,
                    marks: true,
                },
                _ => {
                    let collapse = [
                        "\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}",
                        "\\p{Lt}", "\\p{Lm}", "\\p{Lo}",
                    ]
                    .iter()
                    .any(|p| re.contains(p));
                    let translated = translate(re, collapse);
                    let re = fancy_regex::Regex::new(&translated)
                        .map_err(|e| format!("pre-tokenizer regex {re:?} does not compile: {e}"))?;
                    Step::Regex {
                        re: Box::new(re),
                        collapse,
                    }
                }
            };
            steps.push(step);
        }
        Ok(PreTokenizer { steps })
    }

    /// Split `text` into words (plain UTF-8, not yet byte-encoded). Empty words are dropped.
    pub fn split(&self, text: &str) -> Vec<String> {
        let cps: Vec<char> = text.chars().collect();
        let mut lens = vec![cps.len()];
        for step in &self.steps {
            let mut next = Vec::with_capacity(lens.len() * 2);
            let mut start = 0;
            for &len in &lens {
                let chunk = &cps[start..start + len];
                match step {
                    Step::Gpt2 => split_gpt2(chunk, &mut next),
                    Step::Llama3Like { max_digits, marks } => {
                        split_llama3(chunk, *max_digits, *marks, &mut next)
                    }
                    Step::Regex { re, collapse } => split_regex(chunk, re, *collapse, &mut next),
                }
                start += len;
            }
            lens = next;
        }
        let mut words = Vec::with_capacity(lens.len());
        let mut start = 0;
        for len in lens {
            if len > 0 {
                words.push(cps[start..start + len].iter().collect());
            }
            start += len;
        }
        words
    }
}

/// Records word lengths as a splitter advances through a chunk.
struct Emitter<'a> {
    out: &'a mut Vec<usize>,
    prev: usize,
}

impl Emitter<'_> {
    fn emit(&mut self, end: usize) {
        if end > self.prev {
            self.out.push(end - self.prev);
        }
        self.prev = end;
    }
}

fn flags_at(c: &[char], i: usize) -> u16 {
    c.get(i).map_or(0, |&ch| unicode::flags(ch as u32))
}

/// The contraction suffixes `'s 't 'm 'd` (2 chars) and `'re 've 'll` (3 chars), if one starts
/// at `pos`; `fold` makes the letters case-insensitive.
fn contraction_len(c: &[char], pos: usize, fold: bool) -> Option<usize> {
    if c[pos] != '\'' || pos + 1 >= c.len() {
        return None;
    }
    let low = |ch: char| if fold { ch.to_ascii_lowercase() } else { ch };
    let c1 = low(c[pos + 1]);
    if matches!(c1, 's' | 't' | 'm' | 'd') {
        return Some(2);
    }
    if pos + 2 < c.len() {
        let c2 = low(c[pos + 2]);
        if matches!((c1, c2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
            return Some(3);
        }
    }
    None
}

/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (and `\s+`).
fn split_gpt2(c: &[char], out: &mut Vec<usize>) {
    let n = c.len();
    let mut e = Emitter { out, prev: 0 };
    let mut pos = 0;
    while pos < n {
        if let Some(len) = contraction_len(c, pos, false) {
            pos += len;
            e.emit(pos);
            continue;
        }
        let space = (c[pos] == ' ') as usize;
        let f2 = flags_at(c, pos + space);
        let other = |f: u16| f & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && f != 0;
        let class: Option<fn(u16) -> bool> = if f2 & LETTER != 0 {
            Some(|f| f & LETTER != 0)
        } else if f2 & NUMBER != 0 {
            Some(|f| f & NUMBER != 0)
        } else if other(f2) {
            Some(|f| f & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && f != 0)
        } else {
            None
        };
        if let Some(member) = class {
            pos += space;
            while member(flags_at(c, pos)) {
                pos += 1;
            }
            e.emit(pos);
            continue;
        }
        let n_ws = (pos..n)
            .take_while(|&i| flags_at(c, i) & WHITESPACE_FLAG != 0)
            .count();
        if n_ws > 1 && pos + n_ws < n {
            // \s+(?!\S): leave the last space to prefix the next word.
            pos += n_ws - 1;
        } else if n_ws > 0 {
            pos += n_ws;
        } else {
            pos += 1;
        }
        e.emit(pos);
    }
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
/// \s*[\r\n]+|\s+(?!\S)|\s+` and its Qwen variants (`\p{N}` alone; letters with `\p{M}`).
fn split_llama3(c: &[char], max_digits: usize, marks: bool, out: &mut Vec<usize>) {
    let n = c.len();
    let mut e = Emitter { out, prev: 0 };
    let letter_mask = if marks { LETTER | ACCENT_MARK } else { LETTER };
    let is_letter = |f: u16| f & letter_mask != 0;
    let is_other = |f: u16| f & (WHITESPACE_FLAG | NUMBER | letter_mask) == 0;
    let mut pos = 0;
    while pos < n {
        let cp = c[pos];
        let f = flags_at(c, pos);
        if let Some(len) = contraction_len(c, pos, true) {
            pos += len;
            e.emit(pos);
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(cp == '\r' || cp == '\n' || f & NUMBER != 0)
            && (is_letter(f) || is_letter(flags_at(c, pos + 1)))
        {
            pos += 1;
            while is_letter(flags_at(c, pos)) {
                pos += 1;
            }
            e.emit(pos);
            continue;
        }
        // \p{N}{1,max}
        if f & NUMBER != 0 {
            let mut ini = pos;
            while flags_at(c, pos) & NUMBER != 0 {
                pos += 1;
                if pos - ini >= max_digits {
                    e.emit(pos);
                    ini = pos;
                }
            }
            e.emit(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (llama.cpp tests the first char's own flags for non-zero)
        let space = (cp == ' ') as usize;
        if is_other(flags_at(c, pos + space)) && f != 0 {
            pos += space;
            while {
                let g = flags_at(c, pos);
                is_other(g) && g != 0
            } {
                pos += 1;
            }
            while pos < n && (c[pos] == '\r' || c[pos] == '\n') {
                pos += 1;
            }
            e.emit(pos);
            continue;
        }
        let mut n_ws = 0;
        let mut last_newline_end = None;
        while flags_at(c, pos + n_ws) & WHITESPACE_FLAG != 0 {
            if matches!(c[pos + n_ws], '\r' | '\n') {
                last_newline_end = Some(pos + n_ws + 1);
            }
            n_ws += 1;
        }
        if let Some(end) = last_newline_end {
            // \s*[\r\n]+
            pos = end;
        } else if n_ws > 1 && pos + n_ws < n {
            // \s+(?!\S)
            pos += n_ws - 1;
        } else if n_ws > 0 {
            pos += n_ws;
        } else {
            pos += 1;
        }
        e.emit(pos);
    }
}

/// A general regex over one chunk: matches and the gaps between them become words.
fn split_regex(c: &[char], re: &fancy_regex::Regex, collapse: bool, out: &mut Vec<usize>) {
    let mut view = String::with_capacity(c.len());
    // Code point index at each byte offset of `view` (valid at char boundaries).
    let mut cp_at = Vec::with_capacity(c.len() * 2 + 1);
    for (i, &ch) in c.iter().enumerate() {
        let v = if (ch as u32) < 128 {
            ch
        } else {
            let f = unicode::flags(ch as u32);
            if f & WHITESPACE_FLAG != 0 {
                '\u{0B}'
            } else if !collapse {
                ch
            } else {
                match f & CATEGORIES {
                    NUMBER => COLLAPSED_NUMBER,
                    LETTER => COLLAPSED_LETTER,
                    PUNCTUATION => COLLAPSED_PUNCT,
                    ACCENT_MARK => COLLAPSED_MARK,
                    SYMBOL => COLLAPSED_SYMBOL,
                    _ => COLLAPSED_OTHER,
                }
            }
        };
        view.push(v);
        cp_at.resize(view.len(), i);
    }
    cp_at.push(c.len());
    let mut prev = 0;
    for m in re.find_iter(&view) {
        // A regex engine failure (backtrack limit) leaves the rest of the chunk whole.
        let Ok(m) = m else { break };
        let (s, t) = (cp_at[m.start()], cp_at[m.end()]);
        if s > prev {
            out.push(s - prev);
        }
        if t > s {
            out.push(t - s);
        }
        prev = t;
    }
    if c.len() > prev {
        out.push(c.len() - prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(regexes: &[&str], text: &str) -> Vec<String> {
        PreTokenizer::new(regexes)
            .map(|p| p.split(text))
            .unwrap_or_default()
    }

    #[test]
    fn every_known_pre_compiles() {
        for pre in [
            "",
            "minicpm5",
            "llama-bpe",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "spark2_5",
            "youtu",
            "falcon",
            "gpt-2",
            "trillion",
            "starcoder",
            "command-r",
            "jais-2",
            "qwen2",
            "qwen35",
            "dbrx",
            "bloom",
            "chatglm-bpe",
            "viking",
            "tekken",
            "chameleon",
            "gpt-4o",
            "granite-embed-multi-97m",
            "superbpe",
            "bailingmoe",
            "seed-coder",
            "ufakzeka",
            "grok-2",
            "laguna",
            "exaone-moe",
        ] {
            let PreLookup::Found(c) = pre_config(pre) else {
                panic!("{pre} not found")
            };
            if let Err(e) = PreTokenizer::new(&c.regexes) {
                panic!("{pre}: {e}");
            }
        }
    }

    #[test]
    fn gpt2_split() {
        assert_eq!(
            words(&[GPT2], "Hello world  it's 42!!"),
            ["Hello", " world", " ", " it", "'s", " 42", "!!"]
        );
        assert_eq!(words(&[GPT2], "a \n\n b"), ["a", " \n\n", " b"]);
    }

    #[test]
    fn llama3_split() {
        assert_eq!(
            words(&[LLAMA3], "1234567 HELLO'S\n\n  x"),
            ["123", "456", "7", " HELLO", "'S", "\n\n", " ", " x"]
        );
        assert_eq!(words(&[QWEN2], "x123"), ["x", "1", "2", "3"]);
    }

    #[test]
    fn generic_regex_uses_collapsed_categories() {
        // \p{N} alone, as starcoder's first regex: every digit isolated, including non-ASCII.
        assert_eq!(words(&[r"\p{N}"], "a12½b"), ["a", "1", "2", "½", "b"]);
        // \s+$ on the wide path: trailing whitespace (non-ASCII included) split off.
        assert_eq!(words(&[r"\s+$"], "ab \u{3000}"), ["ab", " \u{3000}"]);
    }
}
