#!/bin/sh
# tools/valgrind_run.sh: a short `moescope run` on a fixture under valgrind memcheck (issue 7).
# Fails on any memory error and on any definitely lost block; indirectly/possibly lost and
# still-reachable blocks are reported but allowed (libraries keep some until exit).
#   tools/valgrind_run.sh [MODEL]     (default: the qwen2moe-tiny-f32 fixture)
# Installs valgrind when root and it is missing (tools/deps.sh test).
set -eu
cd "$(dirname "$0")/.."
model=${1:-${MOESCOPE_FIXTURES:-../shared/fixtures}/models/qwen2moe-tiny-f32.gguf}
[ -r "$model" ] || { echo "valgrind_run: no model at $model" >&2; exit 1; }
command -v valgrind >/dev/null 2>&1 || sh tools/deps.sh test
[ -x ./moescope ] || { echo "valgrind_run: build moescope first (make)" >&2; exit 1; }
log=${TMPDIR:-/tmp}/moescope-valgrind.$$.log
echo "valgrind memcheck: moescope run -m $model -n 8 --temp 0"
set +e
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --track-origins=yes --log-file="$log" \
    ./moescope run -m "$model" -p "The router picks experts for every token" -n 8 --temp 0 -t 2 \
    >/dev/null 2>&1
rc=$?
set -e
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|in use at exit' "$log" | sed 's/^==[0-9]*== */  /'
if [ "$rc" -ne 0 ]; then
    echo "valgrind_run: FAILED (exit $rc), full log:"
    cat "$log"
    rm -f "$log"
    exit 1
fi
rm -f "$log"
echo "valgrind_run: no errors, nothing definitely lost"
