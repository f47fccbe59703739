#!/usr/bin/env python3
"""tests/remote/fake_server.py: a tiny OpenAI-compatible server that misbehaves on purpose,
for tests/e2e_remote_errors.sh. One mode per process:

  fake_server.py MODE [PORTFILE]

It listens on 127.0.0.1 with a free port, writes the port to PORTFILE (or prints it), and
serves /v1/models (owned_by from the mode's family) and POST /v1/completions and
/v1/chat/completions as the mode says:
  ok          a llama-server-like stream of five tokens with logprobs, usage and timings
              (with timings_per_token on every chunk: prompt 1.5 ms, then 20 ms a token)
  auth        401 unless "Authorization: Bearer right-key"; the 401 body quotes the key sent
  forbidden   403 always
  nomodel     404 {"error": "model not found"} on the completions endpoints
  ratelimit   429 with Retry-After: 7
  busy        503 with Retry-After: 3
  stall       one token, then nothing (the connection stays open)
  cut         three tokens, then the connection closes mid-stream
  badsse      two tokens, then a line that is not an SSE field
  badjson     two tokens, then an event whose JSON is cut
  midError    two tokens, then {"error": {...}} as an event
  slow        400 tokens, 50 ms apart; when the client closes the connection it writes
              "closed after N tokens" to PORTFILE.closed
  nochat      as ok, but /v1/chat/completions answers 400 as vLLM does for a model with no
              chat template
  ollama      /v1/models owned_by library (Ollama's); POST /api/chat and /api/generate
              stream five tokens as NDJSON with logprobs, the last line done: true with
              Ollama's durations in ns (load 20 ms, prompt 4 tokens 1.5 ms, eval 5 tokens
              80 ms, total 250 ms)
  ollamabad   as ollama, but the third line is cut JSON
  vllm        /v1/models owned_by vllm; a whole (non-streamed) reply read from
              tests/remote/vllm_reply.json
  sglang      /v1/models owned_by sglang; the stream in tests/remote/sglang_stream.txt
  think       a reasoning model's reply: <think>, two pieces of thinking, </think>, the
              answer "Yes." (tests/e2e_reasoning.sh)
  harmony     the same reply in gpt-oss's harmony channels: analysis, then the
              "<|start|>assistant" header and the final channel
With FAKE_SERVER_TLS=CERT:KEY in the environment it speaks https with that certificate.
Every POST's path and its messages' roles (or "prompt") are appended to PORTFILE.posts.
Everything here is written from the servers' documented formats; no GPU server was used.
"""
import json
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
TOKENS = [" To", " be", ",", " or", " not"]
if MODE == "think":
    TOKENS = ["<think>", "\nplan", " ahead\n", "</think>", "\n\n", "Yes", "."]
if MODE == "harmony":
    TOKENS = ["<|channel|>", "analysis", "<|message|>", "plan", " ahead", "<|end|>", "<|start|>",
              "assistant", "<|channel|>", "final", "<|message|>", "Yes", "."]
OWNER = {"vllm": "vllm", "sglang": "sglang", "ollama": "library",
         "ollamabad": "library"}.get(MODE, "llamacpp")


