/* tests/test_chat.c: chat templates against llama.cpp.
 *
 * Expected strings come from llama.cpp's tests/test-chat-template.cpp (ggml-org/llama.cpp at
 * commit 03f94f19a2c4c9d039fa1a84838fe3e2110cc28d, the expected_output of each case), which
 * renders its six-message conversation below with add_generation_prompt = true. Styles that
 * file has no case for (llama2-sys, mistral-v7-tekken, deepseek3, and tulu = llama.cpp's
 * falcon3 format) were written by hand from the branches of llm_chat_apply_template in
 * src/llama-chat.cpp (ggml-org/llama.cpp at 0192c1297ddde77b0d9688179779e4218cf04db4).
 * The fixture check compares with the prompt of ../shared/fixtures/models/NAME.chat.json. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <time.h>

#include "chat.h"
#include "engine.h"
#include "gguf.h"

/* llama.cpp's test conversation: a system prompt, two full turns and a question. */
static const struct chat_msg tc_conv[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
enum { TC_N = sizeof tc_conv / sizeof tc_conv[0] };

#define EOS_DS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define USER_DS "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define ASSIST_DS "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

/* The time harmony's rows render at (its template writes the local date: %s in want). */
#define TC_NOW ((time_t)1781524800) /* 2026-06-15 12:00 UTC */

static const struct {
    enum chat_style style;
    const char *source; /* the test case's name in test-chat-template.cpp, or the branch */
    const char *want;   /* harmony's has one %s: the date of TC_NOW */
} tc_cases[] = {
    {CHAT_STYLE_CHATML, "teknium/OpenHermes-2.5-Mistral-7B",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
     "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question"
     "<|im_end|>\n<|im_start|>assistant\n"},
    {CHAT_STYLE_LLAMA2, "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a system prompt)",
     "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am "
     "an assistant   </s>[INST] Another question [/INST]"},
    {CHAT_STYLE_LLAMA2_SYS_BOS, "TheBloke/FusionNet_34Bx2_MoE-AWQ",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who "
     "are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]"},
    {CHAT_STYLE_LLAMA2_SYS_STRIP, "bofenghuang/vigogne-2-70b-chat",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are "
     "you [/INST]I am an assistant</s>[INST] Another question [/INST]"},
    {CHAT_STYLE_LLAMA2_SYS, "llama-chat.cpp llama2 branch, support_system_message",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are "
     "you [/INST]   I am an assistant   </s>[INST] Another question [/INST]"},
    {CHAT_STYLE_DEEPSEEK, "deepseek-ai/deepseek-coder-33b-instruct",
     "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### "
     "Instruction:\nWho are you\n### Response:\n   I am an assistant   \n<|EOT|>\n### Instruction:\n"
     "Another question\n### Response:\n"},
    {CHAT_STYLE_LLAMA3, "Llama-3",
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant"
     "<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you"
     "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\n"},
    {CHAT_STYLE_DEEPSEEK2, "DeepSeek-V2",
     "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there" EOS_DS "User: Who are you\n\n"
     "Assistant:    I am an assistant   " EOS_DS "User: Another question\n\nAssistant:"},
    {CHAT_STYLE_DEEPSEEK3, "llama-chat.cpp DEEPSEEK_3 branch",
     "You are a helpful assistant\n\n" USER_DS "Hello" ASSIST_DS "Hi there" EOS_DS USER_DS "Who are you"
     ASSIST_DS "   I am an assistant   " EOS_DS USER_DS "Another question" ASSIST_DS},
    {CHAT_STYLE_GRANITE, "ibm-granite/granite-3.0-8b-instruct",
     "<|start_of_role|>system<|end_of_role|>You are a helpful assistant<|end_of_text|>\n"
     "<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n<|start_of_role|>assistant"
     "<|end_of_role|>Hi there<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Who are you"
     "<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>   I am an assistant   "
     "<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Another question<|end_of_text|>\n"
     "<|start_of_role|>assistant<|end_of_role|>"},
    {CHAT_STYLE_MISTRAL_V1, "mistralai/Mistral-7B-Instruct-v0.2 (mistralai 'v1' template with a system prompt)",
     " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    "
     "I am an assistant   </s> [INST] Another question [/INST]"},
    {CHAT_STYLE_MISTRAL_V3, "Mistral-Large-Instruct-2407 (mistralai 'v3' template)",
     "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an "
     "assistant</s>[INST] Another question[/INST]"},
    {CHAT_STYLE_MISTRAL_V3_TEKKEN, "Mistral-Nemo-Instruct-2407 (mistralai 'v3-tekken' template)",
     "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an "
     "assistant   </s>[INST]Another question[/INST]"},
    {CHAT_STYLE_MISTRAL_V7, "mistralai/Mistral-Large-Instruct-2411 (mistralai 'v7' template)",
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] "
     "Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]"},
    {CHAT_STYLE_MISTRAL_V7_TEKKEN, "llama-chat.cpp MISTRAL_V7_TEKKEN branch",
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>[INST]"
     "Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]"},
    {CHAT_STYLE_PHI4, "phi-4",
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_sep|>Hello"
     "<|im_end|><|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|im_sep|>Who are you"
     "<|im_end|><|im_start|>assistant<|im_sep|>   I am an assistant   <|im_end|><|im_start|>user"
     "<|im_sep|>Another question<|im_end|><|im_start|>assistant<|im_sep|>"},
    {CHAT_STYLE_GPT_OSS, "llama-chat.cpp OPENAI_MOE branch",
     "<|start|>system<|message|>You are a helpful assistant<|end|><|start|>user<|message|>Hello<|end|>"
     "<|start|>assistant<|message|>Hi there<|return|><|start|>user<|message|>Who are you<|end|>"
     "<|start|>assistant<|message|>   I am an assistant   <|return|><|start|>user<|message|>Another "
     "question<|end|><|start|>assistant"},
    {CHAT_STYLE_HARMONY, "tests/chat_templates/gpt-oss.jinja rendered by tests/chat_jinja.py",
     "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
     "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: medium\n\n# Valid channels: "
     "analysis, commentary, final. Channel must be included for every message.<|end|><|start|>"
     "developer<|message|># Instructions\n\nYou are a helpful assistant\n\n<|end|><|start|>user"
     "<|message|>Hello<|end|><|start|>assistant<|channel|>final<|message|>Hi there<|end|><|start|>"
     "user<|message|>Who are you<|end|><|start|>assistant<|channel|>final<|message|>   I am an "
     "assistant   <|end|><|start|>user<|message|>Another question<|end|><|start|>assistant"},
    {CHAT_STYLE_CHATGLM4, "THUDM/glm-4-9b-chat",
     "[gMASK]<sop><|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there"
     "<|user|>\nWho are you<|assistant|>\n   I am an assistant   <|user|>\nAnother question"
     "<|assistant|>\n"},
    {CHAT_STYLE_GLM45, "tests/chat_templates/glm-4.5.jinja rendered by tests/chat_jinja.py",
     "[gMASK]<sop><|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\n"
     "<think></think>\nHi there<|user|>\nWho are you<|assistant|>\n<think></think>\nI am an "
     "assistant<|user|>\nAnother question<|assistant|>"},
    {CHAT_STYLE_GLM47, "tests/chat_templates/glm-4.7-flash.jinja rendered by tests/chat_jinja.py",
     "[gMASK]<sop><|system|>You are a helpful assistant<|user|>Hello<|assistant|></think>Hi there"
     "<|user|>Who are you<|assistant|></think>I am an assistant<|user|>Another question"
     "<|assistant|><think>"},
    {CHAT_STYLE_ERNIE45, "ernie4_5-moe-small-bf16's template (ERNIE 4.5's)",
     "<|begin_of_sentence|>You are a helpful assistant\nUser: Hello\nAssistant: Hi there"
     "<|end_of_sentence|>User: Who are you\nAssistant:    I am an assistant   <|end_of_sentence|>"
     "User: Another question\nAssistant: "},
    {CHAT_STYLE_TULU, "llama-chat.cpp FALCON_3 branch",
     "<|system|>\nYou are a helpful assistant\n<|user|>\nHello\n<|assistant|>\nHi there\n<|user|>\n"
     "Who are you\n<|assistant|>\n   I am an assistant   \n<|user|>\nAnother question\n<|assistant|>\n"},
};

