#!/usr/bin/env bash
# tools/bench.sh: what `make bench` runs. Builds the laptop-shape model of issue 4 with
# tools/synth (qwen2moe: 16 layers, d_model 1024, 16 heads, 4 kv heads, 32 experts, top-4,
# expert FFN 512, shared FFN 1024, vocab 32 000) in Q8_0 and Q4_K, runs `moescope bench` on
# each at 1 and 2 threads, and prints one table. Every figure is measured in this run.
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
