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

# fuzz_gguf: small whole GGUFs (every value and array type, tensors of many types), and the
# headers of tiny synth models of every family and of fixtures, cut at the target's -max_len
# (their tensor data would be cut there anyway).
py=tests/fuzz/corpus/seeds.py
python3 $py gguf $c/fuzz_gguf
cut=8192
tiny=(--layers 1 --merges 0 --ctx 64 --seed 3)
s() { build/synth "${tiny[@]}" "$@" 2>/dev/null; }
synth_cut() { local out=$1; shift; s "$@" -o /tmp/moescope-corpus-$$.gguf && head -c $cut /tmp/moescope-corpus-$$.gguf >$out; }
synth_cut $c/fuzz_gguf/qwen2moe-f32.gguf --arch qwen2moe --d-model 16 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 8 --shared-ff 8
synth_cut $c/fuzz_gguf/qwen3moe-q8_0.gguf --arch qwen3moe --d-model 32 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 32 --type q8_0
synth_cut $c/fuzz_gguf/olmoe-f16.gguf --arch olmoe --d-model 16 --heads 2 --experts 4 --experts-used 2 --ff 8 --type f16
synth_cut $c/fuzz_gguf/mixtral-q4_0.gguf --arch mixtral --d-model 32 --heads 2 --kv-heads 1 --experts 2 --experts-used 1 --ff 32 --type q4_0
synth_cut $c/fuzz_gguf/granitemoe-f32.gguf --arch granitemoe --d-model 16 --heads 2 --experts 2 --experts-used 1 --ff 8
synth_cut $c/fuzz_gguf/llama-dense-f16.gguf --arch llama --d-model 16 --heads 2 --kv-heads 1 --ff 8 --type f16
synth_cut $c/fuzz_gguf/qwen2-dense-f32.gguf --arch qwen2 --d-model 16 --heads 2 --kv-heads 1 --ff 8
# and whole models of every family, as small as synth makes them (about 16 KB: the 256-byte
# vocabulary dominates), so that the model loader sees complete files too
for a in qwen2moe qwen3moe olmoe mixtral granitemoe llama qwen2; do
    ex=(--experts 2 --experts-used 1)
    case $a in llama | qwen2) ex=() ;; esac
    build/synth --arch $a --layers 1 --d-model 8 --heads 2 --ff 8 --merges 0 --type f16 --ctx 16 \
        "${ex[@]}" -o $c/fuzz_gguf/tiny-model-$a.gguf >/dev/null 2>&1
done
rm -f /tmp/moescope-corpus-$$.gguf
for f in stories260K mixtral-small-q4_k_m qwen2moe-small-q6_k; do
    [ -f "$fx/models/$f.gguf" ] && head -c $cut "$fx/models/$f.gguf" >$c/fuzz_gguf/cut-$f.gguf
done
[ -f "$fx/tokenizer/ggml-vocab-llama-spm.gguf" ] &&
    head -c $cut "$fx/tokenizer/ggml-vocab-llama-spm.gguf" >$c/fuzz_gguf/cut-vocab-llama-spm.gguf

# fuzz_tokenizer: small vocabulary-only GGUFs (each pre-tokenizer, SPM, hostile pieces, broken
# keys), and texts for every vocabulary the target has, the fixtures' included.
python3 $py tokenizer "$fx" $c/fuzz_tokenizer

# fuzz_chat: the first byte picks the style; the template, then NUL-separated role and
# content pairs. Templates: every distinct tokenizer.chat_template in the fixtures.
python3 $py chat "$fx" $c/fuzz_chat

# fuzz_session: a session written by `moescope run --session` on a tiny model (run refuses
# to replace another session's file, so the old seed goes first).
rm -f $c/fuzz_session/run-4-tokens.json
s --arch qwen2moe --d-model 16 --heads 2 --kv-heads 1 --experts 4 --experts-used 2 --ff 8 --shared-ff 8 -o /tmp/moescope-corpus-$$.gguf
./moescope run -m /tmp/moescope-corpus-$$.gguf -p "Hi there" -n 4 --temp 0 -t 1 \
    --session $c/fuzz_session/run-4-tokens.json >/dev/null 2>&1
rm -f /tmp/moescope-corpus-$$.gguf

# fuzz_ollama: Ollama's NDJSON streams, written from its documented API (no Ollama here).
mkdir -p $c/fuzz_ollama
python3 $py ollama $c/fuzz_ollama

# fuzz_theme: the shipped themes.
cp themes/*.theme $c/fuzz_theme/

du -ah $c | sort -h | tail -5
