/* run_dump.c - the JSON logits dump, written with stdio (no JSON library:
 * the format is fixed and only numbers go in). */
#include "cli/run_dump.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int slm_dump_open(slm_logits_dump *d, const char *path, int32_t n_vocab) {
    d->path = path;
    d->n_vocab = n_vocab;
    d->rows_in_section = 0;
    d->f = fopen(path, "w");
    if (!d->f) {
        fprintf(stderr, "slm run: --dump-logits: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(d->f, "{\"n_vocab\": %d,\n \"prompt_logits\": [", (int)n_vocab);
    return 0;
}

void slm_dump_row(slm_logits_dump *d, const float *logits) {
    fputs(d->rows_in_section++ ? ",\n  [" : "\n  [", d->f);
    for (int32_t i = 0; i < d->n_vocab; i++) {
        if (i) fputs(", ", d->f);
        /* JSON has no inf or NaN; a model that produces them gets null. */
        if (isfinite(logits[i])) fprintf(d->f, "%.9g", (double)logits[i]);
        else fputs("null", d->f);
    }
    fputc(']', d->f);
}

void slm_dump_begin_generated(slm_logits_dump *d) {
    fputs("],\n \"greedy_logits\": [", d->f);
    d->rows_in_section = 0;
}

static void write_ids(FILE *f, const char *key, const slm_token *ids, size_t n) {
    fprintf(f, " \"%s\": [", key);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? ", %d" : "%d", (int)ids[i]);
    fputc(']', f);
}

int slm_dump_close(slm_logits_dump *d, const slm_token *prompt, size_t n_prompt, const slm_token *generated,
                   size_t n_generated) {
    fputs("],\n", d->f);
    write_ids(d->f, "prompt_ids", prompt, n_prompt);
    fputs(",\n", d->f);
    write_ids(d->f, "greedy_ids", generated, n_generated);
    fputs("}\n", d->f);
    bool failed = ferror(d->f) != 0;
    if (fclose(d->f) != 0) failed = true;
    d->f = NULL;
    if (failed) {
        fprintf(stderr, "slm run: --dump-logits: writing %s failed: %s\n", d->path, strerror(errno));
        return 1;
    }
    return 0;
}
