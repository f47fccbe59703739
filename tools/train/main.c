/* tools/train/main.c: `train`, the trainer's command line. Trains the byte-level MoE of
 * trainer.h on a text file (first 90% for training, last 10% held out), and writes the
 * GGUF, the loss curve (a text table and an SVG plot) and a report of what each expert
 * learned. `make train` runs it with the shipped model's settings. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "trainer.h"

struct train_opts {
    const char *corpus, *out, *log_path, *svg_path, *report_path, *name;
    const char *init;         /* --init: start from this GGUF's weights */
    struct train_config c;
    int steps, batch, warmup, eval_every, eval_windows, threads, save_every;
    int stop_after;           /* --stop-after: end at this step of the --steps schedule */
    float lr, lr_min, wd, clip, dropout;
    uint64_t seed;
};

struct curve_point {
    int step;
    double train, heldout, minutes;
};

static uint64_t data_rng;
static uint64_t next_u64(void)
{
    data_rng += 0x9E3779B97F4A7C15ull;
    uint64_t z = data_rng;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Random windows of T + 1 bytes from text[0..len): inputs and next-byte targets. */
static void sample_batch(const unsigned char *text, size_t len, int n_seq, int T,
                         int32_t *tok, int32_t *tgt)
{
    for (int s = 0; s < n_seq; s++) {
        size_t start = next_u64() % (len - (size_t)T - 1);
        for (int t = 0; t < T; t++) {
            tok[s * T + t] = text[start + t];
            tgt[s * T + t] = text[start + t + 1];
        }
    }
}

/* Mean held-out loss over n_windows evenly spaced windows (all of them when n_windows is
 * 0: every non-overlapping window of the held-out text). */
static double eval_heldout(struct train_model *m, const unsigned char *text, size_t len,
                           int n_windows, int batch, int32_t *tok, int32_t *tgt)
{
    int T = m->c.n_ctx;
    size_t max_windows = (len - 1) / (size_t)T;
    size_t nw = n_windows > 0 && (size_t)n_windows < max_windows ? (size_t)n_windows : max_windows;
    double sum = 0;
    size_t done = 0;
    while (done < nw) {
        int n = (int)(nw - done < (size_t)batch ? nw - done : (size_t)batch);
        for (int s = 0; s < n; s++) {
            size_t start = (done + (size_t)s) * (max_windows / nw) * (size_t)T;
            for (int t = 0; t < T; t++) {
                tok[s * T + t] = text[start + t];
                tgt[s * T + t] = text[start + t + 1];
            }
        }
        sum += train_forward(m, tok, tgt, n, NULL, NULL) * n;
        done += (size_t)n;
    }
    return sum / (double)nw;
}

static void write_curve(const char *path, const struct curve_point *pts, int n,
                        const struct train_opts *o, size_t n_params)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "# tools/train on %s: %zu parameters, %d layers, d_model %d, %d of %d experts,\n"
               "# batch %d x %d bytes, seed %llu, lr %g over a schedule of %d steps%s, weight "
               "decay %g, dropout %g%s%s.\n"
               "# Loss in nats per byte (= per character).\n",
            o->corpus, n_params, o->c.n_layers, o->c.d_model, o->c.n_experts_used,
            o->c.n_experts, o->batch, o->c.n_ctx, (unsigned long long)o->seed, (double)o->lr,
            o->steps, o->stop_after > 0 && o->stop_after < o->steps ? " stopped early" : "",
            (double)o->wd, (double)o->dropout, o->init ? ", starting from " : "",
            o->init ? o->init : "");
    fprintf(f, "%8s %10s %10s %9s\n", "step", "train", "held-out", "minutes");
    for (int i = 0; i < n; i++)
        fprintf(f, "%8d %10.4f %10.4f %9.2f\n", pts[i].step, pts[i].train, pts[i].heldout,
                pts[i].minutes);
    fclose(f);
}

