#!/usr/bin/env bash
# tools/bench.sh: what `make bench` runs. Builds the laptop-shape model of issue 4 with
# tools/synth (qwen2moe: 16 layers, d_model 1024, 16 heads, 4 kv heads, 32 experts, top-4,
# expert FFN 512, shared FFN 1024, vocab 32 000) in Q8_0 and Q4_K, runs `moescope bench` on
# each at 1 and 2 threads, and prints one table; then the MoE-against-dense tables (moescope
# compare with synth's dense models of equal active and of equal total parameters), the
# concurrency table (bench --parallel) and the memory-limit table (bench --mem-limit). Then
# moescope against llama.cpp's llama-bench (tools/llama_anchor.sh, when built: make
# bench-anchor) on those two, on the OLMoE-1B-7B shape in Q4_K_M, on the DeepSeek-V2-Lite
# shape (deepseek2, latent attention) in Q4_K_M and on the gpt-oss-20b shape with MXFP4 experts, on each kernel path (this CPU's best; AVX2 forced where the CPU has
# AVX-512, against llama.cpp's AVX2 build), at 2 threads, the two engines alternating round
# by round. Every figure is measured in this run.
#   BENCH_REPEATS (5): repeats per moescope bench run; BENCH_ROUNDS (3): alternating rounds
#   BENCH_OLMOE=0 skips the OLMoE shape (a 4.2 GB file, written once into build/bench/)
#   BENCH_DEEPSEEK=0 skips the DeepSeek-V2-Lite shape (a 9.6 GB file, written once; synth
#   makes one tensor at a time, about 1 GB of memory)
#   BENCH_GPTOSS=0 skips the gpt-oss-20b shape (a 13 GB file, written once: about 12 CPU-
#   minutes); BENCH_GPTOSS_LAYERS=N writes and measures
#   it with N of its 24 layers (a check that the row runs, not its figures)
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench
mkdir -p "$out"
reps=${BENCH_REPEATS:-5}

shape=(--arch qwen2moe --layers 16 --d-model 1024 --heads 16 --kv-heads 4 --experts 32
       --experts-used 4 --ff 512 --shared-ff 1024 --vocab 32000 --ctx 4096 --seed 7)
for t in q8_0 q4_k; do
    m="$out/laptop-$t.gguf"
    [ -s "$m" ] || build/synth "${shape[@]}" --type "$t" --name "laptop shape $t" -o "$m"
done

for t in q8_0 q4_k; do
    echo "== laptop shape, $t"
    ./moescope bench -m "$out/laptop-$t.gguf" -t 1,2 -p 64 -n 64 -r "$reps"
    echo
done

# MoE against dense at the same cost: the laptop shape beside a dense model with as many
# active parameters, and one with as many parameters in all (synth --dense-of), in Q8_0,
# the same prompt through both, 2 threads.
for d in active total; do
    m="$out/laptop-dense-$d-q8_0.gguf"
    [ -s "$m" ] || build/synth "${shape[@]}" --type q8_0 --dense-of "$d" \
        --name "laptop shape, dense of equal $d parameters, q8_0" -o "$m"
done
for d in active total; do
    echo "== MoE (A) against dense of equal $d parameters (B), q8_0, 2 threads"
    ./moescope compare -m "$out/laptop-q8_0.gguf" -m "$out/laptop-dense-$d-q8_0.gguf" -t 2 -n 64
    echo
done

# Many users at once: the laptop shape's concurrency table (bench --parallel: the issue's
# batch-8 target and the experts each step touches), then decode when it does not fit:
# 150 MB for its 590 MB (bench --mem-limit, on a copy, as the limit drops the pages of the
# file it runs on from the page cache), cold and prewarmed.
echo "== laptop shape q4_k, many sequences at once, 2 threads"
./moescope bench -m "$out/laptop-q4_k.gguf" --parallel 1,2,4,8,16 -t 2 -n 64
echo
cp "$out/laptop-q4_k.gguf" "$out/memlimit-q4_k.gguf"
sync "$out/memlimit-q4_k.gguf" # the kernel keeps dirty pages whatever it is told
echo "== laptop shape q4_k in 150 MB, 2 threads"
./moescope bench -m "$out/memlimit-q4_k.gguf" --mem-limit 150 -t 2 -p 64 -n 64
rm -f "$out/memlimit-q4_k.gguf"
echo

