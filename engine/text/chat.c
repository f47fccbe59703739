/* engine/text/chat.c: see chat.h. The formats follow llama.cpp's src/llama-chat.cpp
 * (llm_chat_apply_template and llm_chat_detect_template): one row per style in chat_styles,
 * rendered by one loop. */
#include "chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const chat_family_names[CHAT_FAMILY_COUNT] = {
    [CHAT_NONE] = "",
    [CHAT_CHATML] = "chatml",
    [CHAT_LLAMA3] = "llama3",
    [CHAT_MISTRAL] = "mistral",
    [CHAT_DEEPSEEK] = "deepseek",
    [CHAT_TULU] = "tulu",
    [CHAT_GRANITE] = "granite",
    [CHAT_HARMONY] = "harmony",
    [CHAT_GLM] = "glm",
    [CHAT_ERNIE] = "ernie",
};

/* The roles a style can give a turn of its own. */
enum chat_role {
    CR_SYSTEM,
    CR_USER,
    CR_ASSISTANT,
    CR_TOOL_CALL, /* "assistant_tool_call" */
    CR_ANY,       /* every role without a turn of its own; none: such messages are dropped */
    CR_COUNT
};

/* How one message is written: pre + content + post. */
struct chat_turn {
    const char *pre, *post; /* pre NULL: the style has no such turn */
    bool trim;              /* the content trimmed, as llama.cpp's trim() does */
    bool closes;            /* ends the open [INST] block, so the next message opens one */
};

/* How a style writes an assistant turn's thinking (GLM-4.5): its template splits the reply at
 * "</think>", keeps the thinking (open, trimmed, close) only in replies after the last user
 * message (in every reply when keep_all) and writes `empty` in the others, then answer_pre and
 * the answer, trimmed, when any is left. */
struct chat_think {
    const char *open, *close, *empty, *answer_pre;
    bool keep_all;
};

/* A style: a conversation is begin, then each message's turn (after open where no block is
 * open, after role_pre + its role's name + role_post where the style names roles), then the
 * generation prompt when asked. */
struct chat_style_row {
    const char *name;            /* llama.cpp's template name (ours for tulu) */
    enum chat_family family;
    const char *begin;           /* once, first (a template's leading text or BOS) */
    const char *date_then;       /* non-NULL: the local date (YYYY-MM-DD), then this, after
                                  * begin */
    bool system_leads;           /* a system message is written only as the first message,
                                  * and only when not empty; elsewhere it is dropped */
    bool begin_opens;            /* begin leaves an [INST] block open (llama2) */
    const char *open;            /* starts a block before a message when none is open */
    const char *role_pre, *role_post; /* NULL: the role's name is not written */
    struct chat_turn turn[CR_COUNT];
    const struct chat_think *think; /* NULL: a reply's content is written as it is */
    const char *gen;             /* the generation prompt; NULL: the style never adds one */
};

#define U_END_OF_SENTENCE "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define U_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define U_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

/* Styles that write every message alike: role_pre, the role's name, role_post, the content
 * and end (ChatML and its kin). */
#define NAMED_ROLES(name_, family_, role_pre_, role_post_, end, gen_)                          \
    {                                                                                          \
        .name = name_, .family = family_, .role_pre = role_pre_, .role_post = role_post_,      \
        .turn = { [CR_ANY] = { "", end, false, false } }, .gen = gen_,                         \
    }

/* llama2 and its variants: "[INST] " opens at once; a system prompt leads the first user
 * turn, in <<SYS>> or not; each reply closes the block, and open starts the next. */
#define LLAMA2(name_, open_, sys_pre, sys_post, trim_all)                                      \
    {                                                                                          \
        .name = name_, .family = CHAT_MISTRAL, .begin = "[INST] ", .begin_opens = true,        \
        .open = open_,                                                                         \
        .turn = {                                                                              \
            [CR_SYSTEM] = { sys_pre, sys_post, trim_all, false },                              \
            [CR_USER] = { "", " [/INST]", trim_all, false },                                   \
            [CR_ANY] = { "", "</s>", trim_all, true },                                         \
        },                                                                                     \
    }
#define SYS_OPEN "<<SYS>>\n"
#define SYS_CLOSE "\n<</SYS>>\n\n"

