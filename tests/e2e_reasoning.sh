#!/bin/sh
# tests/e2e_reasoning.sh: `moescope run --chat --reasoning show|hide|raw` on a reasoning
# model's reply (<think>...</think> then the answer, streamed by tests/remote/fake_server.py's
# think mode, rendered in the deepseek3 style; then gpt-oss's harmony channels, its harmony
# mode): show puts the thinking on stderr and the answer alone on stdout, hide drops the
# thinking, raw writes the reply as the model wrote it.
# Last line: `N passed, N failed`.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BIN=${MOESCOPE_BIN:-"$ROOT/moescope"}
pass=0
fail=0
ok() { pass=$((pass + 1)); printf "ok   %s\n" "$1"; }
bad() { fail=$((fail + 1)); printf "FAIL %s\n" "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
command -v python3 >/dev/null 2>&1 || { echo "skipped: python3 is not installed"; finish; }
[ -x "$BIN" ] || { echo "skipped: build moescope first (make)"; finish; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moescope-reason.XXXXXX") || exit 1
PID=""
SOCK="moescope-reason-$$"
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
# serve MODE: starts tests/remote/fake_server.py in that mode (stopping the one before); URL
serve() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -f "$TMP/port"
    python3 tests/remote/fake_server.py "$1" "$TMP/port" >/dev/null 2>&1 &
    PID=$!
    i=0
    while [ ! -s "$TMP/port" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    URL="http://127.0.0.1:$(cat "$TMP/port" 2>/dev/null)"
}
serve think

runit() {
    "$BIN" run -m "$URL" --chat --chat-template deepseek3 -p "Is it?" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
}
# check NAME FILE WANT: FILE's text (figures lines left out) is exactly WANT.
check() {
    got=$(grep -v '^moescope: ' "$2")
    if [ "$RC" = 0 ] && [ "$got" = "$3" ]; then ok "$1"
    else bad "$1" "exit $RC, wanted [$3], got [$got]; stderr: $(cat "$TMP/err")"; fi
}

runit
check "show (the default): the answer alone on stdout" "$TMP/out" "Yes."
check "show: the thinking on stderr" "$TMP/err" "$(printf '\nplan ahead')"
if grep -q "^moescope: thinking 5 of 7 tokens | first answer token after [0-9.]* ms (TTFT" "$TMP/err"
then ok "the closing figures count the thinking and time the first answer"
else bad "the closing figures count the thinking and time the first answer" "$(cat "$TMP/err")"; fi
runit --reasoning hide --session "$TMP/s.json" --trace "$TMP/t.jsonl"
check "hide: the answer on stdout" "$TMP/out" "Yes."
check "hide: no thinking on stderr" "$TMP/err" ""
# 4 prompt records, then <think> .. "\n\n" (5 thinking), Yes . (answer)
if grep -q '"thinking":\[0,0,0,0,1,1,1,1,1,0,0\]' "$TMP/s.json" &&
   [ "$(grep -c '"thinking":true' "$TMP/t.jsonl")" = 5 ]
then ok "the session and the trace say which tokens were thinking"
else bad "the session and the trace say which tokens were thinking" "$(grep -o '"thinking[^]]*' "$TMP/s.json")"; fi
runit --reasoning raw
check "raw: the reply as written" "$TMP/out" "$(printf '<think>\nplan ahead\n</think>\n\nYes.')"
# The app on that session, replayed: the thinking folds to one line under the answer's
# mark, F3 shows it and folds it again, and the time to the first answer is in the bar.
if command -v tmux >/dev/null 2>&1; then
    tmux -L "$SOCK" new-session -d -x 120 -y 30 "$BIN --replay $TMP/s.json"
    screen() { tmux -L "$SOCK" capture-pane -p; }
    # waitfor CHECK: runs CHECK on one capture of the screen ($shot) until it holds, up to
    # 10 s. A reply is drawn token by token (the fold line comes with the first answer
    # token), so the parts of a check must all look at the same capture: a loaded machine
    # once caught the app between two of them.
    waitfor() {
        i=0
        while :; do
            shot=$(screen)
            "$@" && return 0
            [ $i -ge 50 ] && return 1
            sleep 0.2
            i=$((i + 1))
        done
    }
    has() { printf '%s\n' "$shot" | grep -q -- "$1"; }     # has REGEX: on the capture
    has_text() { printf '%s\n' "$shot" | grep -qF -- "$1"; } # has_text TEXT: likewise
    replay_folded() { has_text "thought, 5 tokens" && has "Yes\." && ! has "plan ahead"; }
    if waitfor replay_folded
    then ok "replay: the thinking folded to one line, the answer shown"
    else bad "replay: the thinking folded to one line, the answer shown" "$shot"; fi
    if waitfor has "think 5 tok, answer at [0-9]"
    then ok "replay: the status bar times the first answer beside TTFT"
    else bad "replay: the status bar times the first answer beside TTFT" "$(printf '%s\n' "$shot" | head -1)"; fi
    tmux -L "$SOCK" send-keys F3
    replay_unfolded() { has "plan ahead" && has_text "(F3 folds it)" && ! has_text "<think>"; }
    if waitfor replay_unfolded
    then ok "replay: F3 unfolds the thinking (without its markers)"
    else bad "replay: F3 unfolds the thinking (without its markers)" "$shot"; fi
    tmux -L "$SOCK" send-keys F3
    replay_refolded() { has_text "(F3 shows it)" && ! has "plan ahead"; }
    if waitfor replay_refolded
    then ok "replay: F3 folds it again"
    else bad "replay: F3 folds it again" "$shot"; fi
    tmux -L "$SOCK" kill-server 2>/dev/null
else
    echo "skipped: tmux is not installed (the replay checks)"
fi
# gpt-oss: the analysis channel is the thinking, the final channel the answer
serve harmony
runh() {
    "$BIN" run -m "$URL" --chat --chat-template gpt-oss -p "Is it?" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
}
runh
check "harmony show: the final channel alone on stdout" "$TMP/out" "Yes."
check "harmony show: the analysis channel on stderr" "$TMP/err" "plan ahead"
runh --reasoning hide
check "harmony hide: no analysis on stderr" "$TMP/err" ""
runh --reasoning raw
check "harmony raw: the channels as written" "$TMP/out" \
    "<|channel|>analysis<|message|>plan ahead<|end|><|start|>assistant<|channel|>final<|message|>Yes."
# The app in a harmony conversation: the analysis channel folds like <think>, and F3 shows
# it on lines of its own (no newline separates the channels: the answer starts a new line)
if command -v tmux >/dev/null 2>&1; then
    tmux -L "$SOCK" new-session -d -x 120 -y 30 "$BIN -m $URL --chat-template gpt-oss"
    sleep 1
    tmux -L "$SOCK" send-keys "Is it?" Enter
    harmony_folded() { has_text "thought, 11 tokens" && has "^  Yes\." && ! has "plan ahead"; }
    if waitfor harmony_folded
    then ok "app, harmony: the analysis channel folded, the final one shown"
    else bad "app, harmony: the analysis channel folded, the final one shown" "$shot"; fi
    tmux -L "$SOCK" send-keys F3
    harmony_unfolded() { has_text "(F3 folds it)" && has "^  plan ahead  " && has "^  Yes\."; }
    if waitfor harmony_unfolded
    then ok "app, harmony: F3 shows the analysis on its own lines"
    else bad "app, harmony: F3 shows the analysis on its own lines" "$shot"; fi
    tmux -L "$SOCK" kill-server 2>/dev/null
fi
"$BIN" run -m "$URL" -p hi --reasoning hide >/dev/null 2>"$TMP/err"
RC=$?
if [ "$RC" = 2 ] && grep -q -- "--reasoning need --chat" "$TMP/err"; then ok "--reasoning needs --chat"
else bad "--reasoning needs --chat" "exit $RC: $(cat "$TMP/err")"; fi
"$BIN" run -m "$URL" --chat -p hi --reasoning loud >/dev/null 2>"$TMP/err"
RC=$?
if [ "$RC" = 2 ] && grep -q "bad value for --reasoning: 'loud'" "$TMP/err"; then ok "a bad mode"
else bad "a bad mode" "exit $RC: $(cat "$TMP/err")"; fi
finish
