/* tests/fuzz/fuzz_chat.c: libFuzzer entry for chat-template detection and rendering.
 *
 * The input is a template text, then NUL-separated role/content pairs (a role's first byte
 * picks system, user or assistant); the first byte picks the style. Detection must not read past the text, rendering must return a string whose
 * length is what it reports, and every non-trimming style must carry each content through. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FZ_MAX_MSG = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    buf[size] = '\0';
    enum chat_style style = (enum chat_style)(data[0] % CHAT_STYLE_COUNT);

    /* The template is the first NUL-terminated part; messages follow. */
    const char *tmpl = buf;
    enum chat_style detected = chat_detect_style(tmpl);
    if (detected < CHAT_STYLE_NONE || detected >= CHAT_STYLE_COUNT)
        __builtin_trap();
    if (chat_detect(tmpl) != chat_style_family(detected))
        __builtin_trap();

    struct chat_msg msgs[FZ_MAX_MSG];
    int n = 0;
    const char *p = tmpl + strlen(tmpl) + 1, *end = buf + size - 1;
    while (n < FZ_MAX_MSG && p < end) {
        const char *role = p;
        p += strlen(p) + 1;
        if (p >= end)
            break;
        /* Some styles drop roles they do not know; the three common ones keep every content. */
        static const char *const roles[3] = {"system", "user", "assistant"};
        msgs[n].role = roles[(unsigned char)role[0] % 3];
        msgs[n].content = p;
        p += strlen(p) + 1;
        n++;
    }
    size_t len = 0;
    char *out = chat_render_style(style, msgs, n, data[0] & 0x80, &len);
    if (style == CHAT_STYLE_NONE) {
        if (out)
            __builtin_trap();
    } else {
        if (!out || strlen(out) != len)
            __builtin_trap();
        /* (glm4.5/4.7 also split a reply at "</think>" and may leave its thinking out; harmony
         * writes a system message only as the first one) */
        bool trims = style == CHAT_STYLE_LLAMA3 || style == CHAT_STYLE_LLAMA2_SYS_STRIP ||
                     style == CHAT_STYLE_MISTRAL_V3 || style == CHAT_STYLE_GLM45 ||
                     style == CHAT_STYLE_GLM47 || style == CHAT_STYLE_HARMONY;
        for (int i = 0; i < n && !trims; i++)
            if (!strstr(out, msgs[i].content))
                __builtin_trap();
    }
    free(out);
    free(buf);
    return 0;
}