static const struct chat_style_row chat_styles[CHAT_STYLE_COUNT] = {
    [CHAT_STYLE_NONE] = { .name = "", .family = CHAT_NONE },
    [CHAT_STYLE_CHATML] = NAMED_ROLES("chatml", CHAT_CHATML, "<|im_start|>", "\n",
                                      "<|im_end|>\n", "<|im_start|>assistant\n"),
    [CHAT_STYLE_PHI4] = NAMED_ROLES("phi4", CHAT_CHATML, "<|im_start|>", "<|im_sep|>",
                                    "<|im_end|>", "<|im_start|>assistant<|im_sep|>"),
    [CHAT_STYLE_LLAMA3] = {
        .name = "llama3", .family = CHAT_LLAMA3,
        .role_pre = "<|start_header_id|>", .role_post = "<|end_header_id|>\n\n",
        .turn = { [CR_ANY] = { "", "<|eot_id|>", .trim = true } },
        .gen = "<|start_header_id|>assistant<|end_header_id|>\n\n",
    },
    [CHAT_STYLE_LLAMA2] = LLAMA2("llama2", "[INST] ", "", "\n", false),
    [CHAT_STYLE_LLAMA2_SYS] = LLAMA2("llama2-sys", "[INST] ", SYS_OPEN, SYS_CLOSE, false),
    [CHAT_STYLE_LLAMA2_SYS_BOS] =
        LLAMA2("llama2-sys-bos", "<s>[INST] ", SYS_OPEN, SYS_CLOSE, false),
    [CHAT_STYLE_LLAMA2_SYS_STRIP] =
        LLAMA2("llama2-sys-strip", "[INST] ", SYS_OPEN, SYS_CLOSE, true),
    [CHAT_STYLE_MISTRAL_V1] = {
        .name = "mistral-v1", .family = CHAT_MISTRAL, .open = " [INST] ",
        .turn = { [CR_SYSTEM] = { "", "\n\n" }, [CR_USER] = { "", " [/INST]" },
                  [CR_ANY] = { " ", "</s>", .closes = true } },
    },
    [CHAT_STYLE_MISTRAL_V3] = {
        .name = "mistral-v3", .family = CHAT_MISTRAL, .open = "[INST] ",
        .turn = { [CR_SYSTEM] = { "", "\n\n" }, [CR_USER] = { "", "[/INST]" },
                  [CR_ANY] = { " ", "</s>", .trim = true, .closes = true } },
    },
    [CHAT_STYLE_MISTRAL_V3_TEKKEN] = {
        .name = "mistral-v3-tekken", .family = CHAT_MISTRAL, .open = "[INST]",
        .turn = { [CR_SYSTEM] = { "", "\n\n" }, [CR_USER] = { "", "[/INST]" },
                  [CR_ANY] = { "", "</s>", .closes = true } },
    },
    [CHAT_STYLE_MISTRAL_V7] = {
        .name = "mistral-v7", .family = CHAT_MISTRAL,
        .turn = { [CR_SYSTEM] = { "[SYSTEM_PROMPT] ", "[/SYSTEM_PROMPT]" },
                  [CR_USER] = { "[INST] ", "[/INST]" }, [CR_ANY] = { " ", "</s>" } },
    },
    [CHAT_STYLE_MISTRAL_V7_TEKKEN] = {
        .name = "mistral-v7-tekken", .family = CHAT_MISTRAL,
        .turn = { [CR_SYSTEM] = { "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]" },
                  [CR_USER] = { "[INST]", "[/INST]" }, [CR_ANY] = { "", "</s>" } },
    },
    [CHAT_STYLE_DEEPSEEK] = {
        .name = "deepseek", .family = CHAT_DEEPSEEK,
        .turn = { [CR_SYSTEM] = { "", "" }, [CR_USER] = { "### Instruction:\n", "\n" },
                  [CR_ASSISTANT] = { "### Response:\n", "\n<|EOT|>\n" } },
        .gen = "### Response:\n",
    },
    [CHAT_STYLE_DEEPSEEK2] = {
        .name = "deepseek2", .family = CHAT_DEEPSEEK,
        .turn = { [CR_SYSTEM] = { "", "\n\n" }, [CR_USER] = { "User: ", "\n\n" },
                  [CR_ASSISTANT] = { "Assistant: ", U_END_OF_SENTENCE } },
        .gen = "Assistant:",
    },
    [CHAT_STYLE_DEEPSEEK3] = {
        .name = "deepseek3", .family = CHAT_DEEPSEEK,
        .turn = { [CR_SYSTEM] = { "", "\n\n" }, [CR_USER] = { U_USER, "" },
                  [CR_ASSISTANT] = { U_ASSISTANT, U_END_OF_SENTENCE } },
        .gen = U_ASSISTANT,
    },
    [CHAT_STYLE_TULU] = NAMED_ROLES("tulu", CHAT_TULU, "<|", "|>\n", "\n", "<|assistant|>\n"),
    /* Current llama.cpp (its granite-3.x/4.0 split) adds no newline after the prompt. */
    [CHAT_STYLE_GRANITE] = {
        .name = "granite", .family = CHAT_GRANITE,
        .role_pre = "<|start_of_role|>", .role_post = "<|end_of_role|>",
        .turn = { [CR_TOOL_CALL] = { "<|tool_call|>", "<|end_of_text|>\n" },
                  [CR_ANY] = { "", "<|end_of_text|>\n" } },
        .gen = "<|start_of_role|>assistant<|end_of_role|>",
    },
    /* gpt-oss: llama.cpp's harmony (OPENAI_MOE) branch; the reply opens its own channel
     * (analysis, then final) after the generation prompt. */
    [CHAT_STYLE_GPT_OSS] = {
        .name = "gpt-oss", .family = CHAT_HARMONY,
        .role_pre = "<|start|>", .role_post = "<|message|>",
        .turn = { [CR_ASSISTANT] = { "", "<|return|>" }, [CR_ANY] = { "", "<|end|>" } },
        .gen = "<|start|>assistant",
    },
    /* gpt-oss's own template (OpenAI's chat_template.jinja, llama.cpp's
     * models/templates/openai-gpt-oss-120b.jinja) as llama.cpp runs it: a system message of its
     * own with the date and "Reasoning: medium", the leading system message as the developer's
     * instructions, earlier replies in the final channel (their analysis dropped). A last
     * reply without the generation prompt ends "<|return|>" in the template; llama.cpp turns
     * that into "<|end|>" (common_chat_params_init_gpt_oss), which is what every reply gets
     * here. Tool turns are not sent by moescope. */
    [CHAT_STYLE_HARMONY] = {
        .name = "harmony", .family = CHAT_HARMONY,
        .begin = "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
                 "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: ",
        .date_then = "\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. "
                     "Channel must be included for every message.<|end|>",
        .system_leads = true,
        .turn = { [CR_SYSTEM] = { "<|start|>developer<|message|># Instructions\n\n", "\n\n<|end|>" },
                  [CR_USER] = { "<|start|>user<|message|>", "<|end|>" },
                  [CR_ASSISTANT] = { "<|start|>assistant<|channel|>final<|message|>", "<|end|>" } },
        .gen = "<|start|>assistant",
    },
    /* GLM: llama.cpp's chatglm4 (GLM-4) ends the prompt with a newline; GLM-4.5's own
     * template (and the glm4moe reference run) does not. */
    [CHAT_STYLE_CHATGLM4] = {
        .name = "chatglm4", .family = CHAT_GLM, .begin = "[gMASK]<sop>",
        .role_pre = "<|", .role_post = "|>\n", .turn = { [CR_ANY] = { "", "" } },
        .gen = "<|assistant|>\n",
    },
    /* GLM-4.5's chat_template.jinja (GLM-4.6's renders these turns alike), as llama.cpp runs
     * it through its jinja engine (the default there): enable_thinking is true, so a user turn
     * gets no "/nothink" and the prompt ends "<|assistant|>"; every reply gets a think block,
     * empty unless it follows the last user message. Other roles (its tool turns) are not
     * sent by moescope and are dropped, as the template drops roles it does not know. */
    [CHAT_STYLE_GLM45] = {
        .name = "glm4.5", .family = CHAT_GLM, .begin = "[gMASK]<sop>",
        .turn = { [CR_SYSTEM] = { "<|system|>\n", "" }, [CR_USER] = { "<|user|>\n", "" },
                  [CR_ASSISTANT] = { "<|assistant|>", "" } },
        .think = &(const struct chat_think){ "\n<think>", "</think>", "\n<think></think>", "\n",
                                             false },
        .gen = "<|assistant|>",
    },
    /* GLM-4.7's (llama.cpp's models/templates/GLM-4.7-Flash.jinja) as llama.cpp runs it: the
     * turns of glm4.5 without their newlines, a reply without thinking gets "</think>", and
     * with enable_thinking true the prompt opens the thinking. llama.cpp preserves reasoning
     * by default (--reasoning-preserve: clear_thinking false), so every reply keeps its
     * thinking, not only those after the last user message. */
    [CHAT_STYLE_GLM47] = {
        .name = "glm4.7", .family = CHAT_GLM, .begin = "[gMASK]<sop>",
        .turn = { [CR_SYSTEM] = { "<|system|>", "" }, [CR_USER] = { "<|user|>", "" },
                  [CR_ASSISTANT] = { "<|assistant|>", "" } },
        .think = &(const struct chat_think){ "<think>", "</think>", "</think>", "", true },
        .gen = "<|assistant|><think>",
    },
    /* ERNIE 4.5's template (the -PT models'; llama.cpp has no built-in one): a system message
     * is written bare, each line ends in a newline, a reply in <|end_of_sentence|>; other
     * roles are dropped. The template sets add_generation_prompt to true when it is not
     * defined, and llama.cpp defines it only when true: run by llama.cpp, a conversation
     * rendered without the generation prompt still ends "Assistant: ". moescope renders such
     * text only for itself (a loaded conversation fed ahead, the system prompt's span that a
     * context shift keeps), where it must be a prefix of the next prompt, so it leaves it
     * out, as the template means to (tests/test_chat.c checks the difference is exactly
     * that). */
    [CHAT_STYLE_ERNIE45] = {
        .name = "ernie4.5", .family = CHAT_ERNIE, .begin = "<|begin_of_sentence|>",
        .turn = { [CR_SYSTEM] = { "", "\n" }, [CR_USER] = { "User: ", "\n" },
                  [CR_ASSISTANT] = { "Assistant: ", "<|end_of_sentence|>" } },
        .gen = "Assistant: ",
    },
};
#undef NAMED_ROLES
#undef LLAMA2
#undef SYS_OPEN
#undef SYS_CLOSE


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
    case CHAT_HARMONY: return CHAT_STYLE_HARMONY;
    case CHAT_GLM: return CHAT_STYLE_GLM45;
    case CHAT_ERNIE: return CHAT_STYLE_ERNIE45;
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
    if (HAS("[gMASK]<sop>")) /* llama.cpp: chatglm4 (built in), but it runs GLM-4.5's and
                              * GLM-4.7's own templates: no newline after the prompt (the GLM-4
                              * templates are dense models we do not run); GLM-4.7's has
                              * clear_thinking */
        return HAS("clear_thinking") ? CHAT_STYLE_GLM47 : CHAT_STYLE_GLM45;
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
    /* llama.cpp asks for <|channel|> too, and then runs the template itself (its own,
     * harmony); gpt-oss templates written without channels (the gpt-oss reference file's) it
     * does not recognise: their turns are llama.cpp's built-in gpt-oss */
    if (HAS("<|start|>") && HAS("<|channel|>"))
        return CHAT_STYLE_HARMONY;
    if (HAS("<|start|>") && HAS("<|message|>"))
        return CHAT_STYLE_GPT_OSS;
    if (HAS("<|begin_of_sentence|>") && HAS("Assistant: ")) /* ERNIE 4.5, not in llama.cpp */
        return CHAT_STYLE_ERNIE45;
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