TEST(chat_render_llamacpp_cases)
{
    bool covered[CHAT_STYLE_COUNT] = {false};
    char date[32] = "";
    struct tm tm;
    time_t now = TC_NOW;
    CHECK(localtime_r(&now, &tm) && strftime(date, sizeof date, "%Y-%m-%d", &tm) == 10);
    for (size_t i = 0; i < sizeof tc_cases / sizeof tc_cases[0]; i++) {
        size_t len = 0;
        char want[2048];
        if (strstr(tc_cases[i].want, "%s"))
            snprintf(want, sizeof want, tc_cases[i].want, date);
        else
            snprintf(want, sizeof want, "%s", tc_cases[i].want);
        char *got = chat_render_style_at(tc_cases[i].style, tc_conv, TC_N, true, TC_NOW, &len);
        CHECK_MSG(got && strcmp(got, want) == 0, "%s (%s):\n got  \"%s\"\n want \"%s\"",
                  chat_style_name(tc_cases[i].style), tc_cases[i].source, got ? got : "(null)",
                  want);
        CHECK(got == NULL || len == strlen(got));
        covered[tc_cases[i].style] = true;
        free(got);
    }
    for (int s = CHAT_STYLE_CHATML; s < CHAT_STYLE_COUNT; s++)
        CHECK_MSG(covered[s], "style %s has no test case", chat_style_name((enum chat_style)s));
    CHECK(chat_render_style(CHAT_STYLE_NONE, tc_conv, TC_N, true, NULL) == NULL);
}

