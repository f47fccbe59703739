#!/usr/bin/env python3
"""tests/chat_jinja.py TEMPLATE CASES.json NOW: renders a chat template with Python's jinja2 (an
implementation independent of engine/text/chat.c) the way llama.cpp 80fb11ac calls its own
jinja engine (common/chat.cpp, common_chat_template_direct_apply_impl; common/jinja/lexer.cpp):
trim_blocks and lstrip_blocks on; the variables messages, bos_token, eos_token, enable_thinking
(true: llama.cpp's default for a template that thinks) and add_generation_prompt, which is
defined only when it is true (llama.cpp leaves it undefined otherwise); the variables of its
default --reasoning-preserve (jinja/caps.cpp caps_apply_preserve_reasoning: preserve_thinking
true, clear_thinking, truncate_history_thinking and drop_thinking false); strftime_now formats
the local time of NOW (seconds since the epoch). No template of tests/chat_templates reads
bos_token or eos_token. For a template with "<|channel|>" (gpt-oss's), what llama.cpp does
around it too: at load its check against channel tags in a reply is switched off
(common_chat_templates_init), and without the generation prompt the last "<|return|>" becomes
"<|end|>" (common_chat_params_init_gpt_oss).

CASES.json is a list of {"messages": [{"role": R, "content": C}, ...],
"add_generation_prompt": true|false}. Prints one line per case: the rendered text as a JSON
string."""
import json
import sys
import time

import jinja2
import jinja2.ext
import jinja2.sandbox


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def main():
    template_path, cases_path, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: time.strftime(fmt, time.localtime(now))
    with open(template_path, encoding="utf-8") as f:
        source = f.read()
    harmony = "<|channel|>" in source
    if harmony:
        source = source.replace(
            '{%- if "<|channel|>analysis<|message|>" in message.content or '
            '"<|channel|>final<|message|>" in message.content %}', "{%- if false %}")
    template = env.from_string(source)
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    sys.stdout.reconfigure(encoding="utf-8")
    for case in cases:
        variables = {"messages": case["messages"], "bos_token": "", "eos_token": "",
                     "enable_thinking": True, "preserve_reasoning": True,
                     "preserve_thinking": True, "clear_thinking": False,
                     "truncate_history_thinking": False, "drop_thinking": False}
        if case["add_generation_prompt"]:
            variables["add_generation_prompt"] = True
        text = template.render(**variables)
        at = text.rfind("<|return|>")
        if harmony and not case["add_generation_prompt"] and at >= 0:
            text = text[:at] + "<|end|>" + text[at + len("<|return|>"):]
        print(json.dumps(text, ensure_ascii=False))


if __name__ == "__main__":
    main()
