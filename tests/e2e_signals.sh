#!/bin/sh
# tests/e2e_signals.sh: the terminal always comes back, and the app survives its window
# (issue 7). The real binary in tmux:
#   1. quit by Ctrl-C twice, and killed by SIGTERM, SIGHUP, SIGSEGV, SIGABRT, and every
#      other signal whose default ends a process (SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGBUS;
#      SIGPIPE and SIGXFSZ are ignored, so the app lives on and Ctrl-C twice quits): each
#      time the alternate screen is left (the shell's lines from before the app are on the
#      screen again), the prompt is back and `stty -a` shows echo on;
#   1c. the model file truncated while a reply streams (SIGBUS on its mapping): one line
#      says the file changed under us, the app lives on with the conversation, /save works;
#   1d. files named in the app: an autosave whose file was taken by another session saves
#      under a fresh name (never stops saving), /save ~/x.json goes to $HOME, /theme FIFO
#      is refused at once (it froze the screen);
#   1e. --replay with a theme that has a bad line: the warning is on the first screen;
#   1b. a bracketed paste and typed keys holding bytes that are not UTF-8: shown as \xHH,
#      nothing after them lost, the paste ends, and Ctrl-C twice still quits; a paste whose
#      end marker is lost ends a second after its last byte;
#   2. 1 000 SIGWINCH (and a resize every 100) while a reply streams: no crash, and the
#      final screen is drawn for the final size;
#   3. at 20x6 the too-small message, at 300x100 the full layout;
#   4. the --hostile synth model in the app: escapes show as \e and change nothing (no
#      pane title, no clipboard buffer, the alternate screen kept, the cursor kept).
# Model: ../shared/fixtures/models/qwen2moe-tiny-f32.gguf (or $MOESCOPE_FIXTURES), and
# build/synth for part 4. Skips with a message when tmux or the model is absent.
# MOESCOPE_BIN picks another binary (a sanitizer build). Last line: `N passed, N failed`.
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

command -v tmux >/dev/null 2>&1 || { echo "skipped: tmux is not installed"; finish; }
[ -r "$MODEL" ] || { echo "skipped: no fixture model at $MODEL"; finish; }
[ -x "$BIN" ] || { echo "skipped: build moescope first (make)"; finish; }
MODEL="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moescope-sig.XXXXXX") || exit 1
SOCK="moescope-sig-$$"
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
T new-session -d -s keep -x 80 -y 24 "sleep 3600"
# OSC 52 from a pane would become a tmux paste buffer: the hostile test looks for one.
T set-option -s set-clipboard on

ENVS="LC_ALL=C.UTF-8 TERM=tmux-256color HOME=$TMP XDG_STATE_HOME=$TMP/state XDG_DATA_HOME=$TMP/data XDG_CONFIG_HOME=$TMP/config PS1='sig\$ '"
infocmp tmux-256color >/dev/null 2>&1 || ENVS=$(echo "$ENVS" | sed 's/TERM=tmux-256color/TERM=screen/')

