#!/bin/sh
# tests/e2e_hostile.sh: the real binary against a hostile user and hostile files (issue 17),
# outside the terminal (tests/e2e_signals.sh has the app's part):
#   stdout  - a failed write to standard output (>/dev/full, >&-) exits 1 with one line;
#   target  - every file moescope writes follows one rule: a symbolic link is written
#             through, a character device written in place, a named pipe, folder or dangling
#             link refused; nothing is ever renamed over them;
#   efbig   - a file size limit (ulimit -f) is a write error: exit 1, one line, no temp file;
#   escape  - strings from a session file reach error messages escaped (no raw ESC);
#   fifo    - a named pipe given as a model, prompt file or theme is refused, never read;
#   sigbus  - a model file truncated under a run ends it with one line, not SIGBUS;
#   minor   - a huge prompt file refused before tokenizing, --trace checked before
#             generation, bench naming the bad value, bad hyper-parameters refused, info
#             --json escapes of non-UTF-8 names.
# Model: ../shared/fixtures/models/qwen2moe-tiny-f32.gguf (or $MOESCOPE_FIXTURES), and
# build/synth. Skips with a message when they are absent. MOESCOPE_BIN picks another binary.
# Last line: `N passed, N failed`.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BIN=${MOESCOPE_BIN:-"$ROOT/moescope"}
SYNTH=${SYNTH_BIN:-"$ROOT/build/synth"}
FIX=${MOESCOPE_FIXTURES:-../shared/fixtures}
MODEL="$FIX/models/qwen2moe-tiny-f32.gguf"
pass=0
fail=0