/* A family renders as its default style (the one llama.cpp gives that name). */
TEST(chat_render_families)
{
    for (int f = CHAT_CHATML; f < CHAT_FAMILY_COUNT; f++) {
        enum chat_style s = chat_family_default_style((enum chat_family)f);
        CHECK_INT_EQ(chat_style_family(s), f);
        char *a = chat_render((enum chat_family)f, tc_conv, TC_N, true, NULL);
        char *b = chat_render_style(s, tc_conv, TC_N, true, NULL);
        CHECK(a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
    }
    CHECK(chat_render(CHAT_NONE, tc_conv, TC_N, true, NULL) == NULL);
    /* Without the generation prompt ChatML ends after the last message. */
    char *s = chat_render(CHAT_CHATML, tc_conv + 1, 1, false, NULL);
    CHECK_STR_EQ(s, "<|im_start|>user\nHello<|im_end|>\n");
    free(s);
}

/* The "prompt" of fixtures/SUB/NAME.chat.json, malloc'd; NULL (and a failed check) when the
 * file cannot be read or has none. */
static char *tc_fixture_prompt(const char *dir, const char *sub, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s.chat.json", dir, sub, name);
    FILE *fp = fopen(path, "rb");
    CHECK_MSG(fp != NULL, "cannot open %s", path);
    if (!fp)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf);
    cJSON *prompt = cJSON_GetObjectItem(root, "prompt");
    CHECK_MSG(cJSON_IsString(prompt), "%s has no prompt", path);
    char *out = cJSON_IsString(prompt) ? strdup(prompt->valuestring) : NULL;
    cJSON_Delete(root);
    return out;
}

/* The reference's chat prompt (fixtures/models/NAME.chat.json) is ChatML with one user message and
 * no system message; the fixture model's own template is recognised as ChatML. */
