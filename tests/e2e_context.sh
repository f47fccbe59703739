#!/bin/sh
# tests/e2e_context.sh: conversations past the context, and /model, in tmux as a person would.
#
#   1. 20 turns on a 128-token context (replies of 200 tokens): every one gets its reply and
#      no error; the replies shift the context, older turns go out of context and are
#      marked so, and the status line says how many tokens the context holds;
#   2. /model lists the models of $MOESCOPE_MODELS, /model NAME switches mid-conversation
#      (the status bar names the new model and the next message is answered by it), and
#      /model on a broken file says why and leaves the running model answering.
# Models: tools/train/default.gguf (the default) and ../shared/fixtures/models/
# qwen2moe-tiny-f32.gguf. Last line: `N passed, N failed`.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BIN=${MOESCOPE_BIN:-"$ROOT/moescope"}
FIX=${MOESCOPE_FIXTURES:-../shared/fixtures}
DEFAULT="$ROOT/tools/train/default.gguf"
OTHER="$FIX/models/qwen2moe-tiny-f32.gguf"
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

if ! command -v tmux >/dev/null 2>&1; then
    echo "skipped: tmux is not installed"
    finish
fi
if [ ! -r "$OTHER" ] || [ ! -r "$DEFAULT" ] || [ ! -x "$BIN" ]; then
    echo "skipped: needs $OTHER, $DEFAULT and a built moescope"
    finish
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moescope-e2e-ctx.XXXXXX") || exit 1
SOCK="moescope-e2e-ctx-$$"
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
trap "exit 130" INT TERM
T new-session -d -s keep -x 80 -y 24 "sleep 3600"
mkdir -p "$TMP/models" "$TMP/cwd"
cp "$OTHER" "$TMP/models/other-qwen2moe.gguf"
echo "this is not a model" > "$TMP/models/broken.gguf"
ENVS="LC_ALL=C.UTF-8 TERM=screen XDG_STATE_HOME=$TMP/state XDG_DATA_HOME=$TMP/data XDG_CONFIG_HOME=$TMP/config HOME=$TMP MOESCOPE_MODELS=$TMP/models"

cap() { T capture-pane -p -t e2e; }
# (sh has no local variables: the waits count in w_n, the turns in turn.)
wait_for() { # wait_for REGEX SECONDS
    w_n=0
    while [ "$w_n" -lt $(($2 * 10)) ]; do
        cap > "$TMP/screen" 2>/dev/null
        grep -Eq -- "$1" "$TMP/screen" && return 0
        sleep 0.1
        w_n=$((w_n + 1))
    done
    return 1
}
# The reply to the message just sent has ended: a reply's meta line below the last line
# holding TEXT, and the state ready (a send that drops a turn is ready for an instant
# before it goes again, so the meta line must be the new reply's).
wait_reply() { # wait_reply TEXT SECONDS
    w_n=0
    while [ "$w_n" -lt $(($2 * 10)) ]; do
        cap > "$TMP/screen" 2>/dev/null
        if grep -q 'ready' "$TMP/screen" &&
           awk -v t="$1" 'index($0, t) { at = NR } /tokens · .*tok\/s/ { m = NR }
                          END { exit !(at && m > at) }' "$TMP/screen"; then
            return 0
        fi
        sleep 0.1
        w_n=$((w_n + 1))
    done
    return 1
}
start_app() { # start_app ARGS...
    T kill-session -t e2e 2>/dev/null
    T new-session -d -s e2e -x 120 -y 40 "cd $TMP/cwd && env $ENVS $BIN $*; sleep 30"
    wait_for 'ready' 20
}

# ---- 1. twenty turns on a 128-token context
start_app -m "$DEFAULT" -t 1 -c 128 -n 200
errors=0
missing=0
for turn in $(seq 1 20); do
    T send-keys -t e2e "TURN$turn:" Enter
    if ! wait_for "TURN$turn:" 10 || ! wait_reply "TURN$turn:" 30; then
        missing=$((missing + 1))
    fi
    grep -q '^! ' "$TMP/screen" && errors=$((errors + 1))
    [ "$turn" = 3 ] && cp "$TMP/screen" "$TMP/turn3"
done
cap > "$TMP/screen"
if [ "$missing" = 0 ] && [ "$errors" = 0 ]; then
    ok "20 turns on a 128-token context: 20 replies, no error"
else
    bad "20 turns: $missing replies not seen, $errors screens with an error" "$(cat "$TMP/screen")"
fi
if grep -q 'out of context' "$TMP/screen"; then
    ok "older turns are marked out of context"
else
    bad "no message marked out of context" "$(cat "$TMP/screen")"
fi
if grep -q 'tokens in context' "$TMP/turn3" "$TMP/screen"; then
    ok "the status line says how many tokens the context holds"
else
    bad "no 'tokens in context' status" "$(cat "$TMP/turn3")"
fi
if grep -Eq 'ctx (12[0-8]|1[01][0-9]|[0-9]{1,2})/128' "$TMP/screen"; then
    ok "the status bar counts positions in the context, at most 128"
else
    bad "status bar context count" "$(head -1 "$TMP/screen")"
fi

# ---- 2. /model: list, switch mid-conversation, a broken file
start_app -m "$DEFAULT" -t 1 -n 40
T send-keys -t e2e "ROMEO:" Enter
wait_reply "ROMEO:" 30
T send-keys -t e2e "/model" Enter
if wait_for 'broken.gguf .*not a GGUF' 5 && grep -q 'other-qwen2moe.gguf  qwen2moe' "$TMP/screen"; then
    ok "/model lists the models with why one does not run"
else
    bad "/model list" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "/model other-qwen2moe" Enter
if wait_for 'opening ' 5 && wait_for 'qwen2moe, 4 layers' 20 && wait_for '^ . ready . [^│]*qwen2moe' 10; then
    ok "/model NAME switches: the status bar names the new model"
else
    bad "/model switch" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "Hello after the switch" Enter
if wait_for 'Hello after the switch' 5 && wait_reply 'Hello after the switch' 30 &&
   ! grep -q '^! ' "$TMP/screen"; then
    ok "the conversation goes on with the new model"
else
    bad "no reply after the switch" "$(cat "$TMP/screen")"
fi
cp "$TMP/screen" "$TMP/switched"
T send-keys -t e2e "/model broken" Enter
if wait_for 'broken.gguf: not' 5 && wait_for 'stays open' 5; then
    ok "/model on a broken file says why and keeps the model"
else
    bad "/model broken" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "Still there?" Enter
if wait_for 'Still there' 5 && wait_reply 'Still there' 30; then
    ok "the running model still answers after the refused switch"
else
    bad "no reply after the refused switch" "$(cat "$TMP/screen")"
fi
[ -n "${E2E_KEEP:-}" ] && cp "$TMP/turn3" "$TMP/switched" "$TMP/screen" "$E2E_KEEP"/ 2>/dev/null
finish