ok() { pass=$((pass + 1)); printf "ok   %s\n" "$1"; }
bad() { fail=$((fail + 1)); printf "FAIL %s\n" "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

[ -r "$MODEL" ] || { echo "skipped: no fixture model at $MODEL"; finish; }
[ -x "$BIN" ] || { echo "skipped: build moescope first (make)"; finish; }
MODEL="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/moescope-hostile.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
export HOME="$TMP" XDG_STATE_HOME="$TMP/state" XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config"
export LC_ALL=C.UTF-8

# one_line LABEL WANT_RC REGEX: checks $TMP/rc and $TMP/err of the last `runit`: the exit
# status, exactly one line on stderr (run's closing figures line aside), and that line
# matching REGEX.
runit() {
    timeout 20 "$@" >"$TMP/out" 2>"$TMP/all-err" </dev/null
    echo $? >"$TMP/rc"
    grep -av '^moescope: prompt [0-9]* tok' "$TMP/all-err" >"$TMP/err"
}
one_line() {
    rc=$(cat "$TMP/rc")
    lines=$(wc -l <"$TMP/err")
    if [ "$rc" = "$2" ] && [ "$lines" = 1 ] && grep -Eq -- "$3" "$TMP/err"; then
        ok "$1 (exit $rc: $(cat "$TMP/err"))"
    else
        bad "$1: want exit $2 and one line matching /$3/, got exit $rc and $lines lines" "$(head -c 600 "$TMP/err")"
    fi
}
no_temp_left() { # no_temp_left LABEL DIR
    left=$(find "$2" -name '.*.tmp-*' | head -3)
    [ -z "$left" ] && ok "$1: no temporary file left" || bad "$1: temporary files left" "$left"
}

# A session to export: a short run saved with --session.
"$BIN" run -m "$MODEL" -p "Hello there" -n 24 --temp 0 -t 1 --session "$TMP/s.json" >/dev/null 2>&1
[ -s "$TMP/s.json" ] || { bad "could not make a session with run --session"; finish; }

# ---- stdout: failed writes to standard output
if [ -w /dev/full ]; then
    runit sh -c "exec \"$BIN\" run -m \"$MODEL\" -p Hi -n 8 -t 1 >/dev/full"
    one_line "stdout: run >/dev/full" 1 'output.*(No space|space left)'
    runit sh -c "exec \"$BIN\" info \"$MODEL\" --json >/dev/full"
    one_line "stdout: info --json >/dev/full" 1 'output.*(No space|space left)'
    runit sh -c "exec \"$BIN\" export md \"$TMP/s.json\" - >/dev/full"
    one_line "stdout: export md - >/dev/full" 1 'output.*(No space|space left)'
    runit sh -c "exec \"$BIN\" --help >/dev/full"
    one_line "stdout: --help >/dev/full" 1 'output.*(No space|space left)'
fi
runit sh -c "exec \"$BIN\" run -m \"$MODEL\" -p Hi -n 8 -t 1 >&-"
one_line "stdout: run >&-" 1 'output.*closed'
runit sh -c "exec \"$BIN\" info \"$MODEL\" >&-"
one_line "stdout: info >&-" 1 'output.*closed'

# ---- target: what is at the path decides how it is written
echo "old contents" >"$TMP/real.md"
ln -s real.md "$TMP/link.md"
runit "$BIN" export md "$TMP/s.json" "$TMP/link.md"
if [ "$(cat "$TMP/rc")" = 0 ] && [ -L "$TMP/link.md" ] && grep -q 'Hello there' "$TMP/real.md"; then
    ok "target: export through a symbolic link writes its target and keeps the link"
else
    bad "target: export through a symbolic link (exit $(cat "$TMP/rc"); link kept: $([ -L "$TMP/link.md" ] && echo yes || echo no); target: $(head -c 40 "$TMP/real.md"))" "$(cat "$TMP/err")"
fi
ln -s real.jsonl "$TMP/trace-link.jsonl"
echo "old" >"$TMP/real.jsonl"
runit "$BIN" run -m "$MODEL" -p Hi -n 4 -t 1 --trace "$TMP/trace-link.jsonl"
if [ -L "$TMP/trace-link.jsonl" ] && grep -q '"token"' "$TMP/real.jsonl"; then
    ok "target: run --trace through a symbolic link writes its target and keeps the link"
else
    bad "target: run --trace through a symbolic link (link kept: $([ -L "$TMP/trace-link.jsonl" ] && echo yes || echo no); target: $(head -c 40 "$TMP/real.jsonl"))" "$(cat "$TMP/err")"
fi
mkfifo "$TMP/pipe.md"
runit "$BIN" export md "$TMP/s.json" "$TMP/pipe.md"
one_line "target: export onto a named pipe is refused" 1 'pipe.md: is a named pipe'
[ -p "$TMP/pipe.md" ] && ok "target: the named pipe is still a named pipe" || bad "target: the named pipe was replaced"
ln -s "$TMP/missing/nothing.md" "$TMP/dangling.md"
runit "$BIN" export md "$TMP/s.json" "$TMP/dangling.md"
one_line "target: export through a dangling link is refused" 1 'dangling.md: a symbolic link to a missing file'
mkdir "$TMP/adir"
runit "$BIN" export md "$TMP/s.json" "$TMP/adir"
one_line "target: export onto a folder is refused" 1 'adir: is a folder'
# A character device of our own (as root): /dev/null's twin must stay a device.
if mknod "$TMP/null" c 1 3 2>/dev/null; then
    runit "$BIN" run -m "$MODEL" -p Hi -n 4 -t 1 --trace "$TMP/null"
    [ -c "$TMP/null" ] && [ "$(cat "$TMP/rc")" = 0 ] && ok "target: run --trace onto a device writes into it, the device node stays" ||
        bad "target: run --trace onto a device node (exit $(cat "$TMP/rc"); still a device: $([ -c "$TMP/null" ] && echo yes || echo no))" "$(cat "$TMP/err")"
    runit "$BIN" export html "$TMP/s.json" "$TMP/null"
    [ -c "$TMP/null" ] && [ "$(cat "$TMP/rc")" = 0 ] && ok "target: export onto a device writes into it, the device node stays" ||
        bad "target: export onto a device node (exit $(cat "$TMP/rc"); still a device: $([ -c "$TMP/null" ] && echo yes || echo no))" "$(cat "$TMP/err")"
else
    echo "skipped: target onto a device node (mknod needs root)"
fi
no_temp_left "target" "$TMP"

# ---- efbig: a file size limit is a write error
mkdir "$TMP/fsz"
runit sh -c "ulimit -f 8; exec \"$BIN\" export html \"$TMP/s.json\" \"$TMP/fsz/x.html\""
one_line "efbig: export html under ulimit -f 8" 1 'x.html: write: File too large'
no_temp_left "efbig: export" "$TMP/fsz"
runit sh -c "ulimit -f 1; exec \"$BIN\" run -m \"$MODEL\" -p Hi -n 24 -t 1 --session \"$TMP/fsz/s.json\" >/dev/null"
one_line "efbig: run --session under ulimit -f 1 (a write error, not 'pick another name')" 1 's.json: write: File too large[^;]*$'
no_temp_left "efbig: run --session" "$TMP/fsz"

# ---- escape: a session's strings never reach the terminal raw
ESC=$(printf '\033')
sed "s/\"role\":\"user\"/\"role\":\"\\\\u001b[2J\\\\u001b]0;pwned\\\\u0007\"/" "$TMP/s.json" >"$TMP/evil-role.json"
runit "$BIN" export md "$TMP/evil-role.json" -
if grep -q "$ESC" "$TMP/err"; then bad "escape: export error shows a raw ESC from the file" "$(cat -v "$TMP/err")"
else one_line "escape: export error, role with escapes" 1 '\\e\[2J'; fi
runit "$BIN" --replay "$TMP/evil-role.json"
if grep -q "$ESC" "$TMP/err"; then bad "escape: --replay error shows a raw ESC from the file" "$(cat -v "$TMP/err")"
else one_line "escape: --replay error, role with escapes" 1 '\\e\[2J'; fi

# ---- fifo: named pipes are refused, never waited on
mkfifo "$TMP/fifo"
runit "$BIN" info "$TMP/fifo"
one_line "fifo: info FIFO" 1 'fifo: not a regular file'
runit "$BIN" run -m "$TMP/fifo" -p Hi
one_line "fifo: run -m FIFO" 1 'fifo: not a regular file'
runit "$BIN" run -m "$MODEL" -f "$TMP/fifo"
one_line "fifo: run -f FIFO" 1 'fifo: not a regular file'
runit "$BIN" -m "$MODEL" --theme "$TMP/fifo"
one_line "fifo: --theme FIFO" 1 'fifo: not a regular file'

# ---- sigbus: the model file truncated while a run reads it
if [ -x "$SYNTH" ] && "$SYNTH" --layers 8 --d-model 512 --heads 8 --kv-heads 2 --experts 8 \
    --experts-used 2 --ff 512 --shared-ff 512 --ctx 4096 --seed 2 -o "$TMP/big.gguf" 2>/dev/null; then
    # (this prompt, seed and temperature give 100 tokens and more without an end token)
    "$BIN" run -m "$TMP/big.gguf" -p "Tell me a very long story about routers and experts" \
        -n 3000 -t 1 --seed 1 --temp 0.8 >"$TMP/story" 2>"$TMP/all-err" &
    pid=$!
    # Cut the file as soon as the first generated text shows (the run is then mid-way
    # through its weights); a fixed sleep let a quiet machine finish the story first.
    for _ in $(seq 1 400); do
        [ -s "$TMP/story" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    truncate -s 4096 "$TMP/big.gguf"
    wait "$pid"
    echo $? >"$TMP/rc"
    grep -av '^moescope: prompt [0-9]* tok' "$TMP/all-err" >"$TMP/err"
    one_line "sigbus: model truncated during run" 1 'big.gguf.*changed under us'
else
    echo "skipped: sigbus (no $SYNTH)"
fi

# ---- minor
head -c 50000000 /dev/zero | tr '\0' 'a' >"$TMP/huge.txt"
t0=$(date +%s)
runit "$BIN" run -m "$MODEL" -c 256 -f "$TMP/huge.txt" -t 1
secs=$(($(date +%s) - t0))
one_line "minor: a 50 MB prompt file against a 256-token context" 1 'huge.txt.*context'
[ "$secs" -le 3 ] && ok "minor: refused in $secs s (before tokenizing)" || bad "minor: the 50 MB prompt took $secs s to refuse"
runit "$BIN" run -m "$MODEL" -p Hi -n 8 -t 1 --trace "$TMP/no/such/dir/t.jsonl"
one_line "minor: --trace into a missing folder, refused" 1 't.jsonl: the folder .* does not exist'
[ ! -s "$TMP/out" ] && ok "minor: ... before generating (nothing on stdout)" || bad "minor: generated before refusing --trace" "$(head -c 200 "$TMP/out")"
runit "$BIN" run -m "$MODEL" -p Hi -n 8 -t 1 --trace "$TMP/adir/"
one_line "minor: --trace DIR/ says it names a folder" 1 'adir/: names a folder, not a file'
# (in the temp folder: a moescope that took "-" for a file name would write one there)
runit sh -c "cd \"$TMP\" && exec \"$BIN\" run -m \"$MODEL\" -p Hi -n 8 -t 1 --trace -"
one_line "minor: --trace - is refused" 2 'trace -: standard output'
# bench_usage LABEL VALUE: exit 2, and the first line names VALUE (the usage line follows).
bench_usage() {
    first=$(head -1 "$TMP/err")
    if [ "$(cat "$TMP/rc")" = 2 ] && printf '%s' "$first" | grep -qF -- "'$2'"; then
        ok "$1 ($first)"
    else
        bad "$1: want exit 2 and a first line naming '$2', got exit $(cat "$TMP/rc")" "$(cat "$TMP/err")"
    fi
}
runit "$BIN" bench -m "$MODEL" -t abc
bench_usage "minor: bench -t abc names the value" abc
runit "$BIN" bench -m "$MODEL" -t 2,0
bench_usage "minor: bench -t 2,0 names the value" 0
runit "$BIN" bench -m "$MODEL" -n -5
bench_usage "minor: bench -n -5 names the value" -5
# stories260K has no chat template (its general.name is "llama"): the file is what to name.
if [ -r "$FIX/models/stories260K.gguf" ]; then
    runit "$BIN" run -m "$FIX/models/stories260K.gguf" --chat -p Hi -n 4 -t 1
    one_line "minor: 'has no chat template' names the file" 1 'stories260K.gguf: .*no chat template'
fi
bad_name=$(printf 'caf\351-\377.gguf')
cp "$MODEL" "$TMP/$bad_name"
runit "$BIN" info "$TMP/$bad_name" --json
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if "caf\\xe9-\\xff.gguf" in d["path"] else 1)' "$TMP/out" 2>/dev/null; then
    ok "minor: info --json names a non-UTF-8 file with the byte escape (\\\\xe9 \\\\xff)"
else
    bad "minor: info --json of a non-UTF-8 file name" "$(grep -ao '"path": "[^"]*"' "$TMP/out" | head -1)"
fi
cp "$MODEL" "$TMP/café.gguf"
runit "$BIN" info "$TMP/café.gguf" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["path"].endswith("café.gguf") else 1)' "$TMP/out" 2>/dev/null &&
    ok "minor: info --json keeps a UTF-8 file name" || bad "minor: info --json of a UTF-8 file name" "$(grep -ao '"path": "[^"]*"' "$TMP/out" | head -1)"

finish