static void write_svg(const char *path, const struct curve_point *pts, int n)
{
    FILE *f = fopen(path, "w");
    if (!f || n == 0) {
        if (f)
            fclose(f);
        return;
    }
    const double W = 640, H = 360, L = 60, R = 20, Tp = 30, B = 50;
    double lo = 1e9, hi = 0;
    for (int i = 0; i < n; i++) {
        lo = fmin(lo, fmin(pts[i].train, pts[i].heldout));
        hi = fmax(hi, fmax(pts[i].train, pts[i].heldout));
    }
    lo = floor(lo * 4) / 4;
    hi = ceil(hi * 4) / 4;
    double smax = pts[n - 1].step > 0 ? pts[n - 1].step : 1;
#define X(s) (L + (W - L - R) * (s) / smax)
#define Y(v) (Tp + (H - Tp - B) * (1 - ((v) - lo) / (hi - lo)))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
               "height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"18\" font-size=\"14\">moescope default model: loss "
               "(nats per character)</text>\n", L);
    for (double v = lo; v <= hi + 1e-9; v += 0.25) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                L, W - R, Y(v), Y(v), L - 6, Y(v) + 4, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step (last: %d)</text>\n",
            (L + W - R) / 2, H - 12, pts[n - 1].step);
    const char *colour[2] = { "#0072B2", "#D55E00" };
    const char *label[2] = { "train", "held-out" };
    for (int k = 0; k < 2; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour[k]);
        for (int i = 0; i < n; i++)
            fprintf(f, "%.1f,%.1f ", X(pts[i].step), Y(k ? pts[i].heldout : pts[i].train));
        fprintf(f, "\"/>\n<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", W - R - 80,
                Tp + 16 + 16.0 * k, colour[k], label[k]);
    }
#undef X
#undef Y
    fprintf(f, "</svg>\n");
    fclose(f);
}

/* Per layer: each expert's share of the held-out bytes and its most frequent characters;
 * then the balance figures (avg/max load, coefficient of variation). */
static void write_report(const char *path, struct train_model *m, const unsigned char *text,
                         size_t len, int batch, int32_t *tok, int32_t *tgt)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    const struct train_config *c = &m->c;
    int T = c->n_ctx, E = c->n_experts, k = c->n_experts_used;
    size_t windows = (len - 1) / (size_t)T;
    if (windows > (size_t)batch * 8)
        windows = (size_t)batch * 8;
    static uint32_t count[TRAIN_MAX_LAYERS][256][256]; /* [layer][expert][byte], top-1 */
    memset(count, 0, sizeof count);
    uint64_t load[TRAIN_MAX_LAYERS][256] = { { 0 } };
    for (size_t w0 = 0; w0 < windows; w0 += (size_t)batch) {
        int n = (int)(windows - w0 < (size_t)batch ? windows - w0 : (size_t)batch);
        for (int s = 0; s < n; s++)
            for (int t = 0; t < T; t++) {
                tok[s * T + t] = text[(w0 + (size_t)s) * (size_t)T + (size_t)t];
                tgt[s * T + t] = text[(w0 + (size_t)s) * (size_t)T + (size_t)t + 1];
            }
        train_forward(m, tok, tgt, n, NULL, NULL);
        for (int l = 0; l < c->n_layers; l++) {
            int nt;
            const int32_t *idx = train_last_routing(m, l, &nt);
            for (int t = 0; t < nt; t++) {
                count[l][idx[t * k]][tok[t]]++;
                for (int r = 0; r < k; r++)
                    load[l][idx[t * k + r]]++;
            }
        }
    }
    fprintf(f, "Expert specialisation on %zu held-out windows of %d bytes: per layer, each "
               "expert's share of top-1 routings and the 8 bytes it most often takes as "
               "top-1 (with the share of that byte's occurrences it takes).\n",
            windows, T);
    for (int l = 0; l < c->n_layers; l++) {
        fprintf(f, "\nlayer %d\n", l);
        uint64_t total_top1 = 0, byte_total[256] = { 0 };
        for (int e = 0; e < E; e++)
            for (int b = 0; b < 256; b++) {
                total_top1 += count[l][e][b];
                byte_total[b] += count[l][e][b];
            }
        for (int e = 0; e < E; e++) {
            uint64_t n = 0;
            for (int b = 0; b < 256; b++)
                n += count[l][e][b];
            fprintf(f, "  expert %2d %5.1f%%  ", e, total_top1 ? 100.0 * n / total_top1 : 0);
            uint32_t used[256] = { 0 };
            for (int r = 0; r < 8; r++) {
                int best = -1;
                for (int b = 0; b < 256; b++)
                    if (!used[b] && count[l][e][b] && (best < 0 || count[l][e][b] > count[l][e][best]))
                        best = b;
                if (best < 0)
                    break;
                used[best] = 1;
                char shown[16];
                if (best == '\n')
                    snprintf(shown, sizeof shown, "\\n");
                else if (best == ' ')
                    snprintf(shown, sizeof shown, "' '");
                else if (best < 32 || best > 126)
                    snprintf(shown, sizeof shown, "\\x%02x", best);
                else
                    snprintf(shown, sizeof shown, "%c", best);
                fprintf(f, " %s(%.0f%%)", shown, 100.0 * count[l][e][best] / byte_total[best]);
            }
            fprintf(f, "\n");
        }
        double mean = 0, mx = 0, var = 0;
        for (int e = 0; e < E; e++) {
            mean += (double)load[l][e] / E;
            mx = fmax(mx, (double)load[l][e]);
        }
        for (int e = 0; e < E; e++)
            var += ((double)load[l][e] - mean) * ((double)load[l][e] - mean) / E;
        fprintf(f, "  balance: avg/max %.3f, CV %.3f\n", mx > 0 ? mean / mx : 0,
                mean > 0 ? sqrt(var) / mean : 0);
    }
    fclose(f);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: train [--corpus FILE] [-o OUT.gguf] [--steps N] [--batch B] [--ctx T]\n"
            "             [--layers L] [--d-model D] [--heads H] [--kv-heads K] [--experts E]\n"
            "             [--experts-used K] [--ff F] [--lr LR] [--warmup N] [--aux A]\n"
            "             [--eval-every N] [--seed S] [-t THREADS] [--log FILE] [--svg FILE]\n"
            "             [--report FILE] [--name NAME] [--save-every N] [--init FILE]\n"
            "             [--wd W] [--dropout P] [--stop-after N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct train_opts o = {
        .corpus = "../shared/corpus/tinyshakespeare.txt", .out = "build/trained.gguf",
        .name = "moescope shakespeare moe",
        .c = { .n_layers = 4, .d_model = 128, .n_heads = 4, .n_kv_heads = 4, .head_dim = 32,
               .n_experts = 8, .n_experts_used = 2, .d_ff = 256, .n_ctx = 128,
               .rope_base = 10000, .norm_eps = 1e-5f, .aux_alpha = 0.01f },
        .steps = 2000, .batch = 16, .warmup = 100, .eval_every = 100, .eval_windows = 64,
        .threads = 2, .lr = 2e-3f, .wd = 0.1f, .clip = 1.0f, .seed = 1,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[++i];
        char *end = NULL;
        errno = 0;
        double num = strtod(v, &end);
        int is_num = !errno && end != v && *end == 0;
