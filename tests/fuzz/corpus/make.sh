#!/usr/bin/env bash
# tests/fuzz/corpus/make.sh: (re)writes the seed corpora of `make fuzz` from our own tools and
# small pieces of ../shared/fixtures. Run from the repository root after `make`; needs
# python3. Seeds stay small (< 100 KB each, < 2 MB in all): libFuzzer mutates them, so a
# seed only has to reach a code path, not be big. The fixtures themselves are never copied.
set -euo pipefail
cd "$(dirname "$0")/../../.."
fx=${MOESCOPE_FIXTURES:-../shared/fixtures}
c=tests/fuzz/corpus
mkdir -p $c/fuzz_gguf $c/fuzz_tokenizer $c/fuzz_chat $c/fuzz_session $c/fuzz_theme

# fuzz_gguf: tiny synth models of every family and type, and cut fixture headers.
tiny=(--layers 1 --merges 0 --ctx 64 --seed 3)
s() { build/synth "${tiny[@]}" "$@" 2>/dev/null; }
s --arch qwen2moe --d-model 16 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 8 --shared-ff 8 -o $c/fuzz_gguf/qwen2moe-f32.gguf
s --arch qwen3moe --d-model 32 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 32 --type q8_0 -o $c/fuzz_gguf/qwen3moe-q8_0.gguf
s --arch olmoe --d-model 16 --heads 2 --experts 4 --experts-used 2 --ff 8 --type f16 -o $c/fuzz_gguf/olmoe-f16.gguf
s --arch mixtral --d-model 32 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 32 --type q4_0 -o $c/fuzz_gguf/mixtral-q4_0.gguf
s --arch granitemoe --d-model 16 --heads 2 --experts 2 --experts-used 1 --ff 8 -o $c/fuzz_gguf/granitemoe-f32.gguf
s --arch llama --d-model 16 --heads 2 --kv-heads 1 --ff 8 --type f16 -o $c/fuzz_gguf/llama-dense-f16.gguf
s --arch qwen2 --d-model 16 --heads 2 --kv-heads 1 --ff 8 -o $c/fuzz_gguf/qwen2-dense-f32.gguf
for f in stories260K mixtral-small-q4_k_m qwen2moe-small-q6_k; do
    [ -f "$fx/models/$f.gguf" ] && head -c 40000 "$fx/models/$f.gguf" >$c/fuzz_gguf/cut-$f.gguf
done
[ -f "$fx/tokenizer/ggml-vocab-llama-spm.gguf" ] &&
    head -c 30000 "$fx/tokenizer/ggml-vocab-llama-spm.gguf" >$c/fuzz_gguf/cut-vocab-llama-spm.gguf

# fuzz_tokenizer: the first byte picks the vocabulary and flags, the rest is text; the texts
# are llama.cpp's tokenizer test texts (the fixtures' .inp files) and a few of our own. An
# input that starts with "GGUF" is a whole vocabulary: the small synth ones.
python3 - "$fx" "$c/fuzz_tokenizer" <<'PY'
import glob, os, sys
fx, out = sys.argv[1], sys.argv[2]
texts = ["Hello world", " the router picks experts", "\u00e9t\u00e9 \u4e2d\u6587 \U0001f600\u200d\U0001f4bb",
         "<|im_start|>user\nhi<|im_end|>\n", "   \n\n\t  x", "3333 12.5e-3 don't I'M", "\xff\xfe"]
seen = set()
for p in sorted(glob.glob(os.path.join(fx, "tokenizer", "*.inp"))):
    for t in open(p, encoding="utf-8", errors="surrogateescape").read().split("\n__ggml_vocab_test__\n"):
        if t and t not in seen and len(t.encode("utf-8", "surrogateescape")) < 400:
            seen.add(t)
            texts.append(t)
for i, t in enumerate(texts):
    b = t.encode("utf-8", "surrogateescape")
    with open(os.path.join(out, "text-%03d" % i), "wb") as f:
        f.write(bytes([(i * 37) & 0xff]) + b)
PY
s --arch qwen2moe --d-model 16 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 8 --shared-ff 8 --merges 56 -o $c/fuzz_tokenizer/vocab-bpe.gguf
s --arch qwen2moe --d-model 16 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 8 --shared-ff 8 --hostile -o $c/fuzz_tokenizer/vocab-hostile.gguf

# fuzz_chat: the first byte picks the style; the template, then NUL-separated role and
# content pairs. Templates: every distinct tokenizer.chat_template in the fixtures.
python3 - "$fx" "$c/fuzz_chat" <<'PY'
import glob, os, struct, sys
fx, out = sys.argv[1], sys.argv[2]
def template(path):
    f = open(path, "rb").read()
    o = 24
    nkv = struct.unpack_from("<Q", f, 16)[0]
    size = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def s():
        nonlocal o
        n = struct.unpack_from("<Q", f, o)[0]; o += 8 + n
        return f[o - n:o]
    def v(t):
        nonlocal o
        if t == 8: return s()
        if t == 9:
            at, n = struct.unpack_from("<IQ", f, o); o += 12
            if at == 8:
                for _ in range(n): s()
            else:
                o += size[at] * n
            return None
        o += size[t]
    for _ in range(nkv):
        k = s(); t = struct.unpack_from("<I", f, o)[0]; o += 4
        x = v(t)
        if k == b"tokenizer.chat_template": return x
tmpls = []
for p in sorted(glob.glob(os.path.join(fx, "*", "*.gguf"))):
    t = template(p)
    if t and t not in tmpls: tmpls.append(t)
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
        open(os.path.join(out, "fixture-%d-%d" % (i, style)), "wb").write(bytes([style]) + t + b"\0" + msgs)
PY

# fuzz_session: a session written by `moescope run --session` on a tiny model.
s --arch qwen2moe --d-model 16 --heads 2 --kv-heads 1 --experts 4 --experts-used 2 --ff 8 --shared-ff 8 -o /tmp/moescope-corpus-$$.gguf
./moescope run -m /tmp/moescope-corpus-$$.gguf -p "Hi there" -n 4 --temp 0 -t 1 \
    --session $c/fuzz_session/run-4-tokens.json >/dev/null 2>&1
rm -f /tmp/moescope-corpus-$$.gguf

# fuzz_theme: the shipped themes.
cp themes/*.theme $c/fuzz_theme/

du -ah $c | sort -h | tail -5