TEST(chat_fixture_prompt)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    char path[4096];
    char *prompt = tc_fixture_prompt(dir, "models", "qwen2moe-tiny-f32");
    struct chat_msg msg = {"user", "Why is a mixture of experts fast?"};
    char *got = chat_render(CHAT_CHATML, &msg, 1, true, NULL);
    if (prompt)
        CHECK_STR_EQ(got, prompt);
    free(got);
    free(prompt);

    char err[512];
    struct gguf_file f;
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", dir);
    if (gguf_open(&f, path, err, sizeof err) < 0) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return;
    }
    static char tmpl[65536];
    CHECK_INT_EQ(gguf_get_strz(&f, "tokenizer.chat_template", tmpl, sizeof tmpl, err, sizeof err), 0);
    CHECK_INT_EQ(chat_detect(tmpl), CHAT_CHATML);
    CHECK_INT_EQ(chat_detect_style(tmpl), CHAT_STYLE_CHATML);
    gguf_close(&f);
}

/* The deepseek2 fixtures (models-2026: V2-Lite and V3 styles) ask the question in DeepSeek's
 * own format, the BOS text first: their templates are recognised as deepseek3 and render the
 * reference's prompt after the BOS. */
TEST(chat_fixture_prompt_deepseek2)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    static const char *const names[] = {"deepseek2-lite-small-q4_k_m", "deepseek2-v3-small-q6_k",
                                        "deepseek2-lite-kvb-small-f16"};
    static const char bos[] = "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096], err[512];
        char *prompt = tc_fixture_prompt(dir, "models-2026", names[i]);
        if (!prompt)
            continue;
        snprintf(path, sizeof path, "%s/models-2026/%s.gguf", dir, names[i]);
        struct gguf_file f;
        static char tmpl[65536];
        if (gguf_open(&f, path, err, sizeof err) < 0) {
            test_fail(__FILE__, __LINE__, "%s", err);
            free(prompt);
            continue;
        }
        CHECK_INT_EQ(gguf_get_strz(&f, "tokenizer.chat_template", tmpl, sizeof tmpl, err,
                                   sizeof err), 0);
        gguf_close(&f);
        CHECK_INT_EQ(chat_detect_style(tmpl), CHAT_STYLE_DEEPSEEK3);
        /* What run and the app render with: the style, not its family's first (Coder's). */
        struct model_desc d;
        CHECK_INT_EQ(model_describe(path, &d, err, sizeof err), 0);
        CHECK_STR_EQ(d.chat_style, "deepseek3");
        CHECK_STR_EQ(d.chat_family, "deepseek");
        struct chat_msg msg = {"user", "Why is a mixture of experts fast?"};
        char *got = chat_render_style(chat_detect_style(tmpl), &msg, 1, true, NULL);
        char want[1024];
        snprintf(want, sizeof want, "%s%s", bos, got ? got : "");
        CHECK_STR_EQ(want, prompt);
        free(got);
        free(prompt);
    }
}

/* The gpt-oss, glm4moe and ernie4_5-moe reference runs (models-2026): each file's template is
 * recognised as its style, and one user message renders the reference's chat prompt. The
 * gpt-oss run opens the final channel itself (no analysis), so its prompt is ours plus
 * "<|channel|>final<|message|>". */