# OLMoE-1B-7B's shape: 16 layers, d_model 2048, 16 heads, 64 experts of which 8, expert FFN
# 1024, vocab 50 304, in Q4_K_M.
olmoe=(--arch olmoe --layers 16 --d-model 2048 --heads 16 --kv-heads 16 --experts 64
       --experts-used 8 --ff 1024 --vocab 50304 --ctx 4096 --seed 7)
models=("$out/laptop-q8_0.gguf" "$out/laptop-q4_k.gguf")
if [ "${BENCH_OLMOE:-1}" != 0 ]; then
    m="$out/olmoe-q4_k.gguf"
    if [ ! -s "$m" ]; then
        echo "== writing the OLMoE-shape model (4.2 GB, once) into $m"
        build/synth "${olmoe[@]}" --type q4_k --name "OLMoE-1B-7B shape q4_k" -o "$m.tmp"
        mv "$m.tmp" "$m"
    fi
    models+=("$m")
fi

# DeepSeek-V2-Lite's shape (deepseek2): 27 layers, d_model 2048, 16 heads of 128 no-RoPE and
# 64 RoPE key dims with values of 128, latent attention of kv_lora_rank 512 without a query
# LoRA, 64 experts of which 6, expert FFN 1408, 2 shared experts, 1 leading dense layer of
# FFN 10944, vocab 102 400, YaRN (factor 40 over 4096), in Q4_K_M.
dsv2=(--arch deepseek2 --layers 27 --d-model 2048 --heads 16 --head-dim 128 --rope-dim 64
      --kv-lora 512 --experts 64 --experts-used 6 --ff 1408 --shared 2 --dense-lead 1
      --dense-ff 10944 --vocab 102400 --ctx 163840 --seed 7)
if [ "${BENCH_DEEPSEEK:-1}" != 0 ]; then
    m="$out/deepseek2-lite-q4_k.gguf"
    if [ ! -s "$m" ]; then
        echo "== writing the DeepSeek-V2-Lite-shape model (9.6 GB, once) into $m"
        nice -n 10 build/synth "${dsv2[@]}" --type q4_k --name "DeepSeek-V2-Lite shape q4_k" \
            -o "$m.tmp"
        mv "$m.tmp" "$m"
    fi
    models+=("$m")
fi

# gpt-oss-20b's shape: 24 layers, d_model 2880, 64 heads of 64 with 8 KV heads, 32 experts of
# which 4, expert FFN 2880, vocab 201 088, a window of 128 on every other layer, YaRN; MXFP4
# experts with Q8_0 attention and F16 embeddings and output, as llama.cpp's converter writes
# gpt-oss (tools/synth's gpt-oss mix).
gl=${BENCH_GPTOSS_LAYERS:-24}
gptoss=(--arch gpt-oss --layers "$gl" --d-model 2880 --heads 64 --kv-heads 8 --head-dim 64
        --experts 32 --experts-used 4 --ff 2880 --vocab 201088 --rope-base 150000
        --ctx 131072 --seed 7)
if [ "${BENCH_GPTOSS:-1}" != 0 ]; then
    m="$out/gpt-oss-20b-mxfp4.gguf"
    [ "$gl" = 24 ] || m="$out/gpt-oss-20b-${gl}layers-mxfp4.gguf"
    if [ ! -s "$m" ]; then
        echo "== writing the gpt-oss-20b-shape model ($gl layers) into $m (once)"
        nice -n 10 build/synth "${gptoss[@]}" --type mxfp4 \
            --name "gpt-oss-20b shape mxfp4 ($gl layers)" -o "$m.tmp"
        mv "$m.tmp" "$m"
    fi
    models+=("$m")
fi

