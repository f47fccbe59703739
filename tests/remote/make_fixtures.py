#!/usr/bin/env python3
"""tests/remote/make_fixtures.py: writes the recorded vLLM and SGLang replies the tests read,
from the servers' documented formats (no GPU server was available to record real ones):

  vllm_reply.json     a whole /v1/completions reply of vLLM started with
                      --enable-return-routed-experts: choices[0].routed_experts and
                      prompt_routed_experts, each a base64 NumPy .npy of shape
                      [tokens, moe_layers, top_k] (here int16 for the reply, uint8 for the
                      prompt: the dtype is read from each blob)
  sglang_stream.txt   an SSE stream of SGLang with --enable-return-routed-experts and the
                      request field return_routed_experts: each chunk's sgl_ext.routed_experts
                      is base64 little-endian int32, flattened [tokens, layers, top_k]

The expert ids follow a formula the tests recompute: id(t, l, k) = (7 t + 3 l + k) % 64 for
reply token t, and (5 t + l + 2 k) % 64 for prompt token t. Shape: 3 MoE layers, top_k 2.
"""
import base64
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
LAYERS, K, E = 3, 2, 64
REPLY = [" To", " be", ",", " or"]
PROMPT_N = 5


def reply_id(t, l, k):
    return (7 * t + 3 * l + k) % E


def prompt_id(t, l, k):
    return (5 * t + l + 2 * k) % E


def npy(values, shape, descr):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d), }" % ((descr,) + shape)
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * pad + "\n"
    fmt = {"<i2": "<h", "|u1": "B", "<i4": "<i", "<i8": "<q", ">u2": ">H"}[descr]
    data = b"".join(struct.pack(fmt, v) for v in values)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def ids(fn, n):
    return [fn(t, l, k) for t in range(n) for l in range(LAYERS) for k in range(K)]


def logprobs(tokens):
    return {"tokens": tokens, "token_logprobs": [-0.5] * len(tokens),
            "top_logprobs": [{t: -0.5, " and": -2.0} for t in tokens],
            "text_offset": list(range(len(tokens)))}


reply = {
    "id": "cmpl-recorded", "object": "text_completion", "model": "fake-moe",
    "choices": [{
        "index": 0, "text": "".join(REPLY), "finish_reason": "length",
        "logprobs": logprobs(REPLY),
        "routed_experts": base64.b64encode(
            npy(ids(reply_id, len(REPLY)), (len(REPLY), LAYERS, K), "<i2")).decode(),
    }],
    "prompt_routed_experts": base64.b64encode(
        npy(ids(prompt_id, PROMPT_N), (PROMPT_N, LAYERS, K), "|u1")).decode(),
    "usage": {"prompt_tokens": PROMPT_N, "completion_tokens": len(REPLY),
              "total_tokens": PROMPT_N + len(REPLY)},
}
with open(os.path.join(HERE, "vllm_reply.json"), "w") as f:
    json.dump(reply, f, indent=1)
    f.write("\n")

events = []
for t, tok in enumerate(REPLY):
    raw = b"".join(struct.pack("<i", reply_id(t, l, k)) for l in range(LAYERS) for k in range(K))
    events.append({"id": "sgl-recorded", "object": "text_completion", "model": "fake-moe",
                   "choices": [{"index": 0, "text": tok, "finish_reason": None,
                                "logprobs": logprobs([tok])}],
                   "sgl_ext": {"routed_experts": base64.b64encode(raw).decode()}})
events.append({"id": "sgl-recorded", "object": "text_completion", "model": "fake-moe",
               "choices": [{"index": 0, "text": "", "finish_reason": "length"}],
               "usage": {"prompt_tokens": PROMPT_N, "completion_tokens": len(REPLY)}})
with open(os.path.join(HERE, "sglang_stream.txt"), "w") as f:
    for e in events:
        f.write("data: " + json.dumps(e) + "\n\n")
    f.write("data: [DONE]\n\n")