TEST(chat_fixture_prompt_gpt_oss_glm4moe_ernie)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("no fixtures directory");
        return;
    }
    static const struct {
        const char *name;
        enum chat_style style;
        const char *family, *tail;
    } fx[] = {
        {"gpt-oss-small-mxfp4", CHAT_STYLE_GPT_OSS, "harmony", "<|channel|>final<|message|>"},
        {"glm4moe-small-q5_k_m", CHAT_STYLE_GLM45, "glm", ""},
        {"ernie4_5-moe-small-bf16", CHAT_STYLE_ERNIE45, "ernie", ""},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        char path[4096], err[512];
        char *prompt = tc_fixture_prompt(dir, "models-2026", fx[i].name);
        if (!prompt)
            continue;
        snprintf(path, sizeof path, "%s/models-2026/%s.gguf", dir, fx[i].name);
        struct model_desc d;
        CHECK_INT_EQ(model_describe(path, &d, err, sizeof err), 0);
        CHECK_STR_EQ(d.chat_style, chat_style_name(fx[i].style));
        CHECK_STR_EQ(d.chat_family, fx[i].family);
        struct chat_msg msg = {"user", "Why is a mixture of experts fast?"};
        char *got = chat_render_style(fx[i].style, &msg, 1, true, NULL);
        char want[1024];
        snprintf(want, sizeof want, "%s%s", got ? got : "", fx[i].tail);
        CHECK_STR_EQ(want, prompt);
        free(got);
        free(prompt);
    }
}

/* The conversations checked against the real templates: what moescope sends (a system prompt,
 * turns, replies with their thinking or without, with and without the generation prompt) and
 * the corners of GLM-4.5's "</think>" split and trimming. */
static const struct chat_msg tj_think_history[] = {
    {"system", "Be brief."},
    {"user", "Hello"},
    {"assistant", "<think>plan a greeting</think>\n\nHi there"},
    {"user", "Who are you"},
    {"assistant", "\n<think>\n\nthink again \n\n</think>\n\n  I am an assistant\t\n"},
    {"user", "  Another question  \n"},
};
static const struct chat_msg tj_reply_last[] = { /* a reply after the last user message */
    {"user", "Why?"},
    {"assistant", "<think>\nbecause\n</think>\nThat is why."},
};
static const struct chat_msg tj_odd_replies[] = {
    {"user", "a"},
    {"assistant", ""},
    {"user", "b"},
    {"assistant", " \n\t "},
    {"user", "c"},
    {"assistant", "no think at all </think> but a close"},
    {"system", "a second system turn"},
    {"user", "d"},
    {"assistant", "<think>x<think>y\n</think>mid</think>\nend"},
    {"assistant", "<think>\n\n</think>only answer"},
    {"assistant", "<think>kept \xe6\x80\x9d\xe8\x80\x83</think>\n\n\xe7\xad\x94 \xf0\x9f\x98\x80 "},
};
static const struct chat_msg tj_empty_system[] = {
    {"system", ""},
    {"user", "x"},
};
static const struct {
    const struct chat_msg *msgs;
    int n;
} tj_convs[] = {
    {tj_empty_system, 2},
    {tc_conv, TC_N},
    {tc_conv, 2},
    {tc_conv + 1, 1},
    {tj_think_history, sizeof tj_think_history / sizeof tj_think_history[0]},
    {tj_think_history, 5},
    {tj_reply_last, 2},
    {tj_odd_replies, sizeof tj_odd_replies / sizeof tj_odd_replies[0]},
};

/* The models' own templates (GLM-4.5, GLM-4.7, ERNIE 4.5, gpt-oss: tests/chat_templates/README.md says
 * where each text is from), and llama.cpp's copy of GLM-4.6's when its checkout is there: each
 * text is recognised as its style, and each conversation, with and without the generation
 * prompt, renders byte for byte as Python's jinja2 renders the template, called as llama.cpp
 * calls its jinja engine (tests/chat_jinja.py; harmony's date at TC_NOW). One difference is expected and checked: ERNIE's template sets
 * add_generation_prompt when it is undefined, and llama.cpp leaves it undefined when false. */
