/* sessions/export_html.c: one self-contained page that any browser opens with no network.
 *
 * What it holds, all drawn here (inline CSS, pre-rendered SVG, a few lines of inline JS):
 * - the tokens coloured by the top-1 expert they were routed to at one layer (the Mixtral
 *   paper's figure 8), with a layer selector; the page is coloured at the default layer
 *   before any script runs, and the script only recolours on a change of layer;
 * - the layer x expert load heatmap over the whole session;
 * - the latency (ms per generated token) and routing entropy (normalised, per token) plots;
 * - the transcript.
 * A Content-Security-Policy meta tag forbids every fetch. No URL is written: the text's own
 * colons are written as &#58;, so even a URL the model typed is not one in the file. */
#include "session.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text_escape.h"

/* Writes src[0..n) in its visible form, HTML-escaped. */
static void html_put_text(FILE *out, const char *src, size_t n)
{
    char small[1024];
    char *vis = small;
    size_t need = text_escape(src, n, small, sizeof small);
    if (need >= sizeof small) {
        vis = malloc(need + 1);
        if (!vis)
            return;
        text_escape(src, n, vis, need + 1);
    }
    for (size_t i = 0; i < need; i++) {
        switch (vis[i]) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case ':': fputs("&#58;", out); break;
        default: fputc(vis[i], out); break;
        }
    }
    if (vis != small)
        free(vis);
}

/* The fill of expert e (a colour-blind-safe set first, then spread hues). */
static void html_expert_colour(int e, char *buf, size_t n)
{
    static const char *const okabe_ito[] = { "230,159,0",  "86,180,233", "0,158,115",
                                             "240,228,66", "0,114,178",  "213,94,0",
                                             "204,121,167", "153,153,153" };
    if (e < 8)
        snprintf(buf, n, "rgba(%s,0.55)", okabe_ito[e]);
    else
        snprintf(buf, n, "hsl(%d,70%%,74%%)", (int)(fmod(e * 137.508, 360.0)));
}

/* A sequential blue for x in [0, 1] (light to dark). */
static void html_heat_colour(double x, char *buf, size_t n)
{
    if (!(x >= 0))
        x = 0;
    if (x > 1)
        x = 1;
    int r = (int)lround(247 + (8 - 247) * x), g = (int)lround(251 + (48 - 251) * x),
        b = (int)lround(255 + (107 - 255) * x);
    snprintf(buf, n, "#%02x%02x%02x", r, g, b);
}

/* A polyline plot of y[0..n) in a w x h box with its maximum and a label. */
static void html_plot(FILE *out, const double *y, size_t n, const char *title,
                      const char *unit, double ymax_fixed)
{
    const int w = 720, h = 170, ml = 56, mb = 22, mt = 10;
    double ymax = ymax_fixed;
    if (ymax <= 0)
        for (size_t i = 0; i < n; i++)
            if (isfinite(y[i]) && y[i] > ymax)
                ymax = y[i];
    if (ymax <= 0)
        ymax = 1;
    fprintf(out, "<figure><figcaption>%s</figcaption>\n", title);
    fprintf(out, "<svg class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "role=\"img\">\n", w, h, w, h);
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", ml,
            mt, w - ml - 4, h - mt - mb);
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%.3g %s</text>\n",
            ml - 4, mt + 10, ymax, unit);
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">0</text>\n", ml - 4,
            h - mb);
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\">token 1</text>\n", ml, h - 6);
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%zu</text>\n", w - 4,
            h - 6, n);
    if (n > 0) {
        fputs("<polyline class=\"line\" points=\"", out);
        double pw = (double)(w - ml - 8), ph = (double)(h - mt - mb);
        for (size_t i = 0; i < n; i++) {
            double v = isfinite(y[i]) ? y[i] : 0;
            double px = ml + 2 + (n > 1 ? pw * (double)i / (double)(n - 1) : pw / 2);
            double py = mt + ph - ph * (v > ymax ? 1 : v / ymax);
            fprintf(out, "%s%.1f,%.1f", i ? " " : "", px, py);
        }
        fputs("\"/>\n", out);
    } else {
        fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\">no data</text>\n", w / 2, h / 2);
    }
    fputs("</svg></figure>\n", out);
}

