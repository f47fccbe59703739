/* engine/text/chat.c: see chat.h. The formats follow llama.cpp's src/llama-chat.cpp
 * (llm_chat_apply_template and llm_chat_detect_template), one function per style. */
#include "chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const chat_family_names[CHAT_FAMILY_COUNT] = {
    [CHAT_NONE] = "",
    [CHAT_CHATML] = "chatml",
    [CHAT_LLAMA3] = "llama3",
    [CHAT_MISTRAL] = "mistral",
    [CHAT_DEEPSEEK] = "deepseek",
    [CHAT_TULU] = "tulu",
    [CHAT_GRANITE] = "granite",
};

static const struct {
    const char *name; /* llama.cpp's template name (ours for tulu) */
    enum chat_family family;
} chat_styles[CHAT_STYLE_COUNT] = {
    [CHAT_STYLE_NONE] = {"", CHAT_NONE},
    [CHAT_STYLE_CHATML] = {"chatml", CHAT_CHATML},
    [CHAT_STYLE_PHI4] = {"phi4", CHAT_CHATML},
    [CHAT_STYLE_LLAMA3] = {"llama3", CHAT_LLAMA3},
    [CHAT_STYLE_LLAMA2] = {"llama2", CHAT_MISTRAL},
    [CHAT_STYLE_LLAMA2_SYS] = {"llama2-sys", CHAT_MISTRAL},
    [CHAT_STYLE_LLAMA2_SYS_BOS] = {"llama2-sys-bos", CHAT_MISTRAL},
    [CHAT_STYLE_LLAMA2_SYS_STRIP] = {"llama2-sys-strip", CHAT_MISTRAL},
    [CHAT_STYLE_MISTRAL_V1] = {"mistral-v1", CHAT_MISTRAL},
    [CHAT_STYLE_MISTRAL_V3] = {"mistral-v3", CHAT_MISTRAL},
    [CHAT_STYLE_MISTRAL_V3_TEKKEN] = {"mistral-v3-tekken", CHAT_MISTRAL},
    [CHAT_STYLE_MISTRAL_V7] = {"mistral-v7", CHAT_MISTRAL},
    [CHAT_STYLE_MISTRAL_V7_TEKKEN] = {"mistral-v7-tekken", CHAT_MISTRAL},
    [CHAT_STYLE_DEEPSEEK] = {"deepseek", CHAT_DEEPSEEK},
    [CHAT_STYLE_DEEPSEEK2] = {"deepseek2", CHAT_DEEPSEEK},
    [CHAT_STYLE_DEEPSEEK3] = {"deepseek3", CHAT_DEEPSEEK},
    [CHAT_STYLE_TULU] = {"tulu", CHAT_TULU},
    [CHAT_STYLE_GRANITE] = {"granite", CHAT_GRANITE},
};

enum chat_family chat_style_family(enum chat_style s)
{
    return (s > CHAT_STYLE_NONE && s < CHAT_STYLE_COUNT) ? chat_styles[s].family : CHAT_NONE;
}

const char *chat_style_name(enum chat_style s)
{
    return (s >= CHAT_STYLE_NONE && s < CHAT_STYLE_COUNT) ? chat_styles[s].name : "";
}

/* A family name means the style llama.cpp gives that name; "mistral" is what llama.cpp's
 * detector makes of a template that reads just "mistral" (its llama2). */
enum chat_style chat_family_default_style(enum chat_family f)
{
    switch (f) {
    case CHAT_CHATML: return CHAT_STYLE_CHATML;
    case CHAT_LLAMA3: return CHAT_STYLE_LLAMA3;
    case CHAT_MISTRAL: return CHAT_STYLE_LLAMA2;
    case CHAT_DEEPSEEK: return CHAT_STYLE_DEEPSEEK;
    case CHAT_TULU: return CHAT_STYLE_TULU;
    case CHAT_GRANITE: return CHAT_STYLE_GRANITE;
    default: return CHAT_STYLE_NONE;
    }
}

