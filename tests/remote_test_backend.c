/* tests/remote_test_backend.c: the pieces of the remote backend that need no server: family
 * detection, the piece numbering, the key scrubbing, -m parsing and the "not reported" text. */
#include <stdlib.h>

#include "backend.h"
#include "family.h"
#include "pieces.h"
#include "remote_impl.h"
#include "test.h"

TEST(remote_family_from_models_header_and_fingerprint)
{
    CHECK_INT_EQ(remote_family_detect("llamacpp", NULL, NULL), REMOTE_LLAMA_SERVER);
    CHECK_INT_EQ(remote_family_detect("vllm", "uvicorn", NULL), REMOTE_VLLM);
    CHECK_INT_EQ(remote_family_detect("sglang", "uvicorn", NULL), REMOTE_SGLANG);
    CHECK_INT_EQ(remote_family_detect("library", NULL, NULL), REMOTE_OLLAMA);
    CHECK_INT_EQ(remote_family_detect("system", "llama.cpp", NULL), REMOTE_LLAMA_SERVER);
    CHECK_INT_EQ(remote_family_detect(NULL, NULL, "b7100-80fb11ac"), REMOTE_LLAMA_SERVER);
    CHECK_INT_EQ(remote_family_detect(NULL, NULL, "fp_ollama"), REMOTE_OLLAMA);
    CHECK_INT_EQ(remote_family_detect("openai", "cloudflare", "fp_44709d6fcb"), REMOTE_OPENAI);
    CHECK_STR_EQ(remote_families[REMOTE_VLLM].repeat_penalty, "repetition_penalty");
    CHECK(remote_families[REMOTE_VLLM].experts_npy);
    CHECK(remote_families[REMOTE_SGLANG].experts_stream);
}

TEST(remote_pieces_number_each_text_once)
{
    struct remote_pieces p;
    CHECK(pieces_init(&p) == 0);
    char buf[16];
    CHECK_INT_EQ(pieces_intern(&p, "", 0), 0);
    int32_t a = pieces_intern(&p, " the", 4);
    int32_t b = pieces_intern(&p, "\xe2\x82", 2); /* half a UTF-8 sequence stays bytes */
    CHECK_INT_EQ(a, 1);
    CHECK_INT_EQ(b, 2);
    CHECK_INT_EQ(pieces_intern(&p, " the", 4), a);
    for (int i = 0; i < 5000; i++) { /* through several rehashes */
        char s[16];
        int n = snprintf(s, sizeof s, "t%d", i);
        CHECK_INT_EQ(pieces_intern(&p, s, (size_t)n), 3 + i);
    }
    CHECK_INT_EQ(pieces_intern(&p, "t4321", 5), 3 + 4321);
    CHECK_INT_EQ(pieces_get(&p, a, buf, sizeof buf), 4);
    CHECK(!memcmp(buf, " the", 4));
    CHECK_INT_EQ(pieces_get(&p, 999999, buf, sizeof buf), 0);
    pieces_free(&p);
}

TEST(remote_scrub_removes_the_key_and_long_parts_of_it)
{
    struct remote r = { 0 };
    r.key = "sk-live-0123456789abcdef";
    char msg[256];
    snprintf(msg, sizeof msg, "invalid key: Bearer sk-live-0123456789abcdef (was sk-live-012***)");
    remote_scrub(&r, msg);
    CHECK_MSG(!strstr(msg, "0123456789") && !strstr(msg, "sk-live-012"), "%s", msg);
    CHECK_MSG(strstr(msg, "invalid key: Bearer [key]") != NULL, "%s", msg);
    /* Words that share a few letters with the key stay. */
    snprintf(msg, sizeof msg, "the skies are live");
    remote_scrub(&r, msg);
    CHECK_STR_EQ(msg, "the skies are live");
}