TEST(chat_render_matches_jinja_templates)
{
    if (system("python3 -c 'import jinja2' 2>/dev/null") != 0) {
        test_skip("needs python3 with jinja2 (python3-jinja2; tools/deps.sh test)");
        return;
    }
    char glm46[4096];
    const char *home = getenv("HOME"), *cache = getenv("XDG_CACHE_HOME");
    if (cache && *cache)
        snprintf(glm46, sizeof glm46, "%s/moescope/llama.cpp/src/models/templates/GLM-4.6.jinja",
                 cache);
    else
        snprintf(glm46, sizeof glm46,
                 "%s/.cache/moescope/llama.cpp/src/models/templates/GLM-4.6.jinja",
                 home ? home : "");
    const struct {
        const char *path;
        enum chat_style style;
        const char *undefined_gen_tail; /* what llama.cpp adds without the generation prompt */
        bool optional;
    } tmpls[] = {
        {"tests/chat_templates/glm-4.5.jinja", CHAT_STYLE_GLM45, "", false},
        {glm46, CHAT_STYLE_GLM45, "", true},
        {"tests/chat_templates/glm-4.7-flash.jinja", CHAT_STYLE_GLM47, "", false},
        {"tests/chat_templates/ernie-4.5.jinja", CHAT_STYLE_ERNIE45, "Assistant: ", false},
        {"tests/chat_templates/gpt-oss.jinja", CHAT_STYLE_HARMONY, "", false},
    };
    char cases_path[4096];
    snprintf(cases_path, sizeof cases_path, "%s/chat_jinja_cases.json", test_tmp_dir());
    cJSON *cases = cJSON_CreateArray();
    for (size_t c = 0; c < sizeof tj_convs / sizeof tj_convs[0]; c++)
        for (int gen = 1; gen >= 0; gen--) {
            cJSON *one = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(one, "messages");
            for (int i = 0; i < tj_convs[c].n; i++) {
                cJSON *m = cJSON_CreateObject();
                cJSON_AddStringToObject(m, "role", tj_convs[c].msgs[i].role);
                cJSON_AddStringToObject(m, "content", tj_convs[c].msgs[i].content);
                cJSON_AddItemToArray(msgs, m);
            }
            cJSON_AddBoolToObject(one, "add_generation_prompt", gen);
            cJSON_AddItemToArray(cases, one);
        }
    char *json = cJSON_PrintUnformatted(cases);
    cJSON_Delete(cases);
    FILE *fp = fopen(cases_path, "wb");
    CHECK(fp && json && fputs(json, fp) >= 0);
    if (fp)
        fclose(fp);
    free(json);
    for (size_t t = 0; t < sizeof tmpls / sizeof tmpls[0]; t++) {
        FILE *tf = fopen(tmpls[t].path, "rb");
        CHECK_MSG(tf || tmpls[t].optional, "cannot open %s", tmpls[t].path);
        if (!tf)
            continue;
        static char text[1 << 16];
        size_t tn = fread(text, 1, sizeof text - 1, tf);
        fclose(tf);
        text[tn] = '\0';
        CHECK_MSG(chat_detect_style(text) == tmpls[t].style, "%s: detected '%s', want '%s'",
                  tmpls[t].path, chat_style_name(chat_detect_style(text)),
                  chat_style_name(tmpls[t].style));
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "python3 tests/chat_jinja.py '%s' '%s' %lld", tmpls[t].path,
                 cases_path, (long long)TC_NOW);
        FILE *py = popen(cmd, "r");
        CHECK(py != NULL);
        if (!py)
            continue;
        static char line[1 << 16];
        int k = 0;
        for (size_t c = 0; c < sizeof tj_convs / sizeof tj_convs[0]; c++)
            for (int gen = 1; gen >= 0; gen--, k++) {
                if (!fgets(line, sizeof line, py)) {
                    CHECK_MSG(false, "%s: jinja2 gave no line for case %d", tmpls[t].path, k);
                    break;
                }
                cJSON *want = cJSON_Parse(line);
                CHECK_MSG(cJSON_IsString(want), "%s case %d: not a JSON string: %s",
                          tmpls[t].path, k, line);
                size_t len = 0;
                char *got = chat_render_style_at(tmpls[t].style, tj_convs[c].msgs,
                                                 tj_convs[c].n, gen, TC_NOW, &len);
                char *full = got ? malloc(len + strlen(tmpls[t].undefined_gen_tail) + 1) : NULL;
                if (full)
                    snprintf(full, len + strlen(tmpls[t].undefined_gen_tail) + 1, "%s%s", got,
                             gen ? "" : tmpls[t].undefined_gen_tail);
                CHECK_MSG(full && cJSON_IsString(want) && strcmp(full, want->valuestring) == 0,
                          "%s case %d (generation prompt %s):\n got  \"%s\"\n want \"%s\"",
                          tmpls[t].path, k, gen ? "on" : "off", full ? full : "(null)",
                          cJSON_IsString(want) ? want->valuestring : "?");
                free(full);
                free(got);
                cJSON_Delete(want);
            }
        CHECK_MSG(pclose(py) == 0, "%s: tests/chat_jinja.py failed", tmpls[t].path);
    }
}