#define INT_OPT(flag, field)                                                              \
    else if (!strcmp(a, flag)) { if (!is_num || num < 0) return usage(); field = (int)num; }
#define FLT_OPT(flag, field)                                                              \
    else if (!strcmp(a, flag)) { if (!is_num || num < 0) return usage(); field = (float)num; }
        if (!strcmp(a, "--corpus"))
            o.corpus = v;
        else if (!strcmp(a, "-o"))
            o.out = v;
        else if (!strcmp(a, "--log"))
            o.log_path = v;
        else if (!strcmp(a, "--svg"))
            o.svg_path = v;
        else if (!strcmp(a, "--report"))
            o.report_path = v;
        else if (!strcmp(a, "--name"))
            o.name = v;
        else if (!strcmp(a, "--init"))
            o.init = v;
        else if (!strcmp(a, "--seed")) {
            if (!is_num)
                return usage();
            o.seed = strtoull(v, NULL, 10);
        }
        INT_OPT("--steps", o.steps)
        INT_OPT("--batch", o.batch)
        INT_OPT("--ctx", o.c.n_ctx)
        INT_OPT("--layers", o.c.n_layers)
        INT_OPT("--d-model", o.c.d_model)
        INT_OPT("--heads", o.c.n_heads)
        INT_OPT("--kv-heads", o.c.n_kv_heads)
        INT_OPT("--experts", o.c.n_experts)
        INT_OPT("--experts-used", o.c.n_experts_used)
        INT_OPT("--ff", o.c.d_ff)
        INT_OPT("--warmup", o.warmup)
        INT_OPT("--eval-every", o.eval_every)
        INT_OPT("-t", o.threads)
        INT_OPT("--save-every", o.save_every)
        INT_OPT("--stop-after", o.stop_after)
        FLT_OPT("--lr", o.lr)
        FLT_OPT("--aux", o.c.aux_alpha)
        FLT_OPT("--wd", o.wd)
        FLT_OPT("--dropout", o.dropout)
        else return usage();
