#!/bin/sh
# tests/e2e_tmux.sh: the real binary driven inside tmux, as a person would use it.
#
#   1. type a prompt and see the reply's tokens appear in the transcript;
#   2. select a token in the inspector and check it lists the experts that
#      `moescope run --trace` records for the same position (greedy, same prompt);
#   3. resize to 30x8 (the too-small line) and back; F1 help; quit with Ctrl-C twice;
#   4. find the shell's screen restored: alternate screen left, echo on, prompt back;
#   5. the same restoration after SIGTERM, SIGINT, SIGHUP, SIGSEGV and SIGABRT, after
#      --frames N, and a missing model refused before the screen is touched.
# Model: ../shared/fixtures/models/qwen2moe-tiny-f32.gguf (or $MOESCOPE_FIXTURES); the
# test is skipped with a message when it is absent. Last line: `N passed, N failed`.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BIN=${MOESCOPE_BIN:-"$ROOT/moescope"}   # MOESCOPE_BIN: e.g. a sanitizer build
FIX=${MOESCOPE_FIXTURES:-../shared/fixtures}
MODEL="$FIX/models/qwen2moe-tiny-f32.gguf"
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

if ! command -v tmux >/dev/null 2>&1; then
    echo "skipped: tmux is not installed"
    finish
fi
if [ ! -r "$MODEL" ]; then
    echo "skipped: no fixture model at $MODEL"
    finish
fi
MODEL="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"
if [ ! -x "$BIN" ]; then
    echo "skipped: build moescope first (make)"
    finish
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moescope-e2e.XXXXXX") || exit 1
SOCK="moescope-e2e-$$"
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
# A session that lives for the whole run, so the server stays up between test shells.
T new-session -d -s keep -x 80 -y 24 "sleep 3600"

# Everything the app writes (history, autosaves, themes) goes into the temp folder.
ENVS="LC_ALL=C.UTF-8 TERM=tmux-256color XDG_STATE_HOME=$TMP/state XDG_DATA_HOME=$TMP/data XDG_CONFIG_HOME=$TMP/config HOME=$TMP PS1='e2e\$ '"
infocmp tmux-256color >/dev/null 2>&1 || ENVS=$(echo "$ENVS" | sed 's/TERM=tmux-256color/TERM=screen/')

