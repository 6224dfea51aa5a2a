/* run_dump.h - `slm run --dump-logits FILE`: the logits after every prompt
 * position and the logits that chose every generated token, as JSON in the
 * layout of the reference files (../shared/reference/synthetic/NAME.p20.json):
 *   {"n_vocab": V, "prompt_logits": [[V floats], ...],
 *    "greedy_logits": [[V floats], ...], "prompt_ids": [...], "greedy_ids": [...]}
 * Rows are streamed to the file as they are produced. */
#ifndef SLM_CLI_RUN_DUMP_H
#define SLM_CLI_RUN_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "slm.h"

typedef struct slm_logits_dump {
    FILE *f;
    const char *path;
    int32_t n_vocab;
    size_t rows_in_section; /* rows written in the current array */
} slm_logits_dump;

/* Returns 0, or 1 after printing an error. */
int slm_dump_open(slm_logits_dump *d, const char *path, int32_t n_vocab);
/* One row of n_vocab logits in the current section (prompt, then greedy). */
void slm_dump_row(slm_logits_dump *d, const float *logits);
/* Ends the prompt rows; the following rows are the greedy ones. */
void slm_dump_begin_generated(slm_logits_dump *d);
/* Writes the ids and closes the file.  Returns 0, or 1 after printing an
 * error (a write failed, e.g. a full disk). */
int slm_dump_close(slm_logits_dump *d, const slm_token *prompt, size_t n_prompt, const slm_token *generated,
                   size_t n_generated);

#endif
