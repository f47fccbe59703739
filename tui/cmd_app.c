/* tui/cmd_app.c: `moescope [options]`, the full-screen app.
 *
 * Everything that can be checked before the terminal is taken over is checked here, so a
 * bad option, a missing model or a broken theme is a plain message on stderr and the shell's
 * screen is never touched. */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "app.h"
#include "chat.h"
#include "commands.h"
#include "model_store.h"

#ifndef MOESCOPE_DATADIR
#define MOESCOPE_DATADIR "/usr/local/share/moescope"
#endif

/* Here rather than in main.c so the test binary, which has no main.c, links it too. */
const char *default_model_path(void)
{
    static char path[4096];
    const char *env = getenv("MOESCOPE_MODEL");
    if (env && *env)
        return env;
    /* Next to the binary in a source tree (make run); then the installed copy relative to
     * the binary (PREFIX/bin -> PREFIX/share/moescope, so a relocated install works); then
     * the data folder compiled in. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            static const char *const rel[] = { "build/default.gguf",
                                               "../share/moescope/default.gguf" };
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
                if (snprintf(path, sizeof path, "%s/%s", exe, rel[i]) < (int)sizeof path &&
                    access(path, R_OK) == 0)
                    return path;
        }
    }
    snprintf(path, sizeof path, "%s/default.gguf", MOESCOPE_DATADIR);
    return path;
}

static void app_usage(FILE *out)
{
    fprintf(out,
            "usage: moescope [-m MODEL|URL] [options]\n"
            "Chat with a Mixture-of-Experts model and watch its routing live.\n"
            "  -m, --model FILE       GGUF model (default: the built-in Shakespeare MoE), or\n"
            "                         the URL of an OpenAI-compatible server (below)\n"
            "  -t, --threads N        threads (default: every core)\n"
            "  -c, --ctx N            context size (default: the model's, at most 4096)\n"
            "  -n, --n-predict N      at most N tokens a reply (default 2048, 0: no limit)\n"
            "      --theme NAME       dark, light, high-contrast, mono, or a file\n"
            "      --chat-template NAME  chatml, llama3, mistral, deepseek, tulu, granite,\n"
            "                         harmony, glm or ernie (moescope(1): the variants)\n"
            "      --system TEXT      system prompt\n"
            "      --temp F --top-k N --top-p F --min-p F --seed N   sampler settings\n"
            "      --session FILE     continue a saved session\n"
            "      --replay FILE      inspect a saved session without a model\n"
            "      --prewarm          read every expert once before the first token\n"
            "      --mlock            pin the model in memory\n"
            "      --frames N         draw N frames and exit (for tests)\n"
            "A server (-m URL):\n%s"
            "Inside: F1 lists every key, /help the commands. See moescope(1).\n",
            backend_args_usage);
}

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "moescope: %s wants a whole number in [%ld, %ld], not '%s'\n", opt, lo,
                hi, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_float(const char *opt, const char *v, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || errno || !(x >= lo && x <= hi)) {
        fprintf(stderr, "moescope: %s wants a number in [%g, %g], not '%s'\n", opt, lo, hi,
                v ? v : "");
        return -1;
    }
    *out = (float)x;
    return 0;
}

/* Parses argv into o. Returns 0, 1 after --help, or -1 after a message (exit 2). */
static int app_parse(int argc, char **argv, struct app_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            app_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--prewarm") || !strcmp(a, "--mlock")) {
            *(a[2] == 'p' ? &o->prewarm : &o->mlock) = true;
            continue;
        }
        char why[256];
        int took = backend_args_take(&o->backend, argc, argv, &i, why, sizeof why);
        if (took < 0) {
            fprintf(stderr, "moescope: %s\n", why);
            return -1;
        }
        if (took) {
            o->model = o->backend.model;
            continue;
        }
        static const char *const with_value[] = {
            "-t", "--threads", "-c", "--ctx", "-n", "--n-predict", "--theme",
            "--chat-template", "--system", "--temp", "--top-k", "--top-p", "--min-p", "--seed",
            "--session", "--replay", "--frames",
        };
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "moescope: unknown option '%s' (moescope --help lists them)\n", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "moescope: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        long n;
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (parse_long(a, v, 1, 1024, &n) < 0)
                return -1;
            o->n_threads = (int)n;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (parse_long(a, v, 16, 1 << 20, &n) < 0)
                return -1;
            o->n_ctx = (int)n;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (parse_long(a, v, 0, INT_MAX, &n) < 0)
                return -1;
            o->n_predict = (int)n;
        } else if (!strcmp(a, "--theme")) {
            o->theme = v;
        } else if (!strcmp(a, "--chat-template")) {
            o->chat_template = v;
        } else if (!strcmp(a, "--system")) {
            o->system = v;
        } else if (!strcmp(a, "--temp")) {
            if (parse_float(a, v, 0, 100, &o->sampler.temp) < 0)
                return -1;
        } else if (!strcmp(a, "--top-k")) {
            if (parse_long(a, v, 0, INT_MAX, &n) < 0)
                return -1;
            o->sampler.top_k = (int)n;
        } else if (!strcmp(a, "--top-p")) {
            if (parse_float(a, v, 0, 1, &o->sampler.top_p) < 0)
                return -1;
        } else if (!strcmp(a, "--min-p")) {
            if (parse_float(a, v, 0, 1, &o->sampler.min_p) < 0)
                return -1;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-') {
                fprintf(stderr, "moescope: --seed wants a whole number, not '%s'\n", v);
                return -1;
            }
            o->sampler.seed = s;
        } else if (!strcmp(a, "--session")) {
            o->session = v;
        } else if (!strcmp(a, "--replay")) {
            o->replay = v;
        } else if (!strcmp(a, "--frames")) {
            if (parse_long(a, v, 1, LONG_MAX, &n) < 0)
                return -1;
            o->frames = n;
        }
    }
    if (o->replay && (o->model || o->session)) {
        fprintf(stderr, "moescope: --replay opens a saved session without a model; "
                        "-m and --session do not go with it\n");
        return -1;
    }
    return 0;
}