cap() { T capture-pane -p -t e2e; }
# wait_for REGEX SECONDS: polls the screen until grep -E finds REGEX.
wait_for() {
    i=0
    while [ "$i" -lt $(($2 * 10)) ]; do
        cap > "$TMP/screen" 2>/dev/null
        grep -Eq -- "$1" "$TMP/screen" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# A fresh shell in a 120x40 window, with a recognisable prompt.
new_shell() {
    T kill-session -t e2e 2>/dev/null
    T new-session -d -s e2e -x 120 -y 40 "env $ENVS sh -i"
    T set-option -t e2e status off >/dev/null
    wait_for 'e2e\$' 5
}
app_pid() { ps -o pid= --ppid "$(T display -p -t e2e '#{pane_pid}')" | tr -d ' ' | head -1; }
restored() { # restored LABEL: the alternate screen is left and the shell answers with echo on
    if [ "$(T display -p -t e2e '#{alternate_on}')" != 0 ]; then
        bad "$1: still on the alternate screen" "$(cap)"
        return
    fi
    T send-keys -t e2e "echo done-\$((40+2))" Enter
    if wait_for '^done-42' 5 && grep -q 'echo done-' "$TMP/screen"; then
        ok "$1: shell screen restored, echo on"
    else
        bad "$1: shell not back as it was" "$(cat "$TMP/screen")"
    fi
}

PROMPT="Why is a mixture of experts fast?"

# ---- 1. tokens stream: a long reply (until the context is full) is seen half-written
new_shell
T send-keys -t e2e "clear; $BIN -m $MODEL -t 1; echo EXIT=\$?" Enter
wait_for 'ready' 10
# The fixture model writes thousands of tokens a second, so a reply lasts a fraction of a
# second: poll fast, and ask again (after /clear) if it ended between two looks.
seen=0
for attempt in 1 2 3 4 5; do
    T send-keys -t e2e "Tell me a long story" Enter
    i=0
    while [ "$i" -lt 100 ]; do
        cap > "$TMP/screen"
        # The status says generating and the reply ends in the streaming cursor.
        if grep -q 'generating' "$TMP/screen" && grep -q '▍' "$TMP/screen"; then
            seen=1
            break
        fi
        grep -q '[0-9] tokens ·' "$TMP/screen" && break
        sleep 0.01
        i=$((i + 1))
    done
    [ "$seen" = 1 ] && break
    T send-keys -t e2e "/clear" Enter
    sleep 0.2
done
if [ "$seen" = 1 ] && wait_for '[0-9]+ tokens ·' 30; then
    ok "tokens stream: the reply was seen half-written (try $attempt), then finished"
else
    bad "no reply seen while it was being written" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e C-c C-c

# ---- 2. chat: type a prompt, the reply appears
new_shell
T send-keys -t e2e "clear; echo before-the-app; $BIN -m $MODEL -t 1 --temp 0 -n 24; echo EXIT=\$?" Enter
if wait_for 'ready' 10; then ok "app opens on the fixture model"; else bad "app did not open" "$(cat "$TMP/screen")"; fi
if wait_for 'Type a message and press Enter' 5 && grep -q 'qwen2moe, 4 layers, 2 of 8' "$TMP/screen"; then
    ok "the welcome names the model and says what to do"
else
    bad "no welcome" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "$PROMPT"
sleep 0.3
T send-keys -t e2e Enter
if wait_for '24 tokens' 20; then
    ok "the reply ends at -n 24 tokens, with its speed figures"
else
    bad "no reply in the transcript" "$(cat "$TMP/screen")"
fi
grep -q "› $PROMPT" "$TMP/screen" && ok "the user's message is in the transcript" ||
    bad "the user's message is missing" "$(cat "$TMP/screen")"

# ---- 3. the inspector shows the experts `run --trace` records
(cd "$TMP" && "$BIN" run -m "$MODEL" --chat -p "$PROMPT" --temp 0 -n 24 -t 1 \
    --trace "$TMP/trace.jsonl" >/dev/null 2>&1)
T send-keys -t e2e Tab
sleep 0.2
T send-keys -t e2e Left
sleep 0.3
cap > "$TMP/screen"
# The inspector is right of the rule; its overview lists "token N/M" and "Lk  e:w e:w ...".
sed 's/^.*│//' "$TMP/screen" > "$TMP/insp"
sel=$(grep -o 'token [0-9]*/[0-9]*' "$TMP/insp" | head -1 | sed 's/token \([0-9]*\)\/.*/\1/')
if [ -z "$sel" ]; then
    bad "no selected token shown" "$(cat "$TMP/screen")"
else
    line=$(grep "\"pos\":$sel," "$TMP/trace.jsonl")
    want=$(printf '%s\n' "$line" | grep -o '"experts":\[[0-9,]*\]' | sed 's/"experts":\[//; s/\]//' |
        tr ',' ' ' | awk '{ printf "L%d", NR - 1; for (i = 1; i <= NF; i++) printf " %s", $i; print "" }')
    got=$(grep -E '^L[0-9]+ ' "$TMP/insp" | head -$(printf '%s\n' "$want" | wc -l) |
        awk '{ printf "%s", $1; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+:/) { split($i, p, ":"); printf " %s", p[1] } print "" }')
    if [ -n "$want" ] && [ "$want" = "$got" ]; then
        ok "token $sel: the inspector lists the experts run --trace records ($(echo $want | tr '\n' ' '))"
    else
        bad "token $sel: experts differ" "inspector: $got
trace:     $want"
    fi
fi
T send-keys -t e2e Home
sleep 0.3
cap | sed 's/^.*│//' > "$TMP/insp"
grep -q 'token 0/' "$TMP/insp" && ok "Home selects the first token" || bad "Home did not select token 0" "$(cat "$TMP/insp")"
T send-keys -t e2e 8
sleep 0.3
cap | sed 's/^.*│//' > "$TMP/insp"
if grep -q 'MB per token; dense' "$TMP/insp" && grep -q 'ms per token' "$TMP/insp" &&
    grep -q 'LRU hits' "$TMP/insp"; then
    ok "8: the cost view (bytes per token, routing ms, the expert cache in free memory)"
else
    bad "8: the cost view" "$(cat "$TMP/insp")"
fi
T send-keys -t e2e 5
sleep 0.3
cap | sed 's/^.*│//' > "$TMP/insp"
grep -q 'co-activation L' "$TMP/insp" && ok "5: the balance view shows the chosen layer's co-activation" ||
    bad "5: no co-activation matrix" "$(cat "$TMP/insp")"
T send-keys -t e2e 0
T send-keys -t e2e Tab

# ---- 4. sizes, help, quit
T resize-window -t e2e -x 30 -y 8
if wait_for 'too small' 5; then ok "30x8: says the terminal is too small"; else bad "30x8 screen" "$(cat "$TMP/screen")"; fi
T resize-window -t e2e -x 120 -y 40
if wait_for 'Enter send' 5 && grep -q '24 tokens' "$TMP/screen"; then
    ok "back to 120x40: the chat is drawn again"
else
    bad "after resizing back" "$(cat "$TMP/screen")"
fi
T resize-window -t e2e -x 80 -y 24
if wait_for 'inspector|INSPECTOR|all .*strip' 5 && grep -q '24 tokens' "$TMP/screen"; then
    ok "80x24: inspector stacked over the chat"
else
    bad "80x24 screen" "$(cat "$TMP/screen")"
fi
T resize-window -t e2e -x 120 -y 40
# A bracketed paste of three lines and an Alt-Enter: one message, sent once with Enter.
printf 'pasted one\npasted two\npasted three' > "$TMP/paste.txt"
T load-buffer "$TMP/paste.txt"
T paste-buffer -p -t e2e
T send-keys -t e2e M-Enter "typed four"
sleep 0.3
cap > "$TMP/screen"
# (In the input, lines after the first start with "│ "; in the transcript with two spaces.)
if grep -q '│ pasted two' "$TMP/screen" && grep -q '│ typed four' "$TMP/screen" &&
    ! grep -q '^  pasted two' "$TMP/screen"; then
    ok "a pasted block and Alt-Enter stay in the input line as four lines"
else
    bad "multi-line input" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e Enter
i=0
while [ "$i" -lt 50 ]; do   # the second reply's closing line
    cap > "$TMP/screen"
    [ "$(grep -c '24 tokens' "$TMP/screen")" -ge 2 ] && break
    sleep 0.1
    i=$((i + 1))
done
if grep -q '^  typed four' "$TMP/screen" && grep -q '^› pasted one' "$TMP/screen" &&
    [ "$(grep -c '24 tokens' "$TMP/screen")" -ge 2 ]; then
    ok "Enter sends the four lines as one message"
else
    bad "multi-line message" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "/save $TMP/saved.json" Enter
if wait_for "saved $TMP/saved.json" 5 && [ -s "$TMP/saved.json" ]; then
    ok "/save writes the session"
else
    bad "/save" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e F1
if wait_for 'moescope keys' 5; then ok "F1 shows the keys"; else bad "F1 help" "$(cat "$TMP/screen")"; fi
T send-keys -t e2e Escape
sleep 0.3
T send-keys -t e2e C-c
sleep 0.2
if cap | grep -q 'Ctrl-C again quits'; then ok "first Ctrl-C asks for a second"; else bad "first Ctrl-C" "$(cap)"; fi
T send-keys -t e2e C-c
if wait_for 'EXIT=0' 5; then ok "second Ctrl-C quits with status 0"; else bad "did not quit" "$(cat "$TMP/screen")"; fi
grep -q 'before-the-app' "$TMP/screen" && ok "the shell's own screen is back" ||
    bad "shell screen not restored" "$(cat "$TMP/screen")"
restored "Ctrl-C Ctrl-C"
if grep -qx "$PROMPT" "$TMP/state/moescope/history" 2>/dev/null; then
    ok "the prompt is in \$XDG_STATE_HOME/moescope/history"
else
    bad "history not saved" "$(cat "$TMP/state/moescope/history" 2>&1)"
fi

# ---- 5. signals: the terminal is restored and the signal reported
for sig in TERM INT HUP SEGV ABRT; do
    new_shell
    T send-keys -t e2e "clear; $BIN -m $MODEL -t 1; echo EXIT=\$?" Enter
    if ! wait_for 'ready' 10; then
        bad "SIG$sig: app did not open" "$(cat "$TMP/screen")"
        continue
    fi
    pid=$(app_pid)
    kill -s "$sig" "$pid" 2>/dev/null
    if [ "$sig" = INT ]; then
        # A shell drops the rest of a command line whose child died of SIGINT, as if it
        # had been interrupted itself: the prompt comes back with no EXIT line.
        if wait_for '^e2e\$' 5 && ! grep -q 'EXIT=' "$TMP/screen"; then
            ok "SIGINT: ends the app the way an interrupt does"
        else
            bad "SIGINT: the app did not end as interrupted" "$(cat "$TMP/screen")"
        fi
        restored "SIGINT"
        continue
    fi
    if wait_for 'EXIT=[0-9]+' 5; then
        code=$(grep -o 'EXIT=[0-9]*' "$TMP/screen" | head -1)
        case "$sig:$code" in
        TERM:EXIT=143|INT:EXIT=130|HUP:EXIT=129|SEGV:EXIT=139|ABRT:EXIT=134) ok "SIG$sig: exits by the signal ($code)" ;;
        *) bad "SIG$sig: unexpected $code" ;;
        esac
        restored "SIG$sig"
    else
        bad "SIG$sig: the app did not end" "$(cat "$TMP/screen")"
    fi