echo "== moescope against llama.cpp (llama-bench), 2 threads, pp64, pp512, tg64"
paths=(native)
grep -qw avx512f /proc/cpuinfo 2>/dev/null && grep -qw avx2 /proc/cpuinfo && paths+=(avx2)
rounds=${BENCH_ROUNDS:-3}
rec="$out/anchor.jsonl"
: >"$rec"
for m in "${models[@]}"; do
    name=$(basename "$m" .gguf)
    for path in "${paths[@]}"; do
        simd=""
        [ "$path" = avx2 ] && simd=avx2
        llama=$(tools/llama_anchor.sh --print bench --variant "$path" --if-built 2>/dev/null || true)
        for r in $(seq 1 "$rounds"); do
            echo "   $name, $path path, round $r of $rounds" >&2
            a=$(MOESCOPE_SIMD=$simd ./moescope bench -m "$m" -t 2 -p 64 -n 64 -r "$reps" --json)
            b=$(MOESCOPE_SIMD=$simd ./moescope bench -m "$m" -t 2 -p 512 -n 1 -r "$reps" --json)
            python3 -c 'import json,sys
a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2])
print(json.dumps({"model":sys.argv[3],"path":sys.argv[4],"engine":"moescope","round":int(sys.argv[5]),
 "pp64":a["pp_tps"],"pp512":b["pp_tps"],"tg":a["tg_tps"],"p50":a["itl_p50_ms"],"p99":a["itl_p99_ms"],
 "floor_ratio":a["floor_ratio"],"rss_mib":max(a["rss_mib"],b["rss_mib"]),"rss_budget_mib":a["rss_budget_mib"]}))' \
                "$a" "$b" "$name" "$path" "$r" >>"$rec"
            [ -n "$llama" ] || continue
            "$llama" -m "$m" -t 2 -p 64,512 -n 64 -r "$reps" -o jsonl 2>/dev/null |
                python3 -c 'import json,sys
out={"model":sys.argv[1],"path":sys.argv[2],"engine":"llama.cpp","round":int(sys.argv[3])}
for line in sys.stdin:
    t=json.loads(line)
    key="tg" if t["n_gen"] else "pp%d" % t["n_prompt"]
    out[key]=t["avg_ts"]
print(json.dumps(out))' "$name" "$path" "$r" >>"$rec"
        done
    done
done
python3 tools/bench_anchor.py "$rec"
echo

echo "== a large session: 10 000 tokens, 48 layers, 64 experts, k = 8"
build/session_bench 10000 48 64 8

echo "== drawing: a 200x60 frame of sessions of 1 000 to 8 000 tokens (48 layers, 64 experts, k = 8), replayed in tmux"
echo "   (flat: the frame time must not grow with the session; RSS grows with the trace only)"
if command -v tmux >/dev/null 2>&1; then
    printf '%8s %12s %14s %12s %12s\n' tokens "file bytes" "ms a frame" "ms at most" "peak RSS"
    for n in 1000 2000 4000 8000; do
        build/session_bench --write "$out/frames-$n.json" "$n" 48 64 8 >/dev/null
        sock="moescope-bench-$$-$n"
        rm -f "$out/frames.txt"
        tmux -L "$sock" new-session -d -x 200 -y 60 \
            "./moescope --replay '$out/frames-$n.json' --frames 300 2>'$out/frames.txt'"
        for _ in $(seq 1 120); do
            [ -s "$out/frames.txt" ] && break
            sleep 0.5
        done
        tmux -L "$sock" kill-server 2>/dev/null || true
        # "moescope: 300 frames at 200x60, N records: A ms a frame on average, M ms at most;
        #  peak RSS R MiB"
        sed -n 's/.* records: \([0-9.]*\) ms a frame on average, \([0-9.]*\) ms at most; peak RSS \([0-9.]*\) MiB/\1 \2 \3/p' \
            "$out/frames.txt" | {
            read -r avg max rss || { echo "$n: no frame report:"; cat "$out/frames.txt"; exit 1; }
            printf '%8d %12d %14s %12s %8s MiB\n' "$n" "$(stat -c %s "$out/frames-$n.json")" \
                "$avg" "$max" "$rss"
        }
        rm -f "$out/frames-$n.json"
    done
else
    echo "tmux is not installed: skipped (make test installs it)"
fi