int cmd_app(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    struct app_options o;
    app_options_default(&o);
    int r = app_parse(argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : 2;
    char err[1024];
    if (o.chat_template) {
        enum chat_style st;
        if (chat_style_from_name(o.chat_template, &st, err, sizeof err) < 0) {
            fprintf(stderr, "moescope: %s\n", err);
            return 2;
        }
    }
    static char model_path[4096]; /* -m NAME resolved (cli/model_store.h) */
    if (o.model && !o.replay) {
        if (model_resolve(o.model, model_path, sizeof model_path, err, sizeof err) != 0) {
            fprintf(stderr, "moescope: %s\n", err);
            return 1;
        }
        o.model = model_path;
    }
    if (!o.replay) {
        /* The model is read once here so a missing or broken file is said plainly, before
         * the screen is taken; the worker opens it for real in the background. */
        const char *path = o.model ? o.model : default_model_path();
        struct model_desc d;
        if (backend_is_url(path)) { /* a server: asked once too, so a refusal is one line */
            struct backend_params bp = { .args = o.backend };
            struct backend *b = backend_open(&bp, err, sizeof err);
            if (!b) {
                fprintf(stderr, "moescope: %s\n", err);
                return 1;
            }
            backend_close(b);
        } else if (model_describe(path, &d, err, sizeof err) < 0) {
            fprintf(stderr, "moescope: %s\n", err);
            if (!o.model)
                fprintf(stderr, "moescope: the built-in model is made by `make`; "
                                "or open one with -m FILE.gguf\n");
            return 1;
        }
    }
    static struct app a;   /* static: large, and alive for the signal paths */
    if (app_init(&a, &o, err, sizeof err) < 0) {
        fprintf(stderr, "moescope: %s\n", err);
        app_free(&a);
        return 1;
    }
    r = app_run(&a);
    app_free(&a);
    return r;
}