enum chat_family chat_family_from_name(const char *name)
{
    for (int f = CHAT_CHATML; f < CHAT_FAMILY_COUNT; f++)
        if (strcmp(name, chat_family_names[f]) == 0)
            return (enum chat_family)f;
    return CHAT_NONE;
}

static enum chat_style chat_style_lookup(const char *name)
{
    enum chat_family f = chat_family_from_name(name);
    if (f != CHAT_NONE)
        return chat_family_default_style(f);
    for (int s = CHAT_STYLE_CHATML; s < CHAT_STYLE_COUNT; s++)
        if (strcmp(name, chat_styles[s].name) == 0)
            return (enum chat_style)s;
    return CHAT_STYLE_NONE;
}

int chat_style_from_name(const char *name, enum chat_style *out, char *err, size_t errlen)
{
    enum chat_style s = chat_style_lookup(name);
    if (s != CHAT_STYLE_NONE) {
        *out = s;
        return 0;
    }
    if (err && errlen) {
        size_t k = (size_t)snprintf(err, errlen, "unknown chat template '%s': families are", name);
        for (int f = CHAT_CHATML; f < CHAT_FAMILY_COUNT && k < errlen; f++)
            k += (size_t)snprintf(err + k, errlen - k, "%s %s", f > CHAT_CHATML ? "," : "",
                                  chat_family_names[f]);
        if (k < errlen)
            k += (size_t)snprintf(err + k, errlen - k, "; llama.cpp names:");
        for (int s2 = CHAT_STYLE_CHATML; s2 < CHAT_STYLE_COUNT && k < errlen; s2++)
            k += (size_t)snprintf(err + k, errlen - k, " %s", chat_styles[s2].name);
    }
    return -1;
}

/* ---- detection: llama.cpp's llm_chat_detect_template, in its order. Templates of families
 * we do not render still have to be recognised first, so that they are not taken for one we
 * do (a Phi-3 template also holds <|assistant|> and <|user|>). ---- */

