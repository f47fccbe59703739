#!/usr/bin/env python3
"""tests/fuzz/corpus/seeds.py: the seeds of make.sh that are GGUF files or come from them.

    seeds.py gguf OUT          small whole GGUFs: every value type, every array type, tensors
                               of many types, version 2, another alignment
    seeds.py tokenizer FX OUT  vocabulary-only GGUFs (good and broken) and texts for every
                               vocabulary fuzz_tokenizer has, fixtures included
    seeds.py chat FX OUT       the fixtures' chat templates and each family's markers

Every seed stays far below the target's -max_len (Makefile): a seed that libFuzzer cuts
short only reaches the error for a cut file."""
import glob
import json
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?",
       U64: "Q", I64: "q", F64: "d"}
# ggml type: (values per block, bytes per block)
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
         8: (32, 34), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
         14: (256, 210), 30: (1, 2)}


def _str(s):
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _value(t, v):
    if t == STR:
        return _str(v)
    if t == ARR:
        et, items = v
        body = b"".join(_value(et, x) for x in items)
        return struct.pack("<IQ", et, len(items)) + body
    return struct.pack("<" + FMT[t], v)


def gguf(kvs, tensors=(), version=3, align=32):
    """kvs: [(key, type, value)], an array's value (element type, [items]);
    tensors: [(name, [ne...], ggml type)], data filled with a byte pattern."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += _str(k) + struct.pack("<I", t) + _value(t, v)
    data, off = b"", 0
    for name, ne, gt in tensors:
        blck, size = TYPES[gt]
        n = 1
        for d in ne:
            n *= d
        nbytes = n // blck * size
        out += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", gt, off)
        data += bytes((i * 37 + 11) & 0xFF for i in range(nbytes))
        data += b"\0" * (-len(data) % align)
        off = len(data)
    return out + b"\0" * (-len(out) % align) + data


def read_kvs(path):
    """[(key, value)] of a GGUF's metadata, in file order (strings as bytes, arrays as lists)."""
    f = open(path, "rb").read()
    o = 24

    def take(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, f, o)
        o += struct.calcsize("<" + fmt)
        return v[0]

    def value(t):
        nonlocal o
        if t == STR:
            n = take("Q")
            o += n
            return f[o - n:o]
        if t == ARR:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(FMT[t])

    out = []
    for _ in range(struct.unpack_from("<Q", f, 16)[0]):
        k = value(STR)
        out.append((k.decode(), value(take("I"))))
    return out


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def seeds_gguf(out):
    every = [("u8", U8, 200), ("i8", I8, -3), ("u16", U16, 60000), ("i16", I16, -300),
             ("u32", U32, 4000000000), ("i32", I32, -70000), ("f32", F32, 0.5), ("bool", BOOL, True),
             ("str", STR, "caf\u00e9"), ("u64", U64, 2**40), ("i64", I64, -2**40), ("f64", F64, 1e-300),
             ("general.alignment", U32, 32)]
    every += [("arr.%d" % t, ARR, (t, [1, 0, 1] if t == BOOL else [1, 2, 3])) for t in FMT]
    every += [("arr.str", ARR, (STR, ["a", "", "\u2581b"])), ("arr.empty", ARR, (U8, []))]
    tensors = [("t.f32", [4], 0), ("t.f16", [4, 2], 1), ("t.bf16", [8], 30), ("t.q8_0", [32, 2], 8),
               ("t.q4_0", [32], 2), ("t.q4_1", [32], 3), ("t.q5_0", [32], 6), ("t.q5_1", [32], 7),
               ("t.q4_K", [256], 12), ("t.q6_K", [256], 14), ("t.4d", [1, 2, 1, 2], 0)]
    write(os.path.join(out, "every-type.gguf"), gguf(every, tensors))
    write(os.path.join(out, "v2.gguf"), gguf(every[:4], tensors[:2], version=2))
    write(os.path.join(out, "align-64.gguf"),
          gguf([("general.alignment", U32, 64)], [("a", [3], 0), ("b", [256], 10), ("c", [256], 11)], align=64))
    write(os.path.join(out, "kv-only.gguf"), gguf(every))
    write(os.path.join(out, "tensors-only.gguf"), gguf([], tensors))
    write(os.path.join(out, "empty.gguf"), gguf([]))