static const char html_style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#222;"
    "background:#fff}\n"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px}\n"
    ".meta{color:#555}\n"
    ".tokens{font:13px/1.9 ui-monospace,monospace;white-space:pre-wrap;word-break:break-word;"
    "border:1px solid #ddd;padding:10px;border-radius:4px}\n"
    ".turn{color:#777;font:12px system-ui,sans-serif;margin:10px 0 2px}\n"
    ".t{border-radius:2px}.p{opacity:.6}.k{font-style:italic;text-decoration:underline dotted}\n"
    "details.think{color:#666;margin:4px 0}\n"
    ".legend span{display:inline-block;min-width:26px;text-align:center;margin:1px;"
    "font:11px ui-monospace,monospace;border-radius:2px}\n"
    ".ax{font:10px ui-monospace,monospace;fill:#555}\n"
    ".frame{fill:none;stroke:#ccc}.line{fill:none;stroke:#0072b2;stroke-width:1.2}\n"
    "figure{margin:8px 0}figcaption{font-weight:600;margin-bottom:4px}\n"
    ".msg{border-left:3px solid #ccc;padding:2px 10px;margin:10px 0;white-space:pre-wrap}\n"
    ".role{font-weight:600;color:#444}\n";

/* Whether any fed record was routed at layer l. */
static bool html_layer_routed(const struct trace_log *log, int l)
{
    for (size_t i = 0; i < log->n; i++)
        if (log->tok[i].fed && trace_layers(log, i)[l].n > 0)
            return true;
    return false;
}