/* s[0..n) without C-locale whitespace at either end (pointer and length updated). */
static void chat_trim_span(const char **s, size_t *n)
{
    while (*n > 0 && chat_isspace(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && chat_isspace((*s)[*n - 1]))
        (*n)--;
}

/* llama.cpp's trim(): C-locale whitespace off both ends. */
static void cb_trimmed(struct chat_buf *b, const char *s)
{
    size_t n = strlen(s);
    chat_trim_span(&s, &n);
    cb_put(b, s, n);
}

/* The last occurrence of needle in s[0..n), or NULL. */
static const char *chat_last(const char *s, size_t n, const char *needle)
{
    const size_t k = strlen(needle);
    const char *last = NULL;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            last = s + i;
    return last;
}

/* A reply's content as GLM-4.5's template writes it (see struct chat_think). Its split, step
 * by step: the thinking is what precedes the first "</think>", less trailing newlines, after
 * the last "<think>" in that, less leading newlines; the answer is what follows the last
 * "</think>", less leading newlines. "Trimmed" is llama.cpp's jinja strip() (C isspace);
 * Python's str.strip() would also take Unicode spaces. */
static void cb_think_reply(struct chat_buf *b, const struct chat_think *th, const char *s,
                           bool keep_thinking)
{
    static const char open[] = "<think>", close[] = "</think>";
    const size_t n = strlen(s);
    const char *think = s, *answer = s;
    size_t n_think = 0, n_answer = n;
    const char *first_close = strstr(s, close);
    if (first_close) {
        size_t r = (size_t)(first_close - s);
        while (r > 0 && s[r - 1] == '\n')
            r--;
        const char *o = chat_last(s, r, open);
        think = o ? o + strlen(open) : s;
        n_think = (size_t)(s + r - think);
        while (n_think > 0 && *think == '\n') {
            think++;
            n_think--;
        }
        answer = chat_last(s, n, close) + strlen(close);
        n_answer = (size_t)(s + n - answer);
        while (n_answer > 0 && *answer == '\n') {
            answer++;
            n_answer--;
        }
    }
    if (keep_thinking && n_think > 0) {
        chat_trim_span(&think, &n_think);
        cb_str(b, th->open);
        cb_put(b, think, n_think);
        cb_str(b, th->close);
    } else {
        cb_str(b, th->empty);
    }
    chat_trim_span(&answer, &n_answer);
    if (n_answer > 0) {
        cb_str(b, th->answer_pre);
        cb_put(b, answer, n_answer);
    }
}

/* The turn a style writes a message with, or NULL to drop the message. */
static const struct chat_turn *chat_turn_of(const struct chat_style_row *st,
                                            const struct chat_msg *m)
{
    static const char *const role_names[CR_ANY] = {
        [CR_SYSTEM] = "system",
        [CR_USER] = "user",
        [CR_ASSISTANT] = "assistant",
        [CR_TOOL_CALL] = "assistant_tool_call",
    };
    for (int r = 0; r < CR_ANY; r++)
        if (st->turn[r].pre && strcmp(m->role, role_names[r]) == 0)
            return &st->turn[r];
    return st->turn[CR_ANY].pre ? &st->turn[CR_ANY] : NULL;
}

static void cb_opt(struct chat_buf *b, const char *s)
{
    if (s)
        cb_str(b, s);
}

static void render(struct chat_buf *b, const struct chat_style_row *st,
                   const struct chat_msg *m, int n, bool add_ass, time_t now)
{
    cb_opt(b, st->begin);
    if (st->date_then) {
        struct tm tm;
        char date[32] = "";
        if (localtime_r(&now, &tm))
            strftime(date, sizeof date, "%Y-%m-%d", &tm);
        cb_str(b, date);
        cb_str(b, st->date_then);
    }
    bool open = st->begin_opens;
    int last_user = -1; /* a reply after it keeps its thinking (struct chat_think) */
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].role, "user") == 0)
            last_user = i;
    for (int i = 0; i < n; i++) {
        const struct chat_turn *t = chat_turn_of(st, &m[i]);
        if (!t || (st->system_leads && t == &st->turn[CR_SYSTEM] && (i > 0 || !m[i].content[0])))
            continue;
        if (!open)
            cb_opt(b, st->open);
        open = !t->closes;
        if (st->role_pre) {
            cb_str(b, st->role_pre);
            cb_str(b, m[i].role);
            cb_str(b, st->role_post);
        }
        cb_str(b, t->pre);
        if (st->think && t == &st->turn[CR_ASSISTANT])
            cb_think_reply(b, st->think, m[i].content, st->think->keep_all || i > last_user);
        else if (t->trim)
            cb_trimmed(b, m[i].content);
        else
            cb_str(b, m[i].content);
        cb_str(b, t->post);
    }
    if (add_ass)
        cb_opt(b, st->gen);
}

char *chat_render_style_at(enum chat_style s, const struct chat_msg *msgs, int n,
                           bool add_generation_prompt, time_t now, size_t *len)
{
    if (s <= CHAT_STYLE_NONE || s >= CHAT_STYLE_COUNT)
        return NULL;
    struct chat_buf b = {0};
    cb_put(&b, "", 0); /* an empty conversation is "" */
    render(&b, &chat_styles[s], msgs, n < 0 ? 0 : n, add_generation_prompt, now);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.s;
}

char *chat_render_style(enum chat_style s, const struct chat_msg *msgs, int n,
                        bool add_generation_prompt, size_t *len)
{
    return chat_render_style_at(s, msgs, n, add_generation_prompt, time(NULL), len);
}

char *chat_render(enum chat_family f, const struct chat_msg *msgs, int n,
                  bool add_generation_prompt, size_t *len)
{
    return chat_render_style(chat_family_default_style(f), msgs, n, add_generation_prompt, len);
}
