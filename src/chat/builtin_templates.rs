//! Chat templates built into brisk, for models that carry none, chosen by `--chat-template NAME`.
//! Written for brisk in Jinja after each model family's published prompt format.

/// A built-in template: its name, its Jinja source, and the text that ends an assistant turn.
pub struct Builtin {
    pub name: &'static str,
    pub source: &'static str,
    pub end_of_turn: &'static str,
}

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "chatml",
        source: "{%- for m in messages -%}\
                 {{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}\
                 {%- endfor -%}\
                 {%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif -%}",
        end_of_turn: "<|im_end|>",
    },
    Builtin {
        name: "llama2",
        source: "{%- set sys = messages[0].content if messages and messages[0].role == 'system' else none -%}\
                 {%- set first = 1 if sys is not none else 0 -%}\
                 {%- for m in messages[first:] -%}\
                 {%- if m.role == 'user' -%}\
                 {{ bos_token + '[INST] ' }}\
                 {%- if loop.first and sys is not none %}{{ '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' }}{% endif -%}\
                 {{ m.content | trim + ' [/INST]' }}\
                 {%- elif m.role == 'assistant' -%}\
                 {{ ' ' + m.content | trim + ' ' + eos_token }}\
                 {%- endif -%}\
                 {%- endfor -%}",
        end_of_turn: "</s>",
    },
    Builtin {
        name: "llama3",
        source: "{{- bos_token -}}\
                 {%- for m in messages -%}\
                 {{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content | trim + '<|eot_id|>' }}\
                 {%- endfor -%}\
                 {%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif -%}",
        end_of_turn: "<|eot_id|>",
    },
    Builtin {
        name: "mistral",
        source: "{{- bos_token -}}\
                 {%- set sys = messages[0].content if messages and messages[0].role == 'system' else none -%}\
                 {%- set first = 1 if sys is not none else 0 -%}\
                 {%- for m in messages[first:] -%}\
                 {%- if m.role == 'user' -%}\
                 {{ '[INST] ' }}{% if loop.first and sys is not none %}{{ sys + '\\n\\n' }}{% endif %}{{ m.content + '[/INST]' }}\
                 {%- elif m.role == 'assistant' -%}\
                 {{ m.content + eos_token }}\
                 {%- endif -%}\
                 {%- endfor -%}",
        end_of_turn: "</s>",
    },
    Builtin {
        name: "phi3",
        source: "{%- for m in messages -%}\
                 {{ '<|' + m.role + '|>\\n' + m.content + '<|end|>\\n' }}\
                 {%- endfor -%}\
                 {%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif -%}",
        end_of_turn: "<|end|>",
    },
    Builtin {
        name: "gemma",
        source: "{{- bos_token -}}\
                 {%- set sys = messages[0].content if messages and messages[0].role == 'system' else none -%}\
                 {%- set first = 1 if sys is not none else 0 -%}\
                 {%- for m in messages[first:] -%}\
                 {%- set role = 'model' if m.role == 'assistant' else m.role -%}\
                 {{ '<start_of_turn>' + role + '\\n' }}\
                 {%- if loop.first and sys is not none %}{{ sys + '\\n\\n' }}{% endif -%}\
                 {{ m.content | trim + '<end_of_turn>\\n' }}\
                 {%- endfor -%}\
                 {%- if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif -%}",
        end_of_turn: "<end_of_turn>",
    },
    Builtin {
        name: "zephyr",
        source: "{%- for m in messages -%}\
                 {{ '<|' + m.role + '|>\\n' + m.content + eos_token + '\\n' }}\
                 {%- endfor -%}\
                 {%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif -%}",
        end_of_turn: "</s>",
    },
];

pub fn get(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names, for help and error messages.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}
