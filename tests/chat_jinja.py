#!/usr/bin/env python3
"""tests/chat_jinja.py TEMPLATE CASES.json: renders a chat template with Python's jinja2 (an
implementation independent of engine/text/chat.c) the way llama.cpp 80fb11ac calls its own
jinja engine (common/chat.cpp, common_chat_template_direct_apply_impl; common/jinja/lexer.cpp):
trim_blocks and lstrip_blocks on; the variables messages, bos_token, eos_token, enable_thinking
(true: llama.cpp's default for a template that thinks) and add_generation_prompt, which is
defined only when it is true (llama.cpp leaves it undefined otherwise). Neither template of
tests/chat_templates reads bos_token or eos_token.

CASES.json is a list of {"messages": [{"role": R, "content": C}, ...],
"add_generation_prompt": true|false}. Prints one line per case: the rendered text as a JSON
string."""
import json
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def main():
    template_path, cases_path = sys.argv[1], sys.argv[2]
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    with open(template_path, encoding="utf-8") as f:
        template = env.from_string(f.read())
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    sys.stdout.reconfigure(encoding="utf-8")
    for case in cases:
        variables = {"messages": case["messages"], "bos_token": "", "eos_token": "",
                     "enable_thinking": True}
        if case["add_generation_prompt"]:
            variables["add_generation_prompt"] = True
        print(json.dumps(template.render(**variables), ensure_ascii=False))


if __name__ == "__main__":
    main()
