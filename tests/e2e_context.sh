#!/bin/sh
# tests/e2e_context.sh: conversations past the context, and /model, in tmux as a person would.
#
#   1. 20 turns on a 128-token context (replies of 200 tokens): every one gets its reply and
#      no error; the replies shift the context, older turns go out of context and are
#      marked so (in the autosaved session too, whose kept replies own their records), and
#      the status line says how many tokens the context holds;
#   2. /model opens the picker over the models of $MOESCOPE_MODELS (why one does not run
#      shown), typing filters it, Enter switches mid-conversation (the status bar names the
#      new model and the next message is answered by it); picking a broken file says why and
#      leaves the running model answering; /model NAME switches at once; the picker fits a
#      20x6 terminal;
#   3. `make run` as a new user would, then 20 messages at the default settings: every one
#      gets its reply (the first five too, the issue's check), no error.
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
# The autosaved session: the dropped messages say so, every kept reply owns its records
# (found again after each drop), and the shifts are in the records.
if python3 - "$TMP"/data/moescope/sessions/*.json > "$TMP/sess" 2>&1 <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
msgs = s["messages"]
owners = {t["message"] for t in s["traces"]}
ooc = [i for i, m in enumerate(msgs) if m.get("out_of_context")]
kept = [i for i, m in enumerate(msgs) if m["role"] == "assistant" and not m.get("out_of_context")]
shifts = sum(1 for t in s["traces"] for d in t.get("shift_dropped", []) if d)
print("messages", len(msgs), "out of context", len(ooc), "kept replies", kept,
      "chunks of", sorted(owners), "shifts", shifts)
assert ooc and ooc == list(range(len(ooc))), "out of context: %s" % ooc
assert not owners & set(ooc), "a dropped message owns records"
assert kept and set(kept) <= owners, "kept replies without records: %s" % (set(kept) - owners)
assert shifts > 0, "no shift in the records"
PY
then
    ok "the session marks the dropped messages, keeps each kept reply's records and the shifts ($(cat "$TMP/sess"))"
else
    bad "session after 20 turns on 128 tokens" "$(cat "$TMP/sess")"
fi

# ---- 2. /model: the picker, switch mid-conversation, a broken file, a tiny terminal
start_app -m "$DEFAULT" -t 1 -n 40
T send-keys -t e2e "ROMEO:" Enter
wait_reply "ROMEO:" 30
T send-keys -t e2e "/model" Enter
if wait_for '│.broken.gguf  \(no: not a GGUF' 5 && grep -q 'other-qwen2moe.gguf  qwen2moe 2/8' "$TMP/screen" &&
   grep -q '─ models ─.* 2/2 ─' "$TMP/screen"; then
    ok "/model opens the picker: the models, with why one does not run"
else
    bad "/model picker" "$(cat "$TMP/screen")"
fi
cp "$TMP/screen" "$TMP/picker"
T send-keys -t e2e "qwen"
if wait_for '─ models ─.* 1/2 ─' 5 && grep -q '>other-qwen2moe.gguf' "$TMP/screen" &&
   ! grep -q 'broken.gguf' "$TMP/screen"; then
    ok "typing filters the picker"
else
    bad "picker filter" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e Enter
if wait_for 'opening ' 5 && wait_for 'qwen2moe, 4 layers' 20 && wait_for '^ . ready . [^│]*qwen2moe' 10 &&
   ! grep -q '─ models ─' "$TMP/screen"; then
    ok "Enter switches: the picker closes, the status bar names the new model"
else
    bad "picker switch" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "Hello after the switch" Enter
if wait_for 'Hello after the switch' 5 && wait_reply 'Hello after the switch' 30 &&
   ! grep -q '^! ' "$TMP/screen"; then
    ok "the conversation goes on with the new model"
else
    bad "no reply after the switch" "$(cat "$TMP/screen")"
fi
cp "$TMP/screen" "$TMP/switched"
T send-keys -t e2e "/model" Enter
wait_for '─ models ─' 5
T send-keys -t e2e "broken"
wait_for '─ models ─.* 1/2 ─' 5
T send-keys -t e2e Enter
if wait_for 'broken.gguf: not' 5 && wait_for 'stays open' 5; then
    ok "picking a broken file says why and keeps the model"
else
    bad "picker broken" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "Still there?" Enter
if wait_for 'Still there' 5 && wait_reply 'Still there' 30; then
    ok "the running model still answers after the refused switch"
else
    bad "no reply after the refused switch" "$(cat "$TMP/screen")"
fi
T send-keys -t e2e "/model other-qwen" Enter
if wait_for 'opening ' 5 && wait_for '^ . ready' 20; then
    ok "/model NAME switches at once"
else
    bad "/model NAME" "$(cat "$TMP/screen")"
fi
T resize-window -t e2e -x 20 -y 6
T send-keys -t e2e "/model" Enter
if wait_for '^┌─ models ─.*┐$' 5 && [ "$(wc -l < "$TMP/screen")" -le 6 ] &&
   sed -n 2p "$TMP/screen" | grep -q '^│/ type to filter *│$' &&
   sed -n 6p "$TMP/screen" | grep -q '^└.*┘$' &&
   [ "$(LC_ALL=C.UTF-8 wc -L < "$TMP/screen")" -le 20 ]; then
    ok "the picker fits a 20x6 terminal"
else
    bad "picker at 20x6" "$(cat "$TMP/screen")"
fi
cp "$TMP/screen" "$TMP/picker-20x6"
T send-keys -t e2e Escape
T resize-window -t e2e -x 120 -y 40

# ---- 3. make run, then twenty messages at the default settings (replies of up to 2048
# tokens scroll the message away: the replies are counted in the autosaved session)
T kill-session -t e2e 2>/dev/null
T new-session -d -s e2e -x 120 -y 40 "cd $ROOT && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS $ENVS XDG_DATA_HOME=$TMP/data3 make -s run; sleep 30"
wait_for 'ready' 60
replies() { cat "$TMP"/data3/moescope/sessions/*.json 2>/dev/null | grep -o '"role":"assistant"' | wc -l; }
wait_replies() { # wait_replies N SECONDS
    w_n=0
    while [ "$w_n" -lt $(($2 * 10)) ]; do
        if [ "$(replies)" -ge "$1" ]; then
            cap > "$TMP/screen" 2>/dev/null
            grep -q '^ . ready' "$TMP/screen" && return 0
        fi
        sleep 0.1
        w_n=$((w_n + 1))
    done
    return 1
}
errors=0
missing=0
for turn in $(seq 1 20); do
    T send-keys -t e2e "Message $turn, friend:" Enter
    wait_replies "$turn" 90 || missing=$((missing + 1))
    grep -q '^! ' "$TMP/screen" && errors=$((errors + 1))
    if [ "$turn" = 5 ]; then
        if [ "$missing" = 0 ] && [ "$errors" = 0 ]; then
            ok "make run, then five messages: five replies, no error"
        else
            bad "make run: $missing of 5 replies not seen, $errors errors" "$(cat "$TMP/screen")"
        fi
    fi
done
if [ "$missing" = 0 ] && [ "$errors" = 0 ] && [ "$(replies)" = 20 ]; then
    ok "20 messages to the default model at its defaults: 20 replies, no error"
else
    bad "20 default turns: $missing replies not seen, $errors screens with an error, $(replies) in the session" "$(cat "$TMP/screen")"
fi
cp "$TMP/screen" "$TMP/default20"
[ -n "${E2E_KEEP:-}" ] && cp "$TMP/turn3" "$TMP/picker" "$TMP/switched" "$TMP/picker-20x6" "$TMP/default20" "$E2E_KEEP"/ 2>/dev/null
finish