def chunk(i, tok, chat, timed=False):
    entry = {"id": 100 + i, "token": tok, "bytes": list(tok.encode()), "logprob": -0.25 * (i + 1),
             "top_logprobs": [{"id": 100 + i, "token": tok, "bytes": list(tok.encode()),
                               "logprob": -0.25 * (i + 1)},
                              {"id": 7, "token": " and", "bytes": list(b" and"), "logprob": -3.5}]}
    choice = {"index": 0, "finish_reason": None, "logprobs": {"content": [entry]}}
    if chat:
        choice["delta"] = {"content": tok}
    else:
        choice["text"] = tok
    out = {"choices": [choice], "object": "text_completion", "model": "fake-moe",
           "system_fingerprint": "b7100-80fb11ac"}
    if timed:
        # llama-server's timings_per_token: every chunk carries the running totals; the
        # first token is free (the prompt's logits), then 20 ms a token, as the final 80
        out["timings"] = {"prompt_n": 4, "prompt_ms": 1.5, "predicted_n": i + 1,
                          "predicted_ms": 20.0 * i, "cache_n": 0}
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/") != "/v1/models":
            return self.send_json(404, {"error": {"message": "no such path"}})
        if MODE == "auth" and self.headers.get("Authorization") != "Bearer right-key":
            return self.send_json(401, {"error": {"message": "invalid key: %s" %
                                                  self.headers.get("Authorization", "")}})
        if MODE == "forbidden":
            return self.send_json(403, {"error": {"message": "forbidden"}})
        self.send_json(200, {"object": "list", "data": [
            {"id": "fake-moe", "object": "model", "owned_by": OWNER},
            {"id": "other-model", "object": "model", "owned_by": OWNER}]})

    def stream_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj):
        self.send_chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def ollama_stream(self, req, chat):
        """Ollama's own API: NDJSON, one object a line, durations in ns at the end."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        count = min(5, req.get("options", {}).get("num_predict", 5))
        for i in range(count):
            if MODE == "ollamabad" and i == 2:
                self.send_chunk(b'{"model": "fake-moe", "message": {"content": \n')
                self.send_chunk(b"")
                return
            tok = TOKENS[i]
            line = {"model": "fake-moe", "created_at": "2026-12-07T06:00:00Z", "done": False,
                    "logprobs": [{"token": tok, "bytes": list(tok.encode()),
                                  "logprob": -0.25 * (i + 1),
                                  "top_logprobs": [{"token": tok, "logprob": -0.25 * (i + 1)},
                                                   {"token": " and", "logprob": -3.5}]}]}
            if chat:
                line["message"] = {"role": "assistant", "content": tok}
            else:
                line["response"] = tok
            self.send_chunk(json.dumps(line).encode() + b"\n")
            time.sleep(0.02)
        last = {"model": "fake-moe", "created_at": "2026-12-07T06:00:01Z", "done": True,
                "done_reason": "length" if count < 5 else "stop",
                "total_duration": 250000000, "load_duration": 20000000,
                "prompt_eval_count": 4, "prompt_eval_duration": 1500000,
                "eval_count": count, "eval_duration": 80000000}
        if chat:
            last["message"] = {"role": "assistant", "content": ""}
        else:
            last["response"] = ""
        self.send_chunk(json.dumps(last).encode() + b"\n")
        self.send_chunk(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        chat = self.path.endswith("/chat/completions") or self.path == "/api/chat"
        if len(sys.argv) > 2:
            with open(sys.argv[2] + ".posts", "a") as f:
                said = [m.get("role") for m in req.get("messages", [])] if chat else "prompt"
                f.write("%s %s\n" % (self.path, said))
        if MODE == "nochat" and chat:
            return self.send_json(400, {"object": "error", "message": "As of transformers "
                                        "v4.44, default chat template is no longer allowed, so "
                                        "you must provide a chat template if the tokenizer does "
                                        "not define one.", "type": "BadRequestError",
                                        "code": 400})
        if MODE == "auth" and self.headers.get("Authorization") != "Bearer right-key":
            return self.send_json(401, {"error": {"message": "invalid key: %s" %
                                                  self.headers.get("Authorization", "")}})
        if MODE == "nomodel" or req.get("model") not in ("fake-moe", "other-model"):
            return self.send_json(404, {"error": {"message": "model not found"}})
        if self.path in ("/api/chat", "/api/generate"):
            if not MODE.startswith("ollama"):
                return self.send_json(404, {"error": {"message": "no such path"}})
            return self.ollama_stream(req, chat)
        if MODE == "ratelimit":
            return self.send_json(429, {"error": {"message": "slow down"}}, [("Retry-After", "7")])
        if MODE == "busy":
            return self.send_json(503, {"error": {"message": "overloaded"}}, [("Retry-After", "3")])
        if MODE == "vllm":
            with open(os.path.join(HERE, "vllm_reply.json"), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.stream_start()
        if MODE == "sglang":
            with open(os.path.join(HERE, "sglang_stream.txt"), "rb") as f:
                for line in f.read().split(b"\n\n"):
                    if line.strip():
                        self.send_chunk(line.strip() + b"\n\n")
            self.send_chunk(b"")
            return
        count = {"stall": 1, "cut": 3, "badsse": 2, "badjson": 2, "midError": 2,
                 "slow": 400}.get(MODE, len(TOKENS))
        maxt = req.get("max_tokens")
        if maxt is not None:
            count = min(count, maxt)
        for i in range(count):
            try:
                self.event(chunk(i, TOKENS[i % len(TOKENS)], chat,
                                 OWNER == "llamacpp" and req.get("timings_per_token")))
            except (BrokenPipeError, ConnectionResetError):
                if len(sys.argv) > 2:
                    with open(sys.argv[2] + ".closed", "w") as f:
                        f.write("closed after %d tokens" % i)
                return
            time.sleep(0.05 if MODE == "slow" else 0.02)
        if MODE == "stall":
            time.sleep(3600)
        if MODE == "cut":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if MODE == "badsse":
            self.send_chunk(b"garbage line here\n\n")
            time.sleep(1)
            return
        if MODE == "badjson":
            self.send_chunk(b'data: {"choices": [{"text": "x", \n\n')
            time.sleep(1)
            return
        if MODE == "midError":
            self.event({"error": {"message": "the GPU fell over", "code": 500}})
            self.send_chunk(b"")
            return
        final = {"choices": [{"index": 0, "finish_reason": "length" if maxt == count else "stop",
                              "text": ""}],
                 "usage": {"prompt_tokens": 4, "completion_tokens": count},
                 "timings": {"prompt_n": 4, "prompt_ms": 1.5, "predicted_n": count,
                             "predicted_ms": 80.0, "cache_n": 0},
                 "system_fingerprint": "b7100-80fb11ac"}
        self.event(final)
        self.send_chunk(b"data: [DONE]\n\n")
        self.send_chunk(b"")


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
if os.environ.get("FAKE_SERVER_TLS"):
    # https: FAKE_SERVER_TLS=CERT.pem:KEY.pem (made by the test with openssl)
    import ssl
    cert, key = os.environ["FAKE_SERVER_TLS"].split(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
port = srv.server_address[1]
if len(sys.argv) > 2:
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
else:
    print(port, flush=True)
srv.serve_forever()