cap() { T capture-pane -p -t sig; }
wait_for() { # wait_for REGEX SECONDS
    i=0
    while [ "$i" -lt $(($2 * 10)) ]; do
        cap >"$TMP/screen" 2>/dev/null
        grep -Eq -- "$1" "$TMP/screen" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
new_shell() { # new_shell COLS ROWS
    T kill-session -t sig 2>/dev/null
    T new-session -d -s sig -x "$1" -y "$2" "env $ENVS sh -i"
    T set-option -t sig status off >/dev/null
    wait_for 'sig\$' 5
}
ctrl_c_twice() { T send-keys -t sig C-c; sleep 0.3; T send-keys -t sig C-c; }
app_pid() { ps -o pid= --ppid "$(T display -p -t sig '#{pane_pid}')" | tr -d ' ' | head -1; }
# start_app MARK ARGS...: the shell prints MARK, then runs the app, then its exit status.
start_app() {
    mark=$1
    shift
    T send-keys -t sig "clear; echo $mark; $BIN $* ; echo EXIT=\$?" Enter
}
# restored LABEL MARK: alternate screen left, MARK (printed before the app) on the screen
# again, the prompt back, and echo on.
restored() {
    if [ "$(T display -p -t sig '#{alternate_on}')" != 0 ]; then
        bad "$1: still on the alternate screen" "$(cap)"
        return
    fi
    cap >"$TMP/screen"
    grep -q "^$2\$" "$TMP/screen" || { bad "$1: the shell's screen from before the app is gone" "$(cat "$TMP/screen")"; return; }
    T send-keys -t sig "stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo | sed 's/^/stty:/'" Enter
    if wait_for '^stty:-?echo$' 5 && grep -q '^stty:echo$' "$TMP/screen" && grep -q 'stty -a |' "$TMP/screen"; then
        ok "$1: alternate screen left, shell screen back, echo on"
    else
        bad "$1: the terminal is not as it was" "$(cat "$TMP/screen")"
    fi
}

# quit_restored LABEL MARK: Ctrl-C twice ends the app with status 0 and the terminal back
# (a frozen app is killed, so the next part starts clean).
quit_restored() {
    ctrl_c_twice
    if wait_for 'EXIT=0' 5; then
        ok "$1: Ctrl-C twice quits"
        restored "$1" "$2"
    else
        bad "$1: Ctrl-C twice did not quit" "$(cat "$TMP/screen")"
        kill -9 "$(app_pid)" 2>/dev/null
    fi
}

# ---- 1. every way out restores the terminal
for sig in CTRL-C TERM HUP SEGV ABRT QUIT USR1 USR2 ALRM BUS PIPE XFSZ; do
    new_shell 100 30
    mark="before-app-$sig"
    start_app "$mark" -m "$MODEL" -t 1
    if ! wait_for 'ready' 10; then
        bad "$sig: the app did not open" "$(cat "$TMP/screen")"
        continue
    fi
    if [ "$sig" = CTRL-C ]; then
        T send-keys -t sig C-c
        sleep 0.3
        T send-keys -t sig C-c
        want='EXIT=0'
    else
        pid=$(app_pid)
        kill -s "$sig" "$pid" 2>/dev/null
        want='EXIT=[0-9]+'
        # An ignored signal leaves the app running: it must still answer Ctrl-C twice.
        sleep 0.5
        if kill -0 "$pid" 2>/dev/null && ! grep -q 'EXIT=' "$TMP/screen"; then
            ctrl_c_twice
        fi
    fi
    if wait_for "$want" 5; then
        ok "$sig: the app ended ($(grep -o 'EXIT=[0-9]*' "$TMP/screen" | head -1))"
        restored "$sig" "$mark"
    else
        bad "$sig: the app did not end" "$(cat "$TMP/screen")"
    fi
done
# ---- 1b. bytes that are not UTF-8, pasted and typed
new_shell 100 30
start_app before-app-paste -m "$MODEL" -t 1
if wait_for 'ready' 10; then
    printf 'caf\351 \377 junk' >"$TMP/paste"
    T load-buffer "$TMP/paste"
    T paste-buffer -d -p -t sig   # -p: bracketed, as a terminal pastes; -d: buffer deleted
    sleep 0.3
    T send-keys -t sig -l ' typed'
    sleep 0.2
    T send-keys -t sig -H 20 61 62 c3 28 63 64   # " ab" \xc3 "(cd": a bad lead byte, then ASCII
    if wait_for 'caf\\xe9 \\xff junk typed ab\\xc3\(cd' 3; then
        ok "bad UTF-8: the paste and the typed keys shown as \\xHH, nothing after them lost"
    else
        bad "bad UTF-8: the input line is not 'caf\\xe9 \\xff junk typed ab\\xc3(cd'" "$(cat "$TMP/screen")"
    fi
    quit_restored "bad UTF-8 paste" before-app-paste
else
    bad "bad UTF-8: the app did not open" "$(cat "$TMP/screen")"
fi
# A paste whose end marker is lost: it ends a second after its last byte.
new_shell 100 30
start_app before-app-paste2 -m "$MODEL" -t 1
if wait_for 'ready' 10; then
    T send-keys -t sig -H 1b 5b 32 30 30 7e 68 65 6c 6c 6f   # ESC [200~ "hello", no ESC [201~
    sleep 1.6
    T send-keys -t sig -l 'x'
    if wait_for 'hellox' 3; then
        ok "lost paste end marker: the paste ends after a second, keys are keys again"
    else
        bad "lost paste end marker: the paste never ended" "$(cat "$TMP/screen")"
    fi
    quit_restored "lost paste end marker" before-app-paste2
else
    bad "lost paste end marker: the app did not open" "$(cat "$TMP/screen")"
fi

# ---- 1c. the model file truncated under the app
if [ -x "$SYNTH" ] && "$SYNTH" --layers 8 --d-model 512 --heads 8 --kv-heads 2 --experts 8 \
    --experts-used 2 --ff 512 --shared-ff 512 --ctx 4096 --seed 2 -o "$TMP/bus.gguf" 2>/dev/null; then
    new_shell 120 40
    start_app before-app-bus -m "$TMP/bus.gguf" -t 1 -n 3000 --temp 0.8 --seed 1
    if wait_for 'ready' 10; then
        pid=$(app_pid)
        T send-keys -t sig "Tell me a very long story about routers and experts" Enter
        wait_for 'generating' 10
        sleep 1
        truncate -s 4096 "$TMP/bus.gguf"
        if wait_for 'changed under us' 10; then
            ok "SIGBUS on the model: one line says the file changed under us"
        else
            bad "SIGBUS on the model: no 'changed under us' line" "$(cat "$TMP/screen")"
        fi
        if kill -0 "$pid" 2>/dev/null && grep -q 'Tell me a very long story' "$TMP/screen"; then
            ok "SIGBUS on the model: the app lives on, the conversation is kept"
            T send-keys -t sig "/save $TMP/bus-session.json" Enter
            if wait_for 'saved' 5 && [ -s "$TMP/bus-session.json" ] &&
                grep -q 'Tell me a very long story' "$TMP/bus-session.json"; then
                ok "SIGBUS on the model: /save still writes the session"
            else
                bad "SIGBUS on the model: /save after it" "$(cat "$TMP/screen")"
            fi
            quit_restored "SIGBUS on the model" before-app-bus
        else
            bad "SIGBUS on the model: the app died" "$(cat "$TMP/screen")"
        fi
    else
        bad "SIGBUS on the model: the app did not open" "$(cat "$TMP/screen")"
    fi
else
    echo "skipped: SIGBUS on the model (no $SYNTH)"
fi

# ---- 1d. files named in the app
new_shell 120 40
start_app before-app-files -m "$MODEL" -t 1 -n 8 --temp 0
SESS="$TMP/data/moescope/sessions"
if wait_for 'ready' 10; then
    T send-keys -t sig "Hello there" Enter
    wait_for '8 tokens' 20
    sleep 0.5
    first=$(ls "$SESS"/*.json 2>/dev/null | head -1)
    if [ -n "$first" ]; then
        # Another copy of the app took the name: a different session is there now.
        "$BIN" run -m "$MODEL" -p "Something else" -n 4 -t 1 --session "$TMP/other.json" >/dev/null 2>&1
        cp "$TMP/other.json" "$first"
        T send-keys -t sig "Tell me more" Enter
        saved=
        for i in 1 2 3 4 5 6 7 8 9 10; do
            sleep 0.5
            saved=$(grep -l 'Tell me more' "$SESS"/*.json 2>/dev/null | head -1)
            [ -n "$saved" ] && break
        done
        if [ -n "$saved" ] && [ "$saved" != "$first" ] && grep -q 'Something else' "$first"; then
            ok "autosave: its file taken by another session, it saves under $(basename "$saved")"
        else
            bad "autosave: no save after its file was taken (the other session's file kept: $(grep -c 'Something else' "$first"))" "$(cap)"
        fi
    else
        bad "autosave: the first reply was not autosaved" "$(cap)"
    fi
    T send-keys -t sig "/save ~/tilde.json" Enter
    sleep 0.5
    [ -s "$TMP/tilde.json" ] && ok "/save ~/tilde.json writes \$HOME/tilde.json" ||
        bad "/save ~/tilde.json: no $TMP/tilde.json" "$(cap)"
    mkfifo "$TMP/theme.fifo"
    T send-keys -t sig "/theme $TMP/theme.fifo" Enter
    if wait_for 'not a regular file' 5; then
        ok "/theme FIFO: refused at once"
    else
        bad "/theme FIFO: no refusal (the app waits on the pipe?)" "$(cat "$TMP/screen")"
    fi
    quit_restored "files in the app" before-app-files
else
    bad "files in the app: the app did not open" "$(cat "$TMP/screen")"
fi

# ---- 1e. --replay keeps the theme's warnings
printf 'text = default default\nsparkle = #ff0000 default bold\n' >"$TMP/bad.theme"
"$BIN" run -m "$MODEL" -p "Hello there" -n 8 -t 1 --session "$TMP/replay.json" >/dev/null 2>&1
if [ -s "$TMP/replay.json" ]; then
    new_shell 120 40
    start_app before-app-replay --replay "$TMP/replay.json" --theme "$TMP/bad.theme"
    if wait_for "unknown role 'sparkle'" 5; then
        ok "--replay: the theme's bad line is reported on the first screen"
    else
        bad "--replay: the theme's warning was dropped" "$(cat "$TMP/screen")"
    fi
    quit_restored "--replay with a bad theme" before-app-replay
else
    bad "--replay: run --session wrote no session to replay"
fi

# SIGINT sent as a signal (not as a key): the app must end the same way.
new_shell 100 30
start_app before-app-INT -m "$MODEL" -t 1
if wait_for 'ready' 10; then
    kill -s INT "$(app_pid)"
    sleep 0.3
    pid=$(app_pid)
    [ -n "$pid" ] && kill -s INT "$pid" 2>/dev/null
    if wait_for 'sig\$ *$' 5 && ! kill -0 "$pid" 2>/dev/null; then
        ok "SIGINT: the app ended"
        restored "SIGINT" before-app-INT
    else
        bad "SIGINT: the app did not end" "$(cat "$TMP/screen")"
    fi
else
    bad "SIGINT: the app did not open" "$(cat "$TMP/screen")"
fi

# ---- 2. 1 000 SIGWINCH while tokens stream
# A larger synth model streams for seconds rather than a fraction of one.
STORM_MODEL=$MODEL
if [ -x "$SYNTH" ] && "$SYNTH" --layers 8 --d-model 512 --heads 8 --kv-heads 2 --experts 8 \
    --experts-used 2 --ff 512 --shared-ff 512 --type q8_0 --ctx 4096 --seed 2 -o "$TMP/storm.gguf" 2>/dev/null; then
    STORM_MODEL=$TMP/storm.gguf
fi
new_shell 120 40
start_app before-app-WINCH -m "$STORM_MODEL" -t 1 -n 4000
if wait_for 'ready' 10; then
    pid=$(app_pid)
    T send-keys -t sig "Tell me a very long story about routers and experts" Enter
    wait_for 'generating' 10
    sizes="80x24 132x43 40x12 200x60 100x30 60x20 150x50 90x25 110x35"
    t0=$(date +%s.%N)
    i=0
    while [ "$i" -lt 1000 ]; do
        kill -s WINCH "$pid" 2>/dev/null || break
        i=$((i + 1))
        if [ $((i % 100)) = 0 ]; then
            s=$(echo "$sizes" | cut -d' ' -f$((i / 100)))
            [ -n "$s" ] && T resize-window -t sig -x "${s%x*}" -y "${s#*x}"
        fi
    done
    T resize-window -t sig -x 100 -y 30
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    sleep 0.5
    streaming=$(cap | grep -c -e 'generating' -e 'Esc stop')
    sleep 0.5
    if [ "$i" = 1000 ] && kill -0 "$pid" 2>/dev/null; then
        [ "$streaming" -gt 0 ] && during="still streaming after them" || during="the reply ended during them"
        ok "1000 SIGWINCH and 9 resizes while streaming: no crash ($during; $secs s)"
    else
        bad "the app died during the SIGWINCH storm (after $i)" "$(cap)"
    fi
    # The final screen is for 100x30: 30 rows, the key line at the bottom (not where a
    # smaller size put it), and text drawn out to the right edge (not to a narrower size).
    T send-keys -t sig Escape
    wait_for '[0-9]+ tokens' 30
    cap >"$TMP/screen"
    rows=$(wc -l <"$TMP/screen")
    widest=0
    while IFS= read -r line; do
        w=$(printf '%s' "$line" | sed 's/ *$//' | LC_ALL=C.UTF-8 wc -m)
        [ "$w" -gt "$widest" ] && widest=$w
    done <"$TMP/screen"
    if [ "$rows" = 30 ] && [ "$widest" -ge 95 ] && [ "$widest" -le 100 ] &&
        tail -3 "$TMP/screen" | grep -q 'Enter send'; then
        ok "final screen drawn for 100x30 (widest line $widest columns)"
    else
        bad "final screen at 100x30 ($rows rows, widest line $widest columns)" "$(cat "$TMP/screen")"
    fi
    T send-keys -t sig C-c
    sleep 0.3
    T send-keys -t sig C-c
    if wait_for 'EXIT=0' 5; then ok "quits with status 0 after the storm"; else bad "no clean quit after the storm" "$(cat "$TMP/screen")"; fi
else
    bad "SIGWINCH: the app did not open" "$(cat "$TMP/screen")"
fi

# ---- 3. sizes
new_shell 20 6
start_app before-app-small -m "$MODEL" -t 1
if wait_for 'too small' 10; then ok "20x6: the too-small message"; else bad "20x6" "$(cat "$TMP/screen")"; fi
T resize-window -t sig -x 300 -y 100
if wait_for 'ready' 10 && [ "$(cap | wc -l)" = 100 ] && cap | grep -q 'Enter send'; then
    ok "300x100: the app draws (100 rows, footer shown)"
else
    bad "300x100" "$(cat "$TMP/screen")"
fi
wide=$(cap | awk '{ sub(/ +$/, ""); if (length($0) > 200) n++ } END { print n + 0 }')
[ "$wide" -gt 0 ] && ok "300x100: the layout uses the width" || bad "300x100: nothing drawn past column 200" "$(cap)"
T send-keys -t sig C-c
sleep 0.3
T send-keys -t sig C-c
wait_for 'EXIT=0' 5 && ok "300x100: quits with status 0" || bad "300x100: no clean quit" "$(cat "$TMP/screen")"

# ---- 4. hostile model output in the app
if [ -x "$SYNTH" ]; then
    "$SYNTH" --hostile --seed 1 -o "$TMP/hostile.gguf" 2>/dev/null
    new_shell 120 40
    T send-keys -t sig "printf '\\033]2;before\\007'" Enter
    sleep 0.3
    title0=$(T display -p -t sig '#{pane_title}')
    start_app before-app-hostile -m "$TMP/hostile.gguf" -t 1 --temp 0.8 --seed 3 -n 200
    if wait_for 'ready' 10; then
        T send-keys -t sig "Hello there" Enter
        wait_for '[0-9]+ tokens' 20
        sleep 0.5
        cap >"$TMP/screen"
        if grep -q '\\e' "$TMP/screen"; then ok "hostile: escapes shown as \\e"; else bad "hostile: no visible \\e" "$(cat "$TMP/screen")"; fi
        [ "$(T display -p -t sig '#{pane_title}')" = "$title0" ] && ok "hostile: the pane title is unchanged" ||
            bad "hostile: the title changed to '$(T display -p -t sig '#{pane_title}')'"
        [ -z "$(T list-buffers 2>/dev/null)" ] && ok "hostile: no clipboard write (no OSC 52 buffer)" ||
            bad "hostile: a clipboard buffer appeared" "$(T list-buffers)"
        [ "$(T display -p -t sig '#{alternate_on}')" = 1 ] && ok "hostile: still on the alternate screen" ||
            bad "hostile: the alternate screen was left"
        grep -q 'Enter send' "$TMP/screen" && ok "hostile: the app's screen is intact" ||
            bad "hostile: the screen was overwritten" "$(cat "$TMP/screen")"
        T send-keys -t sig C-c
        sleep 0.3
        T send-keys -t sig C-c
        wait_for 'EXIT=0' 5 && restored "hostile" before-app-hostile || bad "hostile: no clean quit" "$(cat "$TMP/screen")"
    else
        bad "hostile: the app did not open" "$(cat "$TMP/screen")"
    fi
else
    echo "skipped: hostile part (no $SYNTH; run make)"
fi

finish