/* Detection from real templates' text (the templates of test-chat-template.cpp and the
 * models' tokenizer_config.json), including ones we must not take for a supported family. */
TEST(chat_detect_templates)
{
    static const struct {
        const char *tmpl;
        enum chat_style want;
    } cases[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
         "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
         "{% endif %}", CHAT_STYLE_CHATML},
        /* Mixtral-8x7B-Instruct / Mistral-7B-Instruct-v0.2 */
        {"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 "
         "== 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
         "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
         "message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception("
         "'Only user and assistant roles are supported!') }}{% endif %}{% endfor %}", CHAT_STYLE_LLAMA2},
        {"{%- for idx in range(0, messages|length) -%}\n{%- if messages[idx]['role'] == 'user' -%}\n{%- if "
         "idx > 1 -%}\n{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}\n{%- else -%}\n"
         "{{- messages[idx]['content'] + ' [/INST]' -}}\n{%- endif -%}\n{% elif messages[idx]['role'] == "
         "'system' %}\n{{- '[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}\n",
         CHAT_STYLE_LLAMA2_SYS_BOS},
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
         "message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + "
         "message['content'] + '[/SYSTEM_PROMPT]' }}{% endif %}{% endfor %}", CHAT_STYLE_MISTRAL_V7},
        /* Mixtral-8x22B-Instruct-v0.1 (v3, with tools) */
        {"{%- if message[\"role\"] == \"user\" %}{{- \"[AVAILABLE_TOOLS] [\" }}{{- \"[INST] \" + "
         "message[\"content\"] + \"[/INST]\" }}", CHAT_STYLE_MISTRAL_V3},
        {"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
         "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
         "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
         "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
         CHAT_STYLE_LLAMA3},
        {"{%- for message in messages %}\n    {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + "
         "message['content'] + '\\n'}}\n    {%- else %}\n{{'### Response:\\n' + message['content'] + "
         "'\\n<|EOT|>\\n'}}\n", CHAT_STYLE_DEEPSEEK},
        /* DeepSeek-V2(-Lite)-Chat, deepseek-moe-16b-chat */
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + "
         "message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + "
         "message['content'] + eos_token }}{% endif %}{% endfor %}", CHAT_STYLE_DEEPSEEK2},
        /* DeepSeek-V3 */
        {"{{'<\xef\xbd\x9cUser\xef\xbd\x9c>' + message['content']}}{{'<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>' + "
         "content + '<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>'}}", CHAT_STYLE_DEEPSEEK3},
        /* OLMoE-1B-7B-0924-Instruct (Tulu) */
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + "
         "message['content'] }}{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] }}"
         "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n'  + message['content'] + eos_token }}"
         "{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}",
         CHAT_STYLE_TULU},
        {"{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n    {{- "
         "'<|start_of_role|>system<|end_of_role|>' + message['content'] + '<|end_of_text|>\\n' }}",
         CHAT_STYLE_GRANITE},
        {"{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + "
         "message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}", CHAT_STYLE_PHI4},
        /* Phi-3 holds <|assistant|> and <|user|> too, and is not Tulu. */
        {"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\\n' + "
         "message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% endif %}{% endfor %}",
         CHAT_STYLE_NONE},
        /* Gemma, Command-R: not supported */
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
         CHAT_STYLE_NONE},
        {"{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}",
         CHAT_STYLE_NONE},
        /* gpt-oss-20b (harmony, with channels): llama.cpp runs its own template */
        {"{{- \"<|start|>assistant<|channel|>final<|message|>\" + message.content + \"<|end|>\" }}",
         CHAT_STYLE_HARMONY},
        /* a template with harmony's turns but no channels (the gpt-oss reference file's) */
        {"{{ '<|start|>' + message['role'] + '<|message|>' + message['content'] }}",
         CHAT_STYLE_GPT_OSS},
        /* GLM-4.5 */
        {"[gMASK]<sop>\n{%- for m in messages %}{%- if m.role == 'user' -%}<|user|>\n{{ m.content }}"
         "{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}",
         CHAT_STYLE_GLM45},
        /* ERNIE-4.5-21B-A3B-PT */
        {"{%- if not cls_token is defined -%}{%- set cls_token = \"<|begin_of_sentence|>\" -%}"
         "{%- endif -%}{{- cls_token -}}{%- for message in messages -%}{%- if message[\"role\"] == "
         "\"user\" -%}{{- \"User: \" + message[\"content\"] + \"\\n\" -}}{%- elif "
         "message[\"role\"] == \"assistant\" -%}{{- \"Assistant: \" + message[\"content\"] + "
         "sep_token -}}{%- endif -%}{%- endfor -%}", CHAT_STYLE_ERNIE45},
        /* A name in place of the template, as llama.cpp allows */
        {"mistral-v3-tekken", CHAT_STYLE_MISTRAL_V3_TEKKEN},
        {"granite", CHAT_STYLE_GRANITE},
        {"", CHAT_STYLE_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum chat_style got = chat_detect_style(cases[i].tmpl);
        CHECK_MSG(got == cases[i].want, "case %zu: detected '%s', want '%s'", i, chat_style_name(got),
                  chat_style_name(cases[i].want));
        CHECK_INT_EQ(chat_detect(cases[i].tmpl), chat_style_family(cases[i].want));
    }
    CHECK_INT_EQ(chat_detect_style(NULL), CHAT_STYLE_NONE);
}