TEST(backend_args_one_parser_for_every_command)
{
    char *argv[] = { "run", "-m", "http://h:1/v1", "--model", "qwen", "--api-key-file", "k",
                     "--timeout", "2.5", "--insecure", "--experts-shape", "48,8", "-p", "x" };
    int argc = (int)(sizeof argv / sizeof argv[0]);
    struct backend_args a = { 0 };
    char err[128];
    int taken = 0;
    for (int i = 1; i < argc; i++)
        if (backend_args_take(&a, argc, argv, &i, err, sizeof err) == 1)
            taken++;
    CHECK_INT_EQ(taken, 6);
    CHECK_STR_EQ(a.model, "http://h:1/v1");
    CHECK_STR_EQ(a.served_model, "qwen");
    CHECK_STR_EQ(a.api_key_file, "k");
    CHECK(a.timeout_s == 2.5);
    CHECK(a.insecure);
    CHECK_INT_EQ(a.experts_layers, 48);
    CHECK_INT_EQ(a.experts_k, 8);

    /* --model before -m URL names the served model; alone it is -m's long name. */
    char *b1[] = { "x", "--model", "qwen", "-m", "https://h" };
    struct backend_args b = { 0 };
    for (int i = 1; i < 5; i++)
        backend_args_take(&b, 5, b1, &i, err, sizeof err);
    CHECK_STR_EQ(b.model, "https://h");
    CHECK_STR_EQ(b.served_model, "qwen");
    char *b2[] = { "x", "--model", "file.gguf" };
    struct backend_args c = { 0 };
    int i = 1;
    CHECK_INT_EQ(backend_args_take(&c, 3, b2, &i, err, sizeof err), 1);
    CHECK_STR_EQ(c.model, "file.gguf");
    CHECK(c.served_model == NULL);

    char *bad[] = { "x", "--timeout", "0" };
    i = 1;
    CHECK_INT_EQ(backend_args_take(&c, 3, bad, &i, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "--timeout") != NULL, "%s", err);
    char *bad2[] = { "x", "--experts-shape", "4" };
    i = 1;
    CHECK_INT_EQ(backend_args_take(&c, 3, bad2, &i, err, sizeof err), -1);
    CHECK(backend_is_url("HTTPS://x"));
    CHECK(!backend_is_url("httpx.gguf"));
}

TEST(backend_missing_text_names_what_a_server_lacks)
{
    char buf[256];
    /* a streaming server with expert ids and its own timings */
    backend_missing_text(BACKEND_REPORTS_LOGPROBS | BACKEND_REPORTS_EXPERTS |
                         BACKEND_REPORTS_SERVER_TIMES | BACKEND_REPORTS_TOKEN_TIMES, buf,
                         sizeof buf);
    CHECK_STR_EQ(buf, "not reported by this server: gate weights, entropy, time split");
    /* vLLM with routed experts: one whole reply a turn */
    backend_missing_text(BACKEND_REPORTS_LOGPROBS | BACKEND_REPORTS_EXPERTS, buf, sizeof buf);
    CHECK_STR_EQ(buf, "not reported by this server: gate weights, entropy, time split, server "
                      "times, inter-token times (one whole reply)");
    CHECK_INT_EQ(backend_missing_text(~0u, buf, sizeof buf), 0);
    CHECK_STR_EQ(buf, "");
}

/* The server's figures and client minus server, from a range's trace_speed. */
TEST(backend_server_share_is_client_minus_server)
{
    char server[160], pipe[160];
    struct trace_speed s = { .n_itl = 4, .ttft_ms = 17.3, .itl_mean_ms = 0.65, .n_server = 5,
                             .server_ttft_ms = 13.6, .server_decode_ms = 2.12,
                             .server_itl_p95_ms = 0.61 };
    CHECK(backend_server_share(&s, server, sizeof server, pipe, sizeof pipe));
    CHECK_STR_EQ(server, "server TTFT 13.6 ms, 0.53 ms/tok (p95 0.61)");
    /* 4 x 0.65 = 2.60 ms at the client against 2.12 at the server: +0.12 ms a token */
    CHECK_STR_EQ(pipe, "network+queue TTFT +3.7 ms, +0.12 ms/tok");
    /* a one-token reply: TTFT only */
    s.n_itl = 0;
    s.server_decode_ms = 0;
    CHECK(backend_server_share(&s, server, sizeof server, pipe, sizeof pipe));
    CHECK_STR_EQ(server, "server TTFT 13.6 ms");
    CHECK_STR_EQ(pipe, "network+queue TTFT +3.7 ms");
    /* no record with a server time: nothing said */
    s.n_server = 0;
    CHECK(!backend_server_share(&s, server, sizeof server, pipe, sizeof pipe));
    CHECK_STR_EQ(server, "");
    CHECK_STR_EQ(pipe, "");
}

TEST(remote_open_refused_connection_is_one_line)
{
    /* Port 1 on the loopback: nothing listens there. */
    struct backend_params bp = { .args = { .model = "http://127.0.0.1:1", .timeout_s = 5 } };
    char err[512] = "";
    struct backend *b = backend_open(&bp, err, sizeof err);
    CHECK(b == NULL);
    CHECK_MSG(strstr(err, "http://127.0.0.1:1/v1/models: cannot connect to 127.0.0.1:1") != NULL,
              "%s", err);
    CHECK(strchr(err, '\n') == NULL);
    backend_close(b);
}
