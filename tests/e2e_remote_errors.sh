#!/bin/sh
# tests/e2e_remote_errors.sh: `moescope run|bench|info -m URL` against a tiny misbehaving
# server (tests/remote/fake_server.py, one mode per process) and against addresses that do
# not work, and over https to a local TLS server whose CA the test makes with openssl
# (--ca-cert, $CURL_CA_BUNDLE, $SSL_CERT_FILE, --insecure): each failure is one line that
# says what went wrong, a partial reply stays on stdout marked interrupted, and the API key
# never reaches a message, a trace or a session.
# Also the recorded vLLM and SGLang replies (tests/remote/*: written from their documented
# formats; no GPU server is available here) decode to the expert ids their generator
# (tests/remote/make_fixtures.py) used. Last line: `N passed, N failed`.
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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moescope-remote.XXXXXX") || exit 1
PIDS=""
cleanup() {
    tmux -L "moescope-remote-$$" kill-server 2>/dev/null
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# start MODE: a fake server; its port in $PORT.
start() {
    python3 tests/remote/fake_server.py "$1" "$TMP/port.$1" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$TMP/port.$1" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    PORT=$(cat "$TMP/port.$1" 2>/dev/null)
}
# expect NAME WANT-IN-STDERR [WANT-RC]: checks the last run's stderr and exit status.
expect() {
    if grep -qF -- "$2" "$TMP/err" && [ "$(grep -c . "$TMP/err")" -ge 1 ] &&
       [ "${3:-1}" = "$RC" ]; then
        ok "$1"
    else
        bad "$1" "wanted '$2' (exit ${3:-1}), got exit $RC: $(cat "$TMP/err")"
    fi
}
KEY=sk-e2e-secret-5150-abcdef
runit() { MOESCOPE_API_KEY=$KEY "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"; RC=$?; }
nokey() {
    if grep -rqF "5150-abcdef" "$TMP/out" "$TMP/err" "$TMP"/*.json* 2>/dev/null; then
        bad "$1: the key leaked" "$(grep -rlF 5150-abcdef "$TMP")"
    else ok "$1: no key in stdout, stderr, traces or sessions"; fi
}

# -- addresses that do not work --
runit run -m http://127.0.0.1:1 -p hi
expect "connection refused" "http://127.0.0.1:1/v1/models: cannot connect to 127.0.0.1:1 (connection refused"
runit run -m http://no-such-host.invalid:8080 -p hi
expect "DNS failure" "cannot resolve the host name 'no-such-host.invalid' (DNS)"

start ok
OKPORT=$PORT
runit run -m "https://127.0.0.1:$OKPORT" -p hi
expect "TLS error (https to a plain-HTTP server)" "https://127.0.0.1:$OKPORT/v1/models: TLS error:"
grep -qF -- "--insecure skips the check" "$TMP/err" && ok "TLS error names --insecure" || bad "TLS error names --insecure" "$(cat "$TMP/err")"
runit info "http://127.0.0.1:$OKPORT" --insecure
grep -qF "INSECURE: the certificate is not checked" "$TMP/out" && ok "--insecure says so" || bad "--insecure says so" "$(cat "$TMP/out")"
# -- https that works: a local TLS server with a certificate from a CA the test makes --
if command -v openssl >/dev/null 2>&1 && python3 -c 'import ssl' 2>/dev/null; then
    ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl req -x509 $ec -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 2 \
        -subj /CN=moescope-test-ca >/dev/null 2>&1
    openssl req $ec -keyout "$TMP/srv.key" -out "$TMP/srv.csr" -subj /CN=127.0.0.1 >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/srv.ext"
    openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
        -out "$TMP/srv.pem" -days 2 -extfile "$TMP/srv.ext" >/dev/null 2>&1
    FAKE_SERVER_TLS="$TMP/srv.pem:$TMP/srv.key" python3 tests/remote/fake_server.py ok "$TMP/port.tls" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$TMP/port.tls" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    TLSURL="https://127.0.0.1:$(cat "$TMP/port.tls" 2>/dev/null)"
    nocas() { env -u CURL_CA_BUNDLE -u SSL_CERT_FILE "$@"; }
    RC=0; nocas "$BIN" run -m "$TLSURL" -p hi -n 3 >"$TMP/out" 2>"$TMP/err" || RC=$?
    expect "https: a certificate the system does not trust" "$TLSURL/v1/models: TLS error: SSL certificate problem: unable to get local issuer certificate (trusted: the system's CA store; --ca-cert FILE trusts another CA"
    RC=0; nocas "$BIN" run -m "$TLSURL" -p hi -n 3 --ca-cert "$TMP/ca.pem" >"$TMP/out" 2>"$TMP/err" || RC=$?
    [ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be," ] && ok "https with --ca-cert: the stream over TLS" || bad "https --ca-cert" "rc $RC: $(cat "$TMP/err")"
    for var in CURL_CA_BUNDLE SSL_CERT_FILE; do
        RC=0; nocas env "$var=$TMP/ca.pem" "$BIN" run -m "$TLSURL" -p hi -n 3 >"$TMP/out" 2>"$TMP/err" || RC=$?
        [ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be," ] && ok "https with \$$var" || bad "https \$$var" "rc $RC: $(cat "$TMP/err")"
    done
    RC=0; nocas "$BIN" run -m "$TLSURL" -p hi -n 3 --insecure >"$TMP/out" 2>"$TMP/err" || RC=$?
    [ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be," ] && grep -qF "INSECURE: TLS certificate not checked" "$TMP/err" &&
        ok "https with --insecure: works, and says INSECURE" || bad "https --insecure" "rc $RC: $(cat "$TMP/err")"
    RC=0; nocas "$BIN" run -m "$TLSURL" -p hi --ca-cert "$TMP/none.pem" >"$TMP/out" 2>"$TMP/err" || RC=$?
    expect "--ca-cert FILE that is not there" "--ca-cert $TMP/none.pem: No such file or directory"
else
    echo "skipped: openssl or python3's ssl is not installed (the https part; tools/deps.sh test installs it)"
fi
runit run -m "http://127.0.0.1:$OKPORT" --api-key-file "$TMP/none" -p hi
expect "missing key file" "--api-key-file $TMP/none: No such file or directory"

# -- a working stream: text, trace, session, and the key nowhere --
runit run -m "user:pw@127.0.0.1" -p hi 2>/dev/null
runit run -m "http://127.0.0.1:$OKPORT" -p hi -n 8 --temp 0 --trace "$TMP/t.jsonl" --session "$TMP/s.json"
[ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be, or not" ] && ok "the stream's text on stdout" || bad "the stream's text on stdout" "rc $RC: $(cat "$TMP/out" "$TMP/err")"
grep -q '"piece":" be","prompt":false.*"logprob":-0.5,"top":\[\[' "$TMP/t.jsonl" && ok "logprobs and alternatives reach the trace" || bad "logprobs reach the trace" "$(head -c 600 "$TMP/t.jsonl")"
grep -q "TTFT [0-9.]* ms | inter-token p50 [0-9.]* p95" "$TMP/err" && ok "TTFT and inter-token times measured" || bad "TTFT and ITL" "$(cat "$TMP/err")"
grep -qF "server: prompt 4 tok 1.5 ms, decode 5 tok 80.0 ms" "$TMP/err" && ok "the server's own timings beside the client's" || bad "server timings" "$(cat "$TMP/err")"
# timings_per_token: each chunk's running predicted_ms (0, 20, 40, ...): 20 ms for each fed
# record (the fifth, last, is never fed); the client's time minus that is the network's
[ "$(grep -c '"prompt":false.*"server":20000000}' "$TMP/t.jsonl")" = 4 ] &&
    grep -q "| network+queue TTFT [-+][0-9.]* ms, [-+][0-9.]* ms/tok |" "$TMP/err" &&
    ok "the server's time per token (timings_per_token) in the trace; network+queue beside it" ||
    bad "server time per token" "$(cat "$TMP/err" "$TMP/t.jsonl")"
grep -qF "not reported by this server: expert ids, gate weights, entropy, time split" "$TMP/err" && ok "what the server does not report is named" || bad "not reported" "$(cat "$TMP/err")"
grep -qF '"backend":{"family":"llama-server","url":"http://127.0.0.1:'"$OKPORT"'/v1","fingerprint":"b7100-80fb11ac"}' "$TMP/s.json" && ok "the session records the backend" || bad "session backend" "$(head -c 800 "$TMP/s.json")"
"$BIN" export md "$TMP/s.json" "$TMP/s.md" 2>"$TMP/err" && grep -qF " To be, or not" "$TMP/s.md" && ok "the remote session loads with no model and no server" || bad "remote session loads" "$(cat "$TMP/err")"
runit run -m "http://127.0.0.1:$OKPORT" --model nope -p hi
expect "an unknown --model lists the served ones" "model 'nope' is not served there; served: fake-moe, other-model"
runit info "http://127.0.0.1:$OKPORT" --json
grep -qF '"family":"llama-server","model":"fake-moe","served":"fake-moe, other-model"' "$TMP/out" && ok "info URL --json" || bad "info URL --json" "$(cat "$TMP/out" "$TMP/err")"
runit bench -m "http://127.0.0.1:$OKPORT" --parallel 1,4 --requests 4 -n 5 --json
python3 - "$TMP/out" <<'PY' && ok "bench --parallel 1,4 --json has the parallel rows" || bad "bench --parallel --json" "$(cat "$TMP/out" "$TMP/err")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["parallel"]
keys = {"level", "tg_tps", "wall_tps", "itl_p50_ms", "itl_p95_ms", "itl_p99_ms", "ttft_p50_ms", "ttft_p99_ms", "errors"}
assert [r["level"] for r in rows] == [1, 4], rows
for r in rows:
    assert keys <= set(r), r
    assert r["errors"] == 0 and r["tg_tps"] > 0 and r["ttft_p50_ms"] > 0 and r["itl_p50_ms"] > 0, r
PY
nokey "working stream"

# -- refusals --
start auth
runit run -m "http://127.0.0.1:$PORT" -p hi
expect "401 names the key's source" "/v1/models: HTTP 401: the server refused the API key from \$MOESCOPE_API_KEY"
nokey "401 (the server quotes the key back)"
echo right-key >"$TMP/key"
"$BIN" run -m "http://127.0.0.1:$PORT" -p hi -n 2 --api-key-file "$TMP/key" >"$TMP/out" 2>"$TMP/err"; RC=$?
[ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be" ] && ok "--api-key-file sends the key" || bad "--api-key-file" "$(cat "$TMP/err")"
env -u MOESCOPE_API_KEY "$BIN" run -m "http://127.0.0.1:$PORT" -p hi >"$TMP/out" 2>"$TMP/err"; RC=$?
expect "401 without a key says how to give one" "the server wants an API key (none given: --api-key-file FILE or MOESCOPE_API_KEY)"
start forbidden
runit run -m "http://127.0.0.1:$PORT" -p hi
expect "403" "HTTP 403: the server refused the API key from \$MOESCOPE_API_KEY"
start nomodel
runit run -m "http://127.0.0.1:$PORT" -p hi
expect "404 model lists the served ones" "HTTP 404: model 'fake-moe' not found; served: fake-moe, other-model"
start ratelimit
runit run -m "http://127.0.0.1:$PORT" -p hi
expect "429 with Retry-After" "HTTP 429: too many requests; the server asks to retry after 7 s"
start busy
runit run -m "http://127.0.0.1:$PORT" -p hi
expect "503 with Retry-After" "HTTP 503: the server is busy; the server asks to retry after 3 s"

# -- streams that go wrong: the partial reply stays --
partial() { # NAME WANT-STDOUT WANT-STDERR
    if [ "$(cat "$TMP/out")" = "$2" ] && grep -qF -- "$3" "$TMP/err" &&
       grep -qF "the partial reply is kept, marked interrupted" "$TMP/err" &&
       grep -q "| interrupted$" "$TMP/err" && [ "$RC" = 1 ]; then ok "$1"
    else bad "$1" "rc $RC, stdout '$(cat "$TMP/out")': $(cat "$TMP/err")"; fi
}
start stall
t0=$(date +%s)
runit run -m "http://127.0.0.1:$PORT" -p hi --timeout 1
partial "a stalled stream: read timeout (--timeout)" " To" "no data for 1 s (the read timeout; raise it with --timeout)"
[ $(($(date +%s) - t0)) -lt 10 ] && ok "the read timeout is --timeout's" || bad "the read timeout took too long"
start cut
runit run -m "http://127.0.0.1:$PORT" -p hi --trace "$TMP/cut.jsonl"
partial "a cut stream" " To be," "the connection was closed mid-reply"
[ "$(grep -c '"prompt":false' "$TMP/cut.jsonl")" = 3 ] && ok "the cut reply's records reach the trace" || bad "cut trace" "$(cat "$TMP/cut.jsonl")"
# (the offsets: two events with their timings_per_token objects, then the bad line)
start badsse
runit run -m "http://127.0.0.1:$PORT" -p hi
partial "malformed SSE names the byte offset" " To be" "malformed SSE at byte 1045 of the stream"
start badjson
runit run -m "http://127.0.0.1:$PORT" -p hi
partial "malformed JSON names the byte offset" " To be" "malformed JSON at byte 1071 of the stream"
start midError
runit run -m "http://127.0.0.1:$PORT" -p hi
partial "an error event mid-stream" " To be" "the server reported an error mid-reply: the GPU fell over"
runit bench -m "http://127.0.0.1:$OKPORT" --parallel 2 --requests 2 -n 3
[ "$RC" = 0 ] && grep -q "^    2        2      0" "$TMP/out" && ok "bench --parallel table" || bad "bench table" "$(cat "$TMP/out" "$TMP/err")"

# -- recorded vLLM and SGLang replies: expert ids decoded (no GPU server here) --
start vllm
VLLMPORT=$PORT
runit run -m "http://127.0.0.1:$PORT" -p hi -n 4 --routed-experts --trace "$TMP/v.jsonl"
python3 - "$TMP/v.jsonl" <<'PY' && ok "vLLM: routed_experts (<i2 .npy) and prompt_routed_experts (|u1) decoded" || bad "vLLM expert ids" "$(cat "$TMP/err")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
prompt = [r for r in recs if r["prompt"]]
reply = [r for r in recs if not r["prompt"]]
assert len(prompt) == 5 and len(reply) == 4, (len(prompt), len(reply))
for t, r in enumerate(prompt):
    assert [l["experts"] for l in r["layers"]] == [[(5*t + l + 2*k) % 64 for k in range(2)] for l in range(3)], r
for t, r in enumerate(reply):
    assert [l["experts"] for l in r["layers"]] == [[(7*t + 3*l + k) % 64 for k in range(2)] for l in range(3)], r
PY
grep -qF "inter-token: not measured (one whole reply)" "$TMP/err" && ok "vLLM's whole reply: inter-token not measured, not zero" || bad "vLLM ITL" "$(cat "$TMP/err")"
start sglang
SGLPORT=$PORT
runit run -m "http://127.0.0.1:$PORT" -p hi -n 4 --routed-experts --experts-shape 3,2 --trace "$TMP/g.jsonl"
python3 - "$TMP/g.jsonl" <<'PY' && ok "SGLang: sgl_ext.routed_experts (int32) decoded per chunk" || bad "SGLang expert ids" "$(cat "$TMP/err")"
import json, sys
reply = [r for r in map(json.loads, open(sys.argv[1])) if not r["prompt"]]
assert len(reply) == 4
# The last token has no next chunk, so no time: not fed, and its layers are not shown (as
# the local engine's last token); the three before it carry their ids.
assert reply[3]["layers"] == [None, None, None], reply[3]
for t, r in enumerate(reply[:3]):
    assert [l["experts"] for l in r["layers"]] == [[(7*t + 3*l + k) % 64 for k in range(2)] for l in range(3)], r
PY
runit run -m "http://127.0.0.1:$PORT" -p hi -n 4 --routed-experts
grep -qF "sent routed experts without their shape: give --experts-shape LAYERS,K" "$TMP/err" && ok "SGLang ids without a shape: says so" || bad "SGLang shape message" "$(cat "$TMP/err")"
# -- Ollama's own API (--native): /api/generate and /api/chat streamed as NDJSON, the
# durations in ns on the last line (a fake written from Ollama's documented format) --
start ollama
runit run -m "http://127.0.0.1:$PORT" --native -p hi --temp 0 --trace "$TMP/o.jsonl"
[ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be, or not" ] && ok "Ollama --native: the NDJSON stream's text" || bad "Ollama --native text" "rc $RC: $(cat "$TMP/out" "$TMP/err")"
grep -qF "server: prompt 4 tok 1.5 ms, decode 5 tok 80.0 ms, load 20.0 ms, total 250.0 ms" "$TMP/err" &&
    grep -q "TTFT [0-9.]* ms | inter-token p50 [0-9.]* p95" "$TMP/err" &&
    ok "Ollama's durations (ns) beside the client's TTFT and inter-token times" || bad "Ollama durations" "$(cat "$TMP/err")"
grep -q '"piece":" be","prompt":false.*"logprob":-0.5,"top":\[\[' "$TMP/o.jsonl" && ok "Ollama's logprobs reach the trace" || bad "Ollama logprobs" "$(head -c 800 "$TMP/o.jsonl")"
# Ollama gives one eval_duration for the reply: spread evenly, 80 ms over the 4 fed records
[ "$(grep -c '"prompt":false.*"server":20000000}' "$TMP/o.jsonl")" = 4 ] &&
    grep -q "| network+queue TTFT [-+][0-9.]* ms, [-+][0-9.]* ms/tok |" "$TMP/err" &&
    ok "Ollama's durations spread over the records; network+queue beside them" ||
    bad "Ollama server time per record" "$(cat "$TMP/err" "$TMP/o.jsonl")"
runit run -m "http://127.0.0.1:$PORT" --native --chat -p hi -n 3
[ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = " To be," ] && grep -qF "decode 3 tok 80.0 ms" "$TMP/err" &&
    ok "Ollama --native --chat: /api/chat, num_predict" || bad "Ollama /api/chat" "rc $RC: $(cat "$TMP/out" "$TMP/err")"
[ "$(cat "$TMP/port.ollama.posts")" = "/api/generate prompt
/api/chat ['user']" ] && ok "--native asks /api/generate (raw) and /api/chat (--chat)" || bad "Ollama endpoints" "$(cat "$TMP/port.ollama.posts")"
start ollamabad
runit run -m "http://127.0.0.1:$PORT" --native -p hi
partial "Ollama: a line of cut JSON names the byte offset" " To be" "malformed JSON at byte 557 of the stream"
runit run -m "http://127.0.0.1:$OKPORT" --native -p hi
expect "--native on a server that is not Ollama" "--native is Ollama's own API (/api/chat), and this server is llama-server, not Ollama"

# -- the app in tmux on a server --
if command -v tmux >/dev/null 2>&1; then
    SOCK="moescope-remote-$$"
    T() { tmux -L "$SOCK" -f /dev/null "$@"; }
    screen() { T capture-pane -p -t app; }
    waitfor() { # TEXT SECONDS
        i=0
        while [ $i -lt $(($2 * 10)) ]; do screen | grep -qF -- "$1" && return 0; sleep 0.1; i=$((i + 1)); done
        return 1
    }
    start slow
    SLOWPORT=$PORT
    # (140 columns: the reply's line keeps the server's figures, which come last)
    T new-session -d -s app -x 140 -y 32 \
        "env XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state $BIN -m http://127.0.0.1:$OKPORT; sleep 30"
    if waitfor "served by llama-server at" 20 &&
       screen | head -1 | grep -qF "llama-server at http://127.0.0.1:$OKPORT/v1"; then
        T send-keys -t app "Hello there" Enter
        if waitfor "5 tokens" 20 && screen | grep -qF " To be, or not" &&
           screen | grep -qF "expert ids: not reported by this server" &&
           screen | grep -qF "llama-server at http://127.0.0.1:$OKPORT/v1"; then
            ok "the app chats with a server; the views say what it does not report"
        else bad "the app chats with a server" "$(screen)"; fi
        # the server's own times beside the client's: the reply's line, and the latency
        # view's rows (the fake's timings_per_token: prompt 1.5 ms, then 20 ms a token)
        T send-keys -t app Tab
        T send-keys -t app 4
        waitfor "server TTFT 1.5 ms" 10 # (the latency view, drawn when the keys are read)
        if screen | grep -qE "5 tokens [^ ]+ [0-9.]+ tok/s [^ ]+ TTFT [0-9]+ ms [^ ]+ server: TTFT 2 ms, 50\.0 tok/s" &&
           screen | grep -qF "server TTFT 1.5 ms, 20.00 ms/tok (p95 20.00)" &&
           screen | grep -qE "latency ms/token  TTFT [0-9]+ ms  p95 [0-9.]+ ms  1\.00 tok/chunk" &&
           screen | grep -qE "network\+queue TTFT [-+][0-9.]+ ms, [-+][0-9.]+ ms/tok"; then
            ok "the app shows the server's own times (the reply's line, the latency view) and tokens per chunk"
        else bad "the server's times in the app" "$(screen)"; fi
        T send-keys -t app Tab
    else bad "the app opens a server" "$(screen)"; fi
    T kill-session -t app

    # Which endpoint: the server's chat template (/v1/chat/completions) when it takes
    # messages; raw text (/v1/completions) after it refuses them, or with --chat-template.
    # posts_are MODE NAME WANT: the fake server's log of POSTs (path and message roles).
    posts_are() {
        if [ "$(cat "$TMP/port.$1.posts" 2>/dev/null)" = "$3" ]; then ok "$2"
        else bad "$2" "posts: $(cat "$TMP/port.$1.posts" 2>/dev/null)
$(screen)"; fi
    }
    two_turns() { # ARGS...: the app on a server, two messages; the screen in $TMP/two
        T new-session -d -s app -x 120 -y 32 \
            "env XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state $BIN $*; sleep 30"
        waitfor "served by " 20
        T send-keys -t app "Hello there" Enter
        waitfor "5 tokens" 20
        T send-keys -t app "And again" Enter
        i=0
        while [ $i -lt 100 ] && [ "$(screen | grep -c "5 tokens")" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done
        screen >"$TMP/two"
        T kill-session -t app
    }
    : >"$TMP/port.ok.posts"
    two_turns -m "http://127.0.0.1:$OKPORT" --system Brief
    posts_are ok "the app sends messages to /v1/chat/completions (the server's template)" \
"/v1/chat/completions ['system', 'user']
/v1/chat/completions ['system', 'user', 'assistant', 'user']"
    autosave=$(ls -t "$TMP"/data/moescope/sessions/*.json 2>/dev/null | head -1)
    grep -qF '"backend":{"family":"llama-server","url":"http://127.0.0.1:'"$OKPORT"'/v1","fingerprint":"b7100-80fb11ac"}' "$autosave" &&
        ok "the app's autosave records the server: family, URL and fingerprint" ||
        bad "the app's autosave backend" "$autosave: $(head -c 600 "$autosave" 2>&1)"
    grep -qF "via /v1/chat/completions" "$TMP/two" && grep -qF "in the server's own chat" "$TMP/two" &&
        ok "the status bar and the welcome say /v1/chat/completions" || bad "chat endpoint shown" "$(cat "$TMP/two")"
    : >"$TMP/port.ok.posts"
    two_turns -m "http://127.0.0.1:$OKPORT" --chat-template chatml
    posts_are ok "--chat-template: raw text to /v1/completions in the app's template" \
"/v1/completions prompt
/v1/completions prompt"
    grep -qF "via /v1/completions" "$TMP/two" && ok "the status bar says /v1/completions" || bad "raw endpoint shown" "$(cat "$TMP/two")"
    start nochat
    two_turns -m "http://127.0.0.1:$PORT"
    posts_are nochat "a server that refuses messages (400): the turn again as raw text, and the next" \
"/v1/chat/completions ['user']
/v1/completions prompt
/v1/completions prompt"
    if [ "$(grep -c "^ *5 tokens" "$TMP/two")" = 2 ] && grep -qF "HTTP 400 - As of transformers" "$TMP/two" &&
       grep -qF "goes as raw text to /v1/completions from now" "$TMP/two" &&
       grep -qF "via /v1/completions" "$TMP/two"; then
        ok "the refusal is said once, both replies arrive, the status bar says /v1/completions"
    else bad "the chat refusal in the app" "$(cat "$TMP/two")"; fi
    T new-session -d -s app -x 120 -y 32 \
        "env XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state $BIN -m http://127.0.0.1:$SLOWPORT; sleep 30"
    waitfor "served by llama-server" 20
    T send-keys -t app "Go on" Enter
    waitfor " To be, or" 20
    T send-keys -t app Escape
    i=0
    while [ ! -s "$TMP/port.slow.closed" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    if [ -s "$TMP/port.slow.closed" ] && waitfor "stopped" 5; then
        ok "Esc closes the connection: the server saw it ($(cat "$TMP/port.slow.closed"))"
    else bad "Esc closes the connection" "$(screen)"; fi
    T kill-session -t app
    start cut
    T new-session -d -s app -x 120 -y 32 \
        "env XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state $BIN -m http://127.0.0.1:$PORT; sleep 30"
    waitfor "served by llama-server" 20
    T send-keys -t app "Hi" Enter
    # (the error line wraps in the 62-column transcript: its first words are checked)
    if waitfor "interrupted" 20 && screen | grep -qF " To be," &&
       screen | grep -qF "completions: the connection"; then
        ok "a cut stream in the app: the partial reply stays, marked interrupted"
    else bad "a cut stream in the app" "$(screen)"; fi
    # Expert ids from a server reach the app's views: the UI's log takes the shape the
    # first ids give it (recorded replies, as above).
    # app_routing NAME PORT SELECTED-L0-IDS ARGS...: chats once, then checks the heatmap,
    # balance and token views (the selected token is the last fed one: its layer-0 ids).
    app_routing() {
        name=$1 port=$2 ids=$3
        shift 3
        T kill-session -t app 2>/dev/null
        T new-session -d -s app -x 120 -y 40 \
            "env XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state $BIN -m http://127.0.0.1:$port $*; sleep 30"
        waitfor "served by $name" 20
        T send-keys -t app "Hello" Enter
        waitfor "4 tokens" 20
        T send-keys -t app Tab 2
        sleep 0.5
        heat=$(screen)
        T send-keys -t app 5
        sleep 0.5
        bal=$(screen)
        T send-keys -t app 7
        sleep 0.5
        tok=$(screen)
        T send-keys -t app 4
        sleep 0.5
        lat=$(screen)
        T kill-session -t app
        if printf '%s\n' "$heat" | grep -q "│L0 .*$(printf '\342\226\210')" &&
           printf '%s\n' "$heat" | grep -qF "chosen (ids only: no gate weights)" &&
           printf '%s\n' "$tok" | grep -q "│L0 *$ids *$" &&
           printf '%s\n' "$tok" | grep -qF "expert ids (gates, entropy: not reported" &&
           printf '%s\n' "$bal" | grep -q "│L2  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9]*%" &&
           ! printf '%s\n' "$heat$tok$bal" | grep -qF "expert ids: not reported"; then
            ok "$name's expert ids in the app: heatmap, token inspector, balance"
        else bad "$name's expert ids in the app" "$heat
$tok
$bal"; fi
    }
    app_routing vllm "$VLLMPORT" "21 22" --routed-experts
    # vLLM's whole reply has no token times: said, not drawn as zeros
    if printf '%s\n' "$lat" | grep -qF "inter-token times: not measured" &&
       printf '%s\n' "$lat" | grep -qF "4 tokens · TTFT" && ! printf '%s\n' "$lat" | grep -qF "0.0 tok/s"; then
        ok "vLLM's whole reply in the app: inter-token times not measured, no 0.0 tok/s"
    else bad "vLLM's whole reply: latency view" "$lat"; fi
    # (SGLang's last token has no next chunk, so it is not fed: the one before it is shown)
    app_routing sglang "$SGLPORT" "14 15" --routed-experts --experts-shape 3,2
    printf '%s\n' "$lat" | grep -q "tok/s  p50 [0-9.]*  p95" && ! printf '%s\n' "$lat" | grep -qF "not measured" &&
        ok "SGLang's stream in the app: inter-token times measured" || bad "SGLang latency view" "$lat"
    T kill-server 2>/dev/null
else
    echo "skipped: tmux is not installed (the app's part)"
fi
finish