# Pieces a hostile model could print: escapes, controls, bidi, zero-width, bad UTF-8.
HOSTILE = ["\x1b[31m", "\x1b[2J\x1b[H", "\x1b]52;c;SGVsbG8=\x07", "\x1b]0;pwned\x07", "\x07", "\r",
           "\u200b", "\u200d", "\u202e", "\u2066", "\udcff\udcfe", "\udcc0\udcaf", "\udce0\udc80\udcaf"]


def bpe_vocab(pre="qwen2", extra=(), **keys):
    """A byte-level BPE vocabulary: printable ASCII and space/newline in GPT-2's alphabet, a few
    merges, and specials of each kind."""
    toks = [chr(c) for c in range(0x21, 0x7F)] + ["\u0120", "\u010a"]
    merges = ["\u0120 t", "t h", "th e", "\u0120t he", "i n", "e r", "\u0120 \u0120", "1 2"]
    toks += ["\u0120t", "th", "the", "\u0120the", "in", "er", "\u0120\u0120", "12"]
    types = [1] * len(toks)
    for text, ty in [("<|endoftext|>", 3), ("<|im_start|>", 3), ("<|im_end|>", 1), ("<|fim_prefix|>", 1),
                     ("<|eom_id|>", 1), ("  ", 4), ("<unk>", 2), ("<|unused|>", 5)] + list(extra):
        toks.append(text)
        types.append(ty)
    kv = [("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.pre", STR, pre),
          ("tokenizer.ggml.tokens", ARR, (STR, toks)), ("tokenizer.ggml.token_type", ARR, (I32, types)),
          ("tokenizer.ggml.merges", ARR, (STR, merges)),
          ("tokenizer.ggml.bos_token_id", U32, len(toks) - 8)]
    return kv + [(k, t, v) for k, (t, v) in keys.items()]


def spm_vocab(name="llama", **keys):
    """A SentencePiece vocabulary: <unk> <s> </s>, some byte tokens, pieces with scores."""
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in (0x0A, 0x20, 0xC3, 0xA9, 0xE2, 0xFF)]
    types = [2, 3, 3] + [6] * 6
    pieces = ["\u2581", "\u2581t", "\u2581the", "th", "he", "e", "t", "h", "<|end|>", "<|placeholder1|>"]
    toks += pieces
    types += [1] * 8 + [3, 4]
    kv = [("general.name", STR, name), ("tokenizer.ggml.model", STR, "llama"),
          ("tokenizer.ggml.tokens", ARR, (STR, toks)), ("tokenizer.ggml.token_type", ARR, (I32, types)),
          ("tokenizer.ggml.scores", ARR, (F32, [0.0] * 9 + [-float(i) for i in range(len(pieces))]))]
    return kv + [(k, t, v) for k, (t, v) in keys.items()]


def fixture_vocabs(fx):
    """fuzz_tokenizer's fixture vocabularies, in its order: models/ then tokenizer/, by name."""
    return [p for d in ("models", "tokenizer") for p in sorted(glob.glob(os.path.join(fx, d, "*.gguf")))]