enum chat_style chat_detect_style(const char *t)
{
    if (!t)
        return CHAT_STYLE_NONE;
    enum chat_style named = chat_style_lookup(t);
    if (named != CHAT_STYLE_NONE)
        return named;
#define HAS(s) (strstr(t, (s)) != NULL)
    if (HAS("<|im_start|>")) {
        if (HAS("<|im_sep|>"))
            return CHAT_STYLE_PHI4;
        return HAS("<end_of_utterance>") ? CHAT_STYLE_NONE /* SmolVLM */ : CHAT_STYLE_CHATML;
    }
    if (strncmp(t, "mistral", 7) == 0 || HAS("[INST]")) {
        if (HAS("[SYSTEM_PROMPT]"))
            return CHAT_STYLE_MISTRAL_V7;
        if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]")) {
            if (HAS(" [INST]"))
                return CHAT_STYLE_MISTRAL_V1;
            if (HAS("\"[INST]\""))
                return CHAT_STYLE_MISTRAL_V3_TEKKEN;
            return CHAT_STYLE_MISTRAL_V3;
        }
        if (HAS("content.strip()"))
            return CHAT_STYLE_LLAMA2_SYS_STRIP;
        if (HAS("bos_token + '[INST]"))
            return CHAT_STYLE_LLAMA2_SYS_BOS;
        if (HAS("<<SYS>>"))
            return CHAT_STYLE_LLAMA2_SYS;
        return CHAT_STYLE_LLAMA2;
    }
    if (HAS("<|assistant|>") && HAS("<|end|>"))
        return CHAT_STYLE_NONE; /* phi3 */
    if (HAS("[gMASK]<sop>"))
        return CHAT_STYLE_NONE; /* chatglm4 */
    if (HAS("<|assistant|>") && HAS("<|user|>"))
        /* llama.cpp: falcon3 when "</s>" appears, else glmedge. OLMoE's and Tulu's templates
         * have no "</s>" but are the falcon3 format, which is what we render. */
        return CHAT_STYLE_TULU;
    if ((HAS("<|{{ item['role'] }}|>") && HAS("<|begin_of_image|>")) ||
        (HAS("<|user|>") && HAS("<|endoftext|>")) || HAS("bos_token + message['role']") ||
        HAS("<start_of_turn>") || HAS("'\\n\\nAssistant: ' + eos_token") ||
        HAS("GPT4 Correct ") || (HAS("USER: ") && HAS("ASSISTANT: ")))
        return CHAT_STYLE_NONE; /* glmedge, zephyr, monarch, gemma, orion, openchat, vicuna */
    if (HAS("### Instruction:") && HAS("<|EOT|>"))
        return CHAT_STYLE_DEEPSEEK;
    if (HAS("<|START_OF_TURN_TOKEN|>") && HAS("<|USER_TOKEN|>"))
        return CHAT_STYLE_NONE; /* command-r */
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>"))
        return CHAT_STYLE_LLAMA3;
    if (HAS("[gMASK]sop") || HAS("<\xe7\x94\xa8\xe6\x88\xb7>"))
        return CHAT_STYLE_NONE; /* chatglm3, minicpm */
    if (HAS("'Assistant: ' + message['content'] + eos_token"))
        return CHAT_STYLE_DEEPSEEK2;
    if (HAS("<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>") && HAS("<\xef\xbd\x9cUser\xef\xbd\x9c>") &&
        HAS("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"))
        return CHAT_STYLE_DEEPSEEK3;
    if ((HAS("[|system|]") && HAS("[|assistant|]") && HAS("[|endofturn|]")) || HAS("rwkv-world"))
        return CHAT_STYLE_NONE; /* exaone, rwkv-world */
    if (HAS("<|start_of_role|>"))
        return CHAT_STYLE_GRANITE;
#undef HAS
    return CHAT_STYLE_NONE;
}

enum chat_family chat_detect(const char *jinja_template)
{
    return chat_style_family(chat_detect_style(jinja_template));
}

/* ---- rendering ---- */

struct chat_buf {
    char *s;
    size_t n, cap;
    bool oom;
};

static void cb_put(struct chat_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void cb_str(struct chat_buf *b, const char *s)
{
    cb_put(b, s, strlen(s));
}

static bool chat_isspace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* llama.cpp's trim(): C-locale whitespace off both ends. */
static void cb_trimmed(struct chat_buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && chat_isspace(s[i]))
        i++;
    while (n > i && chat_isspace(s[n - 1]))
        n--;
    cb_put(b, s + i, n - i);
}

static bool role_is(const struct chat_msg *m, const char *r)
{
    return strcmp(m->role, r) == 0;
}

#define U_END_OF_SENTENCE "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define U_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define U_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