done

# ---- the window closes under the app (tmux kills the pane): it must end, not linger
new_shell
T send-keys -t e2e "clear; $BIN -m $MODEL -t 1; echo EXIT=\$?" Enter
if wait_for 'ready' 10; then
    pid=$(app_pid)
    T kill-session -t e2e
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
        bad "the app lingers after its terminal closed (pid $pid)"
        kill -9 "$pid" 2>/dev/null
    else
        ok "the app ends when its terminal closes"
    fi
else
    bad "app did not open" "$(cat "$TMP/screen")"
fi

# ---- replay: the saved session, no model
new_shell
T send-keys -t e2e "clear; $BIN --replay $TMP/saved.json; echo EXIT=\$?" Enter
if wait_for 'replay: read-only' 10 && grep -q "› $PROMPT" "$TMP/screen" &&
    grep -q 'token [0-9]*/[0-9]* ' "$TMP/screen"; then
    ok "--replay shows the saved conversation and its records, read-only"
else
    bad "--replay" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e C-c C-c
wait_for 'EXIT=0' 5 || bad "replay did not quit" "$(cat "$TMP/screen")"

# ---- 6. --frames, a missing model
new_shell
T send-keys -t e2e "clear; $BIN -m $MODEL -t 1 --frames 5; echo EXIT=\$?" Enter
if wait_for 'EXIT=0' 10; then ok "--frames 5 draws and exits 0"; else bad "--frames" "$(cat "$TMP/screen")"; fi
restored "--frames"
T send-keys -t e2e "clear; $BIN -m $TMP/missing.gguf; echo EXIT=\$?" Enter
if wait_for 'EXIT=1' 5 && grep -q 'missing.gguf' "$TMP/screen"; then
    ok "a missing model: a message naming the file, exit 1"
else
    bad "missing model" "$(cat "$TMP/screen")"
fi
restored "missing model"
T send-keys -t e2e "clear; TERM=dumb $BIN -m $MODEL; echo EXIT=\$?" Enter
if wait_for 'EXIT=1' 5 && grep -q "cannot move the cursor" "$TMP/screen"; then
    ok "TERM=dumb: refused with a message, exit 1"
else
    bad "TERM=dumb" "$(cat "$TMP/screen")"
fi
restored "TERM=dumb"

finish