def seeds_tokenizer(fx, out):
    pres = ["default", "gpt-2", "llama3", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder",
            "deepseek-v3", "falcon", "starcoder", "mpt", "olmo", "refact", "dbrx"]
    vocabs = {"bpe-%s" % p: bpe_vocab(p) for p in pres}
    vocabs.update({
        "bpe-hostile": bpe_vocab(extra=[(h, 1) for h in HOSTILE] + [("\x1b[0m", 4), ("\u202e", 3)]),
        "bpe-keys": bpe_vocab("llama3", add_bos_token=(BOOL, True), add_eos_token=(BOOL, True),
                              eos_token_id=(U32, 3), unknown_token_id=(U32, 100),
                              padding_token_id=(U32, 2), eot_token_id=(U32, 7)),
        "bpe-jina-mask": bpe_vocab("jina-v2-de", extra=[("<mask>", 4)]),
        "bad-pre": bpe_vocab("no-such-pre"),
        "spm": spm_vocab(),
        "spm-no-prefix": spm_vocab(add_space_prefix=(BOOL, False), add_bos_token=(BOOL, False)),
        "spm-phi-3": spm_vocab("Phi-3 mini", eos_token_id=(U32, 17)),
        # Broken ones: each must be refused with a message.
        "bad-model": [("tokenizer.ggml.model", STR, "bert")] + spm_vocab()[2:],
        "bad-tokens": [("tokenizer.ggml.model", STR, "llama"), ("tokenizer.ggml.tokens", ARR, (U32, [1, 2]))],
        "bad-scores": spm_vocab()[:4] + [("tokenizer.ggml.scores", ARR, (F32, [0.0]))],
        "bad-types": spm_vocab()[:3] + [("tokenizer.ggml.token_type", ARR, (STR, ["a"] * 19))],
        "bad-no-merges": [kv for kv in bpe_vocab() if kv[0] != "tokenizer.ggml.merges"],
        "bad-bos": bpe_vocab(add_bos_token=(U8, 1)),
        "bad-empty": [("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.tokens", ARR, (STR, []))],
    })
    for name, kv in vocabs.items():
        kv = [(k if k.startswith(("general.", "tokenizer.")) else "tokenizer.ggml." + k, t, v) for k, t, v in kv]
        write(os.path.join(out, "vocab-%s.gguf" % name), gguf(kv))

    # Texts: llama.cpp's tokenizer test texts (the fixtures' .inp files) and a few of ours.
    # Byte 0 picks the vocabulary (below 128 the in-memory ones, from 128 the fixtures), byte 1
    # the flags (add_special, parse_special, the short-buffer check).
    texts = ["Hello world", " the router picks experts", "\u00e9t\u00e9 \u4e2d\u6587 \U0001f600\u200d\U0001f4bb",
             "<|im_start|>user\nhi<|im_end|>\n", "   \n\n\t  x", "3333 12.5e-3 don't I'M", "\udcff\udcfe",
             "\u2581<0x41> <s>x</s>"]
    for p in sorted(glob.glob(os.path.join(fx, "tokenizer", "*.inp"))):
        for t in open(p, encoding="utf-8", errors="surrogateescape").read().split("\n__ggml_vocab_test__\n"):
            if t and t not in texts and len(t.encode("utf-8", "surrogateescape")) < 400:
                texts.append(t)
    enc = [t.encode("utf-8", "surrogateescape") for t in texts]
    for i, b in enumerate(enc):
        write(os.path.join(out, "text-%03d" % i), bytes([i % 15, i % 8]) + b)
    for j, path in enumerate(fixture_vocabs(fx)):
        # None for a file the engine refuses (WordPiece; a repeated key): the target's
        # stand-in is an in-memory vocabulary, which the texts above already reach.
        kvs = read_kvs(path)
        if dict(kvs).get("tokenizer.ggml.model") not in (b"llama", b"gpt2") or len(dict(kvs)) < len(kvs):
            continue
        name = os.path.basename(path)[:-5]
        for k, flags in enumerate((0, 2, 5)):
            b = enc[(3 * j + k) % len(enc)]
            write(os.path.join(out, "fixture-%s-%d" % (name, k)), bytes([128 + j, flags]) + b)