static void render_mistral(struct chat_buf *b, enum chat_style s, const struct chat_msg *m, int n)
{
    if (s == CHAT_STYLE_MISTRAL_V7 || s == CHAT_STYLE_MISTRAL_V7_TEKKEN) {
        const char *sp = s == CHAT_STYLE_MISTRAL_V7 ? " " : "";
        for (int i = 0; i < n; i++) {
            if (role_is(&m[i], "system")) {
                cb_str(b, "[SYSTEM_PROMPT]");
                cb_str(b, sp);
                cb_str(b, m[i].content);
                cb_str(b, "[/SYSTEM_PROMPT]");
            } else if (role_is(&m[i], "user")) {
                cb_str(b, "[INST]");
                cb_str(b, sp);
                cb_str(b, m[i].content);
                cb_str(b, "[/INST]");
            } else {
                cb_str(b, sp);
                cb_str(b, m[i].content);
                cb_str(b, "</s>");
            }
        }
        return;
    }
    if (s == CHAT_STYLE_MISTRAL_V1 || s == CHAT_STYLE_MISTRAL_V3 || s == CHAT_STYLE_MISTRAL_V3_TEKKEN) {
        const char *lead = s == CHAT_STYLE_MISTRAL_V1 ? " " : "";
        const char *trail = s == CHAT_STYLE_MISTRAL_V3_TEKKEN ? "" : " ";
        bool trim_assistant = s == CHAT_STYLE_MISTRAL_V3, inside = false;
        for (int i = 0; i < n; i++) {
            if (!inside) {
                cb_str(b, lead);
                cb_str(b, "[INST]");
                cb_str(b, trail);
                inside = true;
            }
            if (role_is(&m[i], "system")) {
                cb_str(b, m[i].content);
                cb_str(b, "\n\n");
            } else if (role_is(&m[i], "user")) {
                cb_str(b, m[i].content);
                cb_str(b, lead);
                cb_str(b, "[/INST]");
            } else {
                cb_str(b, trail);
                if (trim_assistant)
                    cb_trimmed(b, m[i].content);
                else
                    cb_str(b, m[i].content);
                cb_str(b, "</s>");
                inside = false;
            }
        }
        return;
    }
    /* llama2 and its variants */
    bool sys = s != CHAT_STYLE_LLAMA2, bos_inside = s == CHAT_STYLE_LLAMA2_SYS_BOS;
    bool strip = s == CHAT_STYLE_LLAMA2_SYS_STRIP, inside = true;
    cb_str(b, "[INST] ");
    for (int i = 0; i < n; i++) {
        if (!inside) {
            inside = true;
            cb_str(b, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (role_is(&m[i], "system")) {
            if (sys)
                cb_str(b, "<<SYS>>\n");
            if (strip)
                cb_trimmed(b, m[i].content);
            else
                cb_str(b, m[i].content);
            cb_str(b, sys ? "\n<</SYS>>\n\n" : "\n");
        } else {
            if (strip)
                cb_trimmed(b, m[i].content);
            else
                cb_str(b, m[i].content);
            if (role_is(&m[i], "user")) {
                cb_str(b, " [/INST]");
            } else {
                cb_str(b, "</s>");
                inside = false;
            }
        }
    }
}

static void render(struct chat_buf *b, enum chat_style s, const struct chat_msg *m, int n, bool add_ass)
{
    switch (s) {
    case CHAT_STYLE_CHATML:
        for (int i = 0; i < n; i++) {
            cb_str(b, "<|im_start|>");
            cb_str(b, m[i].role);
            cb_str(b, "\n");
            cb_str(b, m[i].content);
            cb_str(b, "<|im_end|>\n");
        }
        if (add_ass)
            cb_str(b, "<|im_start|>assistant\n");
        break;
    case CHAT_STYLE_PHI4:
        for (int i = 0; i < n; i++) {
            cb_str(b, "<|im_start|>");
            cb_str(b, m[i].role);
            cb_str(b, "<|im_sep|>");
            cb_str(b, m[i].content);
            cb_str(b, "<|im_end|>");
        }
        if (add_ass)
            cb_str(b, "<|im_start|>assistant<|im_sep|>");
        break;
    case CHAT_STYLE_LLAMA3:
        for (int i = 0; i < n; i++) {
            cb_str(b, "<|start_header_id|>");
            cb_str(b, m[i].role);
            cb_str(b, "<|end_header_id|>\n\n");
            cb_trimmed(b, m[i].content);
            cb_str(b, "<|eot_id|>");
        }
        if (add_ass)
            cb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case CHAT_STYLE_LLAMA2:
    case CHAT_STYLE_LLAMA2_SYS:
    case CHAT_STYLE_LLAMA2_SYS_BOS:
    case CHAT_STYLE_LLAMA2_SYS_STRIP:
    case CHAT_STYLE_MISTRAL_V1:
    case CHAT_STYLE_MISTRAL_V3:
    case CHAT_STYLE_MISTRAL_V3_TEKKEN:
    case CHAT_STYLE_MISTRAL_V7:
    case CHAT_STYLE_MISTRAL_V7_TEKKEN:
        render_mistral(b, s, m, n); /* these never add a generation prompt */
        break;
    case CHAT_STYLE_DEEPSEEK:
        for (int i = 0; i < n; i++) {
            if (role_is(&m[i], "system")) {
                cb_str(b, m[i].content);
            } else if (role_is(&m[i], "user")) {
                cb_str(b, "### Instruction:\n");
                cb_str(b, m[i].content);
                cb_str(b, "\n");
            } else if (role_is(&m[i], "assistant")) {
                cb_str(b, "### Response:\n");
                cb_str(b, m[i].content);
                cb_str(b, "\n<|EOT|>\n");
            }
        }
        if (add_ass)
            cb_str(b, "### Response:\n");
        break;
    case CHAT_STYLE_DEEPSEEK2:
        for (int i = 0; i < n; i++) {
            if (role_is(&m[i], "system")) {
                cb_str(b, m[i].content);
                cb_str(b, "\n\n");
            } else if (role_is(&m[i], "user")) {
                cb_str(b, "User: ");
                cb_str(b, m[i].content);
                cb_str(b, "\n\n");
            } else if (role_is(&m[i], "assistant")) {
                cb_str(b, "Assistant: ");
                cb_str(b, m[i].content);
                cb_str(b, U_END_OF_SENTENCE);
            }
        }
        if (add_ass)
            cb_str(b, "Assistant:");
        break;
    case CHAT_STYLE_DEEPSEEK3:
        for (int i = 0; i < n; i++) {
            if (role_is(&m[i], "system")) {
                cb_str(b, m[i].content);
                cb_str(b, "\n\n");
            } else if (role_is(&m[i], "user")) {
                cb_str(b, U_USER);
                cb_str(b, m[i].content);
            } else if (role_is(&m[i], "assistant")) {
                cb_str(b, U_ASSISTANT);
                cb_str(b, m[i].content);
                cb_str(b, U_END_OF_SENTENCE);
            }
        }
        if (add_ass)
            cb_str(b, U_ASSISTANT);
        break;
    case CHAT_STYLE_TULU:
        for (int i = 0; i < n; i++) {
            cb_str(b, "<|");
            cb_str(b, m[i].role);
            cb_str(b, "|>\n");
            cb_str(b, m[i].content);
            cb_str(b, "\n");
        }
        if (add_ass)
            cb_str(b, "<|assistant|>\n");
        break;
    case CHAT_STYLE_GRANITE:
        for (int i = 0; i < n; i++) {
            cb_str(b, "<|start_of_role|>");
            cb_str(b, m[i].role);
            cb_str(b, "<|end_of_role|>");
            if (role_is(&m[i], "assistant_tool_call"))
                cb_str(b, "<|tool_call|>");
            cb_str(b, m[i].content);
            cb_str(b, "<|end_of_text|>\n");
        }
        /* Current llama.cpp (its granite-3.x/4.0 split) adds no newline here. */
        if (add_ass)
            cb_str(b, "<|start_of_role|>assistant<|end_of_role|>");
        break;
    default:
        break;
    }
}

char *chat_render_style(enum chat_style s, const struct chat_msg *msgs, int n,
                        bool add_generation_prompt, size_t *len)
{
    if (s <= CHAT_STYLE_NONE || s >= CHAT_STYLE_COUNT)
        return NULL;
    struct chat_buf b = {0};
    cb_put(&b, "", 0); /* an empty conversation is "" */
    render(&b, s, msgs, n < 0 ? 0 : n, add_generation_prompt);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.s;
}

char *chat_render(enum chat_family f, const struct chat_msg *msgs, int n,
                  bool add_generation_prompt, size_t *len)
{
    return chat_render_style(chat_family_default_style(f), msgs, n, add_generation_prompt, len);
}
