#!/usr/bin/env python3
"""tests/pretok_regex.py PRE FILE.inp: the words llama.cpp's regex for pre-tokenizer PRE
(src/llama-vocab.cpp) makes of each text of a llama.cpp tokenizer test file, computed with
Python's regex module (an implementation independent of engine/text/pretokenize.c).

The texts are separated by the line __ggml_vocab_test__ with a newline before and after
it. Prints one JSON list per text: the words as lists of codepoints."""
import json
import sys

import regex

CONTRACTION = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
PATTERNS = {
    # LLAMA_VOCAB_PRE_TYPE_GPT4O: the pattern llama.cpp runs (its rewrite of tokenizer.json's)
    "gpt-4o": (r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + CONTRACTION +
               r"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + CONTRACTION +
               r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
    # LLAMA_VOCAB_PRE_TYPE_CHATGLM4
    "glm4": (CONTRACTION + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
             r"\s*[\r\n]+|\s+(?!\S)|\s+"),
}


def main():
    pattern = regex.compile(PATTERNS[sys.argv[1]])
    with open(sys.argv[2], encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    for text in texts:
        words, at = [], 0
        for m in pattern.finditer(text):
            if m.start() > at:  # text no branch matched is a word of its own
                words.append([ord(c) for c in text[at:m.start()]])
            words.append([ord(c) for c in m.group(0)])
            at = m.end()
        if at < len(text):
            words.append([ord(c) for c in text[at:]])
        print(json.dumps(words))


if __name__ == "__main__":
    main()
