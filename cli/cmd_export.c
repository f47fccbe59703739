/* cli/cmd_export.c: `moescope export FORMAT SESSION OUT [--layer N]`: a saved session as
 * Markdown, CSV, NDJSON (the run --trace records) or one self-contained HTML page. OUT is
 * written atomically; "-" writes to standard output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_write.h"
#include "commands.h"
#include "session.h"

static void export_usage(FILE *out)
{
    fprintf(out, "usage: moescope export FORMAT SESSION OUT [--layer N]\n"
                 "Writes a saved session as FORMAT: md (the transcript), csv (one row per\n"
                 "position, token, layer, rank, expert, weight, thinking), ndjson (the run --trace\n"
                 "records) or html (one self-contained page; --layer picks the layer its\n"
                 "text is first coloured by). OUT may be - for standard output.\n");
}

int cmd_export(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0, layer = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            export_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--layer")) {
            char *end;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
            if (i + 1 >= argc || *end || v < 0 || v > 4096) {
                fprintf(stderr, "moescope export: --layer wants a layer number\n");
                return 2;
            }
            layer = (int)v;
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "moescope export: unknown option '%s'\n", argv[i]);
            export_usage(stderr);
            return 2;
        }
        if (n_pos == 3) {
            export_usage(stderr);
            return 2;
        }
        pos[n_pos++] = argv[i];
    }
    if (n_pos != 3) {
        export_usage(stderr);
        return 2;
    }
    const char *format = pos[0], *in = pos[1], *out = pos[2];
    int f = 0;
    while (f < EXPORT_COUNT && strcmp(format, session_export_names[f]) != 0)
        f++;
    if (f == EXPORT_COUNT) {
        fprintf(stderr, "moescope export: unknown format '%s' (md, csv, ndjson or html)\n",
                format);
        return 2;
    }
    if (layer >= 0 && f != EXPORT_HTML) {
        fprintf(stderr, "moescope export: --layer is for html\n");
        return 2;
    }

    struct session s;
    char err[1024];
    if (session_load(&s, in, err, sizeof err) != 0) {
        fprintf(stderr, "moescope export: %s\n", err);
        return 1;
    }
    if (layer >= s.model.n_layers && s.model.n_layers > 0) {
        fprintf(stderr, "moescope export: --layer %d, but the model has %d layers\n", layer,
                s.model.n_layers);
        session_free(&s);
        return 2;
    }
    int rc;
    if (!strcmp(out, "-")) {
        switch (f) {
        case EXPORT_MD: rc = session_export_md(&s, stdout, err, sizeof err); break;
        case EXPORT_CSV: rc = session_export_csv(&s, stdout, err, sizeof err); break;
        case EXPORT_NDJSON: rc = session_export_ndjson(&s, stdout, err, sizeof err); break;
        default: rc = session_export_html(&s, stdout, layer, err, sizeof err); break;
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cli_stdout_failed();
            session_free(&s);
            return 1;   /* main() reports the failed output, once */
        }
    } else if (f == EXPORT_HTML && layer >= 0) {
        /* session_export_file picks the default layer: write the chosen one here. */
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        rc = mem ? session_export_html(&s, mem, layer, err, sizeof err) : -1;
        if (mem)
            fclose(mem);
        if (rc == 0)
            rc = atomic_write_file(out, buf, len, NULL, NULL, err, sizeof err);
        free(buf);
    } else {
        rc = session_export_file(&s, format, out, err, sizeof err);
    }
    session_free(&s);
    if (rc != 0) {
        fprintf(stderr, "moescope export: %s\n", err);
        return 1;
    }
    return 0;
}