TEST(chat_names)
{
    for (int f = CHAT_CHATML; f < CHAT_FAMILY_COUNT; f++)
        CHECK_INT_EQ(chat_family_from_name(chat_family_names[f]), f);
    CHECK_INT_EQ(chat_family_from_name("chatml2"), CHAT_NONE);
    enum chat_style s = CHAT_STYLE_NONE;
    char err[512] = "";
    CHECK_INT_EQ(chat_style_from_name("mistral", &s, err, sizeof err), 0);
    CHECK_INT_EQ(s, CHAT_STYLE_LLAMA2);
    CHECK_INT_EQ(chat_style_from_name("deepseek3", &s, err, sizeof err), 0);
    CHECK_INT_EQ(s, CHAT_STYLE_DEEPSEEK3);
    CHECK_INT_EQ(chat_style_from_name("deepseek2", &s, err, sizeof err), 0);
    CHECK_INT_EQ(s, CHAT_STYLE_DEEPSEEK2);
    CHECK_INT_EQ(chat_style_from_name("vicuna", &s, err, sizeof err), -1);
    CHECK(strstr(err, "'vicuna'") != NULL);
    for (int f = CHAT_CHATML; f < CHAT_FAMILY_COUNT; f++)
        CHECK_MSG(strstr(err, chat_family_names[f]) != NULL, "message lacks %s: %s",
                  chat_family_names[f], err);
}