def seeds_chat(fx, out):
    tmpls = []
    for p in sorted(glob.glob(os.path.join(fx, "*", "*.gguf"))):
        t = dict(read_kvs(p)).get("tokenizer.chat_template")
        if t and t not in tmpls:
            tmpls.append(t)
    # Short texts holding each family's markers, so every branch of the detector has a seed.
    tmpls += [m.encode() for m in [
        "{{'<|im_start|>' + role}}<|im_sep|>", "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}",
        "[SYSTEM_PROMPT] [INST]", "' [INST] ' + system_message [AVAILABLE_TOOLS]", "<<SYS>> [INST]",
        "<|user|>{{c}}<|assistant|>", "<|start_header_id|>{{ r }}<|end_header_id|>\n\n<|eot_id|>",
        "### Instruction:\n{{c}}\n### Response:\n<|EOT|>", "'Assistant: ' + message['content'] + eos_token",
        "<\uff5cUser\uff5c><\uff5cAssistant\uff5c><\uff5cend\u2581of\u2581sentence\uff5c>",
        "<|start_of_role|>user<|end_of_role|>{{c}}<|end_of_text|>", "chatml", "llama3", "granite"]]
    msgs = b"s\0You are terse.\0u\0Why is a mixture of experts fast?\0a\0It reads k of n experts.\0u\0\xe2\x80\xae\x1b[31m\0"
    for i, t in enumerate(tmpls):
        for style in range(8):
            write(os.path.join(out, "fixture-%d-%d" % (i, style)), bytes([style]) + t + b"\0" + msgs)


def seeds_ollama(out):
    """Ollama's NDJSON streams (/api/generate, /api/chat) as its API documents them: tokens
    with logprobs, text only, the done line's durations in ns, an error line, CRLF and blank
    lines, a last line without its newline. The first byte seeds the read sizes."""
    def line(tok, i, chat, lp=True):
        o = {"model": "m", "created_at": "2026-12-07T06:00:00Z", "done": False}
        if lp:
            o["logprobs"] = [{"token": tok, "bytes": list(tok.encode()), "logprob": -0.25 * (i + 1),
                              "top_logprobs": [{"token": tok, "logprob": -0.25 * (i + 1)},
                                               {"token": " and", "logprob": -3.5}]}]
        if chat:
            o["message"] = {"role": "assistant", "content": tok}
        else:
            o["response"] = tok
        return json.dumps(o).encode()
    done = {"model": "m", "done": True, "done_reason": "stop", "total_duration": 250000000,
            "load_duration": 20000000, "prompt_eval_count": 4, "prompt_eval_duration": 1500000,
            "eval_count": 5, "eval_duration": 80000000}
    toks = [" To", " be", ",", " \u00e9t\u00e9", " \U0001f600"]
    for chat in (False, True):
        name = "chat" if chat else "generate"
        d = dict(done, message={"role": "assistant", "content": ""}) if chat else dict(done, response="")
        body = b"\n".join([line(t, i, chat) for i, t in enumerate(toks)] + [json.dumps(d).encode()]) + b"\n"
        write(os.path.join(out, name + "-logprobs"), bytes([7]) + body)
        plain = b"\n".join([line(t, i, chat, False) for i, t in enumerate(toks)] + [json.dumps(d).encode()])
        write(os.path.join(out, name + "-text-no-last-newline"), bytes([200]) + plain)
    write(os.path.join(out, "error-line"), bytes([1]) + line(" To", 0, False) + b'\n{"error": "model \'x\' not found"}\n')
    write(os.path.join(out, "crlf-blank"), bytes([3]) + line(" To", 0, True) + b"\r\n\r\n \n" + json.dumps(done).encode() + b"\r\n")
    write(os.path.join(out, "cut-json"), bytes([42]) + line(" To", 0, False) + b'\n{"model": "m", "message": {"content": \n')


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gguf":
        seeds_gguf(sys.argv[2])
    elif cmd == "tokenizer":
        seeds_tokenizer(sys.argv[2], sys.argv[3])
    elif cmd == "chat":
        seeds_chat(sys.argv[2], sys.argv[3])
    elif cmd == "ollama":
        seeds_ollama(sys.argv[2])
    else:
        sys.exit("seeds.py: unknown command " + cmd)
