#!/usr/bin/env python3
"""tests/pretok_regex.py PRE FILE.inp: the words llama.cpp's regexes for pre-tokenizer PRE
(src/llama-vocab.cpp) make of each text of a llama.cpp tokenizer test file, computed with
Python's regex module (an implementation independent of engine/text/pretokenize.c).
A pre-tokenizer with several regexes applies them in turn, as llama.cpp's unicode_regex_split
does: each one splits every piece the previous ones made into its matches and the gaps.

The texts are separated by the line __ggml_vocab_test__ with a newline before and after
it. Prints one JSON list per text: the words as lists of codepoints."""
import json
import sys

import regex

CONTRACTION = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
PATTERNS = {
    # LLAMA_VOCAB_PRE_TYPE_GPT4O: the pattern llama.cpp runs (its rewrite of tokenizer.json's)
    "gpt-4o": [(r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + CONTRACTION +
               r"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + CONTRACTION +
               r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")],
    # LLAMA_VOCAB_PRE_TYPE_CHATGLM4
    "glm4": [(CONTRACTION + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")],
    # LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_LLM (DeepSeek-V2); non-ASCII as escapes, so that no editor
    # normalizes a range end (U+1F7D is canonically U+03CE)
    "deepseek-llm": [
        "[\r\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293"
        "\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c"
        "\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-"
        "\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a"
        "\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d"
        "\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3"
        "\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115"
        "\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-"
        "\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-"
        "\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06"
        "\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
        "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df"
        "\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
        "\\s+$",
        "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
        "\\p{N}+",
    ],
    # LLAMA_VOCAB_PRE_TYPE_DEEPSEEK3_LLM (DeepSeek-V3, R1)
    "deepseek-v3": [
        "\\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
        "\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    ],
}


def split_pieces(pattern, text, pieces):
    """Each piece (start, end) of text split into the pattern's matches and the gaps."""
    out = []
    for start, end in pieces:
        at = start
        for m in pattern.finditer(text[start:end]):
            if start + m.start() > at:  # text no branch matched is a word of its own
                out.append((at, start + m.start()))
            out.append((start + m.start(), start + m.end()))
            at = start + m.end()
        if at < end:
            out.append((at, end))
    return out


def main():
    patterns = [regex.compile(p) for p in PATTERNS[sys.argv[1]]]
    with open(sys.argv[2], encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    for text in texts:
        pieces = [(0, len(text))] if text else []
        for pattern in patterns:
            pieces = split_pieces(pattern, text, pieces)
        print(json.dumps([[ord(c) for c in text[a:b]] for a, b in pieces]))


if __name__ == "__main__":
    main()
