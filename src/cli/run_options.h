/* run_options.h - the options of `slm run` and their parser. */
#ifndef SLM_CLI_RUN_OPTIONS_H
#define SLM_CLI_RUN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "slm.h"

typedef struct slm_run_options {
    const char *model;       /* -m; NULL: $SLM_MODEL or the default model */
    const char *prompt;      /* -p */
    const char *prompt_file; /* -f */
    const char *prompt_ids;  /* --prompt-ids "1,2,3" */
    const char *dump_logits; /* --dump-logits FILE */
    long n_predict;          /* -1: until end of generation or a full context */
    long n_ctx;              /* 0: the model's training context, at most 4096 */
    long n_threads;          /* 0: one per core */
    slm_cache_type cache_k, cache_v;
    slm_load_mode load_mode; /* --mmap / --no-mmap; default SLM_LOAD_AUTO */
    slm_sampler_params sampling;
    bool seed_given;
    bool display_prompt;
    bool verbose;
    bool output_ids;
    bool ignore_eos;
} slm_run_options;

typedef enum slm_run_parse { SLM_RUN_PARSE_OK, SLM_RUN_PARSE_ERROR, SLM_RUN_PARSE_HELP } slm_run_parse;

/* Fills o from argv (argv[0] is "run"); errors are printed. seed_given
 * tells whether the caller must pick a random seed. */
slm_run_parse slm_run_parse_options(int argc, char **argv, slm_run_options *o);
void slm_run_usage(FILE *out);
/* Loads the model at path (--mmap/--no-mmap) and creates a context with the
 * options' size, threads and cache types; 1 after printing "slm CMD: ..."
 * on error (what was made is left in *model / *ctx for the caller to free). */
int slm_run_open_model(const char *cmd, const slm_run_options *o, const char *path, slm_model **model,
                       slm_context **ctx);
/* A seed for runs without -s. */
uint64_t slm_run_random_seed(void);

#endif
