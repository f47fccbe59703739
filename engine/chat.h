/* engine/chat.h: chat templates, recognised from a GGUF's tokenizer.chat_template by family
 * and rendered exactly as llama.cpp's llm_chat_apply_template does (no Jinja interpreter);
 * glm4.5 and ernie4.5, which llama.cpp has no built-in branch for, as llama.cpp's jinja
 * engine renders the models' own templates (tests/chat_templates, checked with jinja2).
 *
 * A family is what the user names (--chat-template chatml); a style is the concrete format,
 * because llama.cpp tells some families' variants apart (Mixtral-8x7B's [INST] template is
 * its "llama2", Mistral Large's its "mistral-v7"). Styles carry llama.cpp's own template
 * names, so either kind of name works on the command line. Detection looks for distinctive
 * substrings, in llama.cpp's order (llm_chat_detect_template). A new style is a value of
 * enum chat_style, a row of engine/text/chat.c's chat_styles (its strings: begin, role
 * prefixes and suffixes, the generation prompt) and, when files carry it, a detection rule. */
#ifndef MOESCOPE_CHAT_H
#define MOESCOPE_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum chat_family {
    CHAT_NONE,
    CHAT_CHATML,
    CHAT_LLAMA3,
    CHAT_MISTRAL,
    CHAT_DEEPSEEK,
    CHAT_TULU,
    CHAT_GRANITE,
    CHAT_HARMONY,
    CHAT_GLM,
    CHAT_ERNIE,
    CHAT_FAMILY_COUNT
};

/* The families' names, indexed by enum chat_family ("" for CHAT_NONE). */
extern const char *const chat_family_names[CHAT_FAMILY_COUNT];

enum chat_style {
    CHAT_STYLE_NONE,
    CHAT_STYLE_CHATML,            /* chatml */
    CHAT_STYLE_PHI4,              /* phi4: ChatML with <|im_sep|> */
    CHAT_STYLE_LLAMA3,            /* llama3 */
    CHAT_STYLE_LLAMA2,            /* llama2: [INST] (Mistral/Mixtral v0.1 templates) */
    CHAT_STYLE_LLAMA2_SYS,        /* llama2-sys */
    CHAT_STYLE_LLAMA2_SYS_BOS,    /* llama2-sys-bos */
    CHAT_STYLE_LLAMA2_SYS_STRIP,  /* llama2-sys-strip */
    CHAT_STYLE_MISTRAL_V1,        /* mistral-v1 */
    CHAT_STYLE_MISTRAL_V3,        /* mistral-v3 (Mixtral-8x22B) */
    CHAT_STYLE_MISTRAL_V3_TEKKEN, /* mistral-v3-tekken */
    CHAT_STYLE_MISTRAL_V7,        /* mistral-v7 */
    CHAT_STYLE_MISTRAL_V7_TEKKEN, /* mistral-v7-tekken */
    CHAT_STYLE_DEEPSEEK,          /* deepseek: DeepSeek-Coder's ### Instruction */
    CHAT_STYLE_DEEPSEEK2,         /* deepseek2: DeepSeek-MoE / V2 "User: ... Assistant:" */
    CHAT_STYLE_DEEPSEEK3,         /* deepseek3: V2.5 / V3 <｜User｜> */
    CHAT_STYLE_TULU,              /* tulu: llama.cpp's falcon3 format (OLMoE, Tulu) */
    CHAT_STYLE_GRANITE,           /* granite */
    CHAT_STYLE_GPT_OSS,           /* gpt-oss: OpenAI's harmony */
    CHAT_STYLE_CHATGLM4,          /* chatglm4: GLM-4's, "<|assistant|>\n" */
    CHAT_STYLE_GLM45,             /* glm4.5: GLM-4.5's own, "<|assistant|>" */
    CHAT_STYLE_ERNIE45,           /* ernie4.5: ERNIE 4.5's "User: ... Assistant: " */
    CHAT_STYLE_HARMONY,           /* harmony: gpt-oss's own template (system, developer) */
    CHAT_STYLE_GLM47,             /* glm4.7: GLM-4.7's, the prompt ending "<think>" */
    CHAT_STYLE_COUNT
};

struct chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
};

/* The family of a style, and the style a family name stands for. */
enum chat_family chat_style_family(enum chat_style s);
enum chat_style chat_family_default_style(enum chat_family f);
const char *chat_style_name(enum chat_style s);

/* Recognise a template from its text (or from a name given in place of the text, as llama.cpp
 * allows). CHAT_NONE / CHAT_STYLE_NONE when no supported family matches. */
enum chat_family chat_detect(const char *jinja_template);
enum chat_style chat_detect_style(const char *jinja_template);

/* A family name ("chatml", "llama3", "mistral", "deepseek", "tulu", "granite", "harmony",
 * "glm", "ernie"), or CHAT_NONE. */
enum chat_family chat_family_from_name(const char *name);
/* A family or llama.cpp template name -> style. Returns 0, or -1 with a message in err that
 * names every family and style. */
int chat_style_from_name(const char *name, enum chat_style *out, char *err, size_t errlen);

/* The prompt text for msgs[0..n) in a style, or its family's default style. Returns a
 * malloc'd NUL-terminated string (the caller frees it) and its length in *len (may be NULL);
 * NULL for CHAT_NONE or when memory runs out. */
char *chat_render_style(enum chat_style s, const struct chat_msg *msgs, int n,
                        bool add_generation_prompt, size_t *len);
/* The same, with `now` as the time: harmony's template writes the local date (its
 * strftime_now("%Y-%m-%d")); chat_render_style uses the current time. */
char *chat_render_style_at(enum chat_style s, const struct chat_msg *msgs, int n,
                           bool add_generation_prompt, time_t now, size_t *len);
char *chat_render(enum chat_family f, const struct chat_msg *msgs, int n,
                  bool add_generation_prompt, size_t *len);

#endif