#undef INT_OPT
#undef FLT_OPT
    }
    if (o.c.n_heads < 1 || o.batch < 1 || o.steps < 1 || o.eval_every < 1 || o.dropout >= 1)
        return usage();
    o.c.head_dim = o.c.d_model / o.c.n_heads;
    o.lr_min = o.lr / 10;

    size_t len;
    unsigned char *text = read_file(o.corpus, &len);
    if (!text) {
        fprintf(stderr, "train: %s: %s\n", o.corpus, strerror(errno));
        return 1;
    }
    size_t n_train = len / 10 * 9;
    const unsigned char *heldout = text + n_train;
    size_t n_heldout = len - n_train;
    if (n_train < (size_t)o.c.n_ctx + 2 || n_heldout < (size_t)o.c.n_ctx + 2) {
        fprintf(stderr, "train: %s: %zu bytes is too short for windows of %d\n", o.corpus, len,
                o.c.n_ctx);
        free(text);
        return 1;
    }

    char err[512];
    struct train_model m;
    if (train_model_init(&m, &o.c, o.seed, o.threads, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        free(text);
        return 1;
    }
    if (o.init && train_load_gguf(&m, o.init, err, sizeof err) != 0) {
        fprintf(stderr, "train: --init %s\n", err);
        train_model_free(&m);
        free(text);
        return 1;
    }
    data_rng = o.seed * 7919 + 1;
    m.dropout_rng = o.seed * 104729 + 3;
    size_t bt = (size_t)o.batch * (size_t)o.c.n_ctx;
    int32_t *tok = malloc(sizeof(int32_t) * bt), *tgt = malloc(sizeof(int32_t) * bt);
    int max_points = o.steps / o.eval_every + 2;
    struct curve_point *pts = calloc((size_t)max_points, sizeof *pts);
    if (!tok || !tgt || !pts) {
        fprintf(stderr, "train: out of memory\n");
        return 1;
    }
    fprintf(stderr, "train: %zu parameters (%.1f MB as F32), %zu training bytes, %zu held out\n",
            m.n_params, m.n_params * 4 / 1e6, n_train, n_heldout);
    double t0 = clock_now_s(), run_loss = 0;
    int run_n = 0, n_pts = 0;
    /* --stop-after ends the run part way through the schedule of --steps (the learning rate
     * is still that schedule's). */
    int last = o.stop_after > 0 && o.stop_after < o.steps ? o.stop_after : o.steps;
    for (int step = 1; step <= last; step++) {
        float lr;
        if (step <= o.warmup)
            lr = o.lr * step / o.warmup;
        else {
            double p = (double)(step - o.warmup) / (o.steps - o.warmup > 0 ? o.steps - o.warmup : 1);
            lr = (float)(o.lr_min + 0.5 * (o.lr - o.lr_min) * (1 + cos(M_PI * p)));
        }
        sample_batch(text, n_train, o.batch, o.c.n_ctx, tok, tgt);
        double aux;
        m.dropout = o.dropout; /* only the training forward drops; every evaluation sees all */
        double loss = train_forward(&m, tok, tgt, o.batch, &aux, NULL);
        m.dropout = 0;
        train_backward(&m);
        double gnorm = train_adamw_step(&m, lr, 0.9f, 0.99f, o.wd, o.clip, step);
        run_loss += loss;
        run_n++;
        if (step % o.eval_every == 0 || step == last || step == 1) {
            double ho = eval_heldout(&m, heldout, n_heldout, o.eval_windows, o.batch, tok, tgt);
            double minutes = (clock_now_s() - t0) / 60;
            pts[n_pts++] = (struct curve_point){ step, run_loss / run_n, ho, minutes };
            fprintf(stderr, "step %5d  train %.4f  held-out %.4f  aux %.4f  |g| %.3f  lr %.2e  "
                            "%.1f min\n", step, run_loss / run_n, ho, aux, gnorm, lr, minutes);
            run_loss = 0;
            run_n = 0;
        }
        if (o.save_every && step % o.save_every == 0 && step < last) {
            /* A snapshot, so a run cut short still leaves a model behind. */
            if (train_save_gguf(&m, o.out, o.name, err, sizeof err) != 0)
                fprintf(stderr, "%s\n", err);
            if (o.log_path)
                write_curve(o.log_path, pts, n_pts, &o, m.n_params);
        }
    }
    double final = eval_heldout(&m, heldout, n_heldout, 0, o.batch, tok, tgt);
    double minutes = (clock_now_s() - t0) / 60;
    fprintf(stderr, "train: final held-out loss %.4f nats/char over the whole held-out 10%% "
                    "(%.1f minutes)\n", final, minutes);
    int rc = 0;
    if (train_save_gguf(&m, o.out, o.name, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = 1;
    }
    if (o.log_path) {
        write_curve(o.log_path, pts, n_pts, &o, m.n_params);
        FILE *f = fopen(o.log_path, "a");
        if (f) {
            fprintf(f, "# final held-out loss over the whole held-out 10%%: %.4f (%.1f minutes)\n",
                    final, minutes);
            fclose(f);
        }
    }
    if (o.svg_path)
        write_svg(o.svg_path, pts, n_pts);
    if (o.report_path)
        write_report(o.report_path, &m, heldout, n_heldout, o.batch, tok, tgt);
    free(tok);
    free(tgt);
    free(pts);
    free(text);
    train_model_free(&m);
    return rc;
}