int session_export_html(const struct session *s, FILE *out, int layer, char *err,
                        size_t errlen)
{
    const struct trace_log *log = &s->log;
    const struct session_model *m = &s->model;
    int nl = log->n_layers, ne = log->n_experts;
    char col[48];

    /* The layers that were routed, and the one shown first. */
    int n_moe = 0, *moe = malloc(sizeof(int) * (size_t)(nl > 0 ? nl : 1));
    uint32_t *load = calloc((size_t)(nl > 0 ? nl : 1) * (size_t)(ne > 0 ? ne : 1), 4);
    double *lat = malloc(sizeof(double) * (log->n ? log->n : 1));
    double *ent = malloc(sizeof(double) * (log->n ? log->n : 1));
    if (!moe || !load || !lat || !ent) {
        free(moe), free(load), free(lat), free(ent);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int l = 0; l < nl; l++)
        if (html_layer_routed(log, l))
            moe[n_moe++] = l;
    if (layer < 0 || layer >= nl)
        layer = n_moe ? moe[n_moe / 2] : 0;

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n", out);
    fputs("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n", out);
    fputs("<title>moescope session: ", out);
    html_put_text(out, m->name[0] ? m->name : m->file, strlen(m->name[0] ? m->name : m->file));
    fprintf(out, "</title>\n<style>\n%s", html_style);
    for (int e = 0; e < ne; e++) {
        html_expert_colour(e, col, sizeof col);
        fprintf(out, ".e%d{background:%s}\n", e, col);
    }
    fputs("</style></head><body>\n<h1>moescope session</h1>\n<p class=\"meta\">", out);
    html_put_text(out, m->name[0] ? m->name : m->file, strlen(m->name[0] ? m->name : m->file));
    fputs(" (", out);
    html_put_text(out, m->file, strlen(m->file));
    fputs(", ", out);
    html_put_text(out, m->arch[0] ? m->arch : "?", strlen(m->arch[0] ? m->arch : "?"));
    fprintf(out, ", %d layers, %d experts, k = %d) &middot; %zu messages, %zu tokens "
                 "&middot; created ", nl, ne, m->n_experts_used, s->n_msg, log->n);
    html_put_text(out, s->created, strlen(s->created));
    fputs(", updated ", out);
    html_put_text(out, s->updated, strlen(s->updated));
    fputs("</p>\n", out);

    /* 1. The tokens coloured by top-1 expert. */
    fputs("<h2>Tokens by top-1 expert at layer <select id=\"layer\">", out);
    for (int i = 0; i < n_moe; i++)
        fprintf(out, "<option value=\"%d\"%s>%d</option>", moe[i],
                moe[i] == layer ? " selected" : "", moe[i]);
    if (!n_moe)
        fputs("<option>none</option>", out);
    fputs("</select></h2>\n<div class=\"legend\">", out);
    for (int e = 0; e < ne && e < 256; e++)
        fprintf(out, "<span class=\"e%d\">%d</span>", e, e);
    fputs("</div>\n<p class=\"meta\">Faded: prompt tokens. Uncoloured: not routed at this "
          "layer (dense, or never fed through the model).</p>\n<div class=\"tokens\" "
          "id=\"tokens\">", out);
    for (size_t mi = 0; mi < s->n_msg; mi++) {
        const struct session_message *msg = &s->msg[mi];
        if (msg->trace_end <= msg->trace_begin)
            continue;
        fprintf(out, "<div class=\"turn\">message %zu (%s): records %zu to %zu</div>", mi,
                session_role_names[msg->role], msg->trace_begin, msg->trace_end - 1);
        for (size_t i = msg->trace_begin; i < msg->trace_end && i < log->n; i++) {
            const struct trace_token *t = &log->tok[i];
            const struct trace_layer *L = &trace_layers(log, i)[layer];
            fprintf(out, "<span class=\"t%s%s", t->prompt ? " p" : "", t->thinking ? " k" : "");
            if (nl > 0 && t->fed && L->n > 0)
                fprintf(out, " e%u", (unsigned)L->experts[0]);
            fprintf(out, "\" title=\"#%ld id %ld\">", (long)t->pos, (long)t->token);
            html_put_text(out, trace_piece(log, i), t->piece_len);
            fputs("</span>", out);
        }
    }
    fputs("</div>\n", out);

    /* 2. Load heatmap: rows = layers, columns = experts. */
    size_t n_fed = 0;
    uint32_t maxload = 0;
    for (size_t i = 0; i < log->n; i++) {
        if (!log->tok[i].fed)
            continue;
        n_fed++;
        const struct trace_layer *ly = trace_layers(log, i);
        for (int l = 0; l < nl; l++)
            for (int k = 0; k < ly[l].n && k < TRACE_MAX_K; k++)
                if (ly[l].experts[k] < ne) {
                    uint32_t *c = &load[(size_t)l * (size_t)ne + ly[l].experts[k]];
                    if (++*c > maxload)
                        maxload = *c;
                }
    }
    fprintf(out, "<h2>Expert load: layer &times; expert</h2>\n<p class=\"meta\">Tokens routed "
                 "to each expert over the %zu records that went through the model; the "
                 "darkest cell is %u.</p>\n", n_fed, maxload);
    {
        int cw = ne > 0 ? 720 / ne : 12, chh = nl > 0 ? 420 / nl : 12;
        cw = cw < 4 ? 4 : cw > 22 ? 22 : cw;
        chh = chh < 4 ? 4 : chh > 16 ? 16 : chh;
        int ml = 40, mt = 18, w = ml + cw * ne + 4, h = mt + chh * nl + 4;
        fprintf(out, "<svg id=\"heatmap\" class=\"heatmap\" width=\"%d\" height=\"%d\" "
                     "viewBox=\"0 0 %d %d\" role=\"img\">\n", w, h, w, h);
        int step = ne > 32 ? 8 : ne > 16 ? 4 : 1;
        for (int e = 0; e < ne; e += step)
            fprintf(out, "<text x=\"%d\" y=\"12\" class=\"ax\">%d</text>", ml + e * cw, e);
        int lstep = nl > 24 ? 4 : nl > 12 ? 2 : 1;
        for (int l = 0; l < nl; l++) {
            bool routed = false;
            for (int i = 0; i < n_moe; i++)
                routed |= moe[i] == l;
            if (l % lstep == 0)
                fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">L%d"
                             "</text>", ml - 4, mt + l * chh + chh - 1, l);
            for (int e = 0; e < ne; e++) {
                uint32_t c = load[(size_t)l * (size_t)ne + (size_t)e];
                if (routed)
                    html_heat_colour(maxload ? (double)c / maxload : 0, col, sizeof col);
                else
                    snprintf(col, sizeof col, "#e8e8e8");
                fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
                             "<title>layer %d expert %d: %u</title></rect>\n",
                        ml + e * cw, mt + l * chh, cw, chh, col, l, e, c);
            }
        }
        fputs("</svg>\n", out);
    }

    /* 3. Latency of generated tokens, and the normalised routing entropy of every fed one. */
    size_t n_lat = 0, n_ent = 0;
    double lnE = ne > 1 ? logf((float)ne) : 1; /* ln(n_experts): the entropy maximum */
    for (size_t i = 0; i < log->n; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->fed)
            continue;
        if (!t->prompt)
            lat[n_lat++] = (double)t->ns_total / 1e6;
        double sum = 0;
        int cnt = 0;
        const struct trace_layer *ly = trace_layers(log, i);
        for (int l = 0; l < nl; l++)
            if (ly[l].n > 0 && isfinite(ly[l].entropy)) {
                sum += ly[l].entropy / lnE;
                cnt++;
            }
        if (cnt)
            ent[n_ent++] = sum / cnt;
    }
    fputs("<h2>Latency and routing entropy</h2>\n", out);
    html_plot(out, lat, n_lat, "Forward pass per generated token", "ms", 0);
    html_plot(out, ent, n_ent,
              "Router entropy per token, mean over routed layers, over ln(experts)", "", 1);

    /* 4. The transcript. */
    fputs("<h2>Transcript</h2>\n", out);
    if (s->system_prompt) {
        fputs("<div class=\"msg\"><div class=\"role\">system prompt</div>", out);
        html_put_text(out, s->system_prompt, strlen(s->system_prompt));
        fputs("</div>\n", out);
    }
    for (size_t mi = 0; mi < s->n_msg; mi++) {
        const struct session_message *msg = &s->msg[mi];
        fprintf(out, "<div class=\"msg\"><div class=\"role\">%s</div>",
                session_role_names[msg->role]);
        struct export_thinking th;
        if (export_thinking_of(s, msg, &th)) {
            fprintf(out, "<p class=\"meta\">thinking %zu of %zu tokens, first answer token after "
                    "%.1f ms (TTFT %.1f ms)</p>", th.speed.n_thinking, th.speed.n_gen,
                    th.speed.ttfa_ms, th.speed.ttft_ms);
        }
        if (th.spans.has_thinking) {
            /* the thinking folded, as the app folds it, its markers left out */
            fputs("<details class=\"think\"><summary>thinking</summary>", out);
            html_put_text(out, msg->content + th.spans.think_off, th.spans.think_len);
            fputs("</details>", out);
            if (th.spans.answer_off < msg->content_len)
                html_put_text(out, msg->content + th.spans.answer_off,
                              msg->content_len - th.spans.answer_off);
        } else {
            html_put_text(out, msg->content, msg->content_len);
        }
        fputs("</div>\n", out);
    }

    /* The layer selector: top-1 expert per (record, layer), -1 when not routed. */
    fprintf(out, "<script>\nconst NL=%d,T=new Int16Array([", nl);
    size_t w = 0;
    for (size_t mi = 0; mi < s->n_msg; mi++)
        for (size_t i = s->msg[mi].trace_begin; i < s->msg[mi].trace_end && i < log->n; i++) {
            const struct trace_layer *ly = trace_layers(log, i);
            for (int l = 0; l < nl; l++) {
                int e = log->tok[i].fed && ly[l].n > 0 ? ly[l].experts[0] : -1;
                fprintf(out, w++ ? ",%d" : "%d", e);
            }
        }
    /* page.html#layer=N opens at layer N (and lets tools/check_html.sh test the recolouring);
     * body gets data-js="ok" once the script has run to its end. */
    fputs("]);\n"
          "const sel=document.getElementById('layer');\n"
          "function colour(l){const s=document.querySelectorAll('#tokens .t');\n"
          "  for(let i=0;i<s.length;i++){const e=T[i*NL+l];\n"
          "    s[i].className='t'+(s[i].classList.contains('p')?' p':'')+(e>=0?' e'+e:'');}}\n"
          "sel.addEventListener('change',function(){colour(+this.value);});\n"
          "const m=/layer=(\\d+)/.exec(location.hash);\n"
          "if(m&&+m[1]<NL){sel.value=m[1];colour(+m[1]);}\n"
          "document.body.setAttribute('data-js','ok');\n"
          "</script>\n</body></html>\n", out);
    free(moe), free(load), free(lat), free(ent);
    if (ferror(out)) {
        snprintf(err, errlen, "write: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
