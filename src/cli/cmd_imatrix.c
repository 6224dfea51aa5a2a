/* cmd_imatrix.c - `slm imatrix -m F16.gguf -f calibration.txt -o imatrix.gguf`:
 * runs a model over a calibration text in chunks of -c tokens (the first
 * token of each replaced by BOS, as `slm perplexity` does) and saves, for
 * every weight matrix, the sums of its inputs' squares per channel: the
 * importance matrix `slm quantize --imatrix` weights rounding errors with. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "model/context.h"
#include "quant/imatrix_collect.h"
#include "runtime/threadpool.h"
#include "slm.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm imatrix -m MODEL.gguf -f CALIBRATION.txt -o IMATRIX.gguf [-c N] [--chunks N] [-t N]\n"
            "                   [--covariance]\n\n"
            "  -m, --model FILE      GGUF model (best full precision: F32, F16 or BF16)\n"
            "  -f, --file TEXT       calibration text\n"
            "  -o, --output FILE     where to write the importance matrix\n"
            "  -c, --ctx-size N      tokens per chunk (default 512)\n"
            "      --chunks N        use at most N chunks (default: all)\n"
            "  -t, --threads N       threads (default: one per core)\n"
            "      --mmap            map the model file instead of copying it into huge pages\n"
            "      --no-mmap         always copy the model file (default: copy when the kernel offers\n"
            "                        huge pages and memory allows, else map)\n"
            "      --covariance      also store each matrix input's full covariance (NAME.in_cov,\n"
            "                        F32 n_in x n_in), which `slm quantize --gptq` needs; inputs wider\n"
            "                        than 4096 channels (64 MiB) keep only the diagonal. Costs n_in^2\n"
            "                        doubles of memory per matrix while collecting; llama.cpp ignores\n"
            "                        the extra tensors\n");
}

typedef struct options {
    const char *model, *text, *out;
    long n_ctx, max_chunks, n_threads;
    bool covariance;
    slm_load_mode load_mode;
} options;

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.n_ctx = 512, .max_chunks = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = 0;
        if (slm_arg_is(a, "-h|--help")) return usage(stdout), 2;
        if (slm_arg_is(a, "--covariance")) o->covariance = true;
        else if (slm_arg_load_mode(a, &o->load_mode)) continue;
        else if ((r = slm_arg_value("imatrix", argc, argv, &i, "-m|--model", &v)) != 0) o->model = v;
        else if ((r = slm_arg_value("imatrix", argc, argv, &i, "-f|--file", &v)) != 0) o->text = v;
        else if ((r = slm_arg_value("imatrix", argc, argv, &i, "-o|--output", &v)) != 0) o->out = v;
        else if ((r = slm_arg_value("imatrix", argc, argv, &i, "-c|--ctx-size", &v)) != 0) {
            if (r > 0 && !slm_arg_long("imatrix", "--ctx-size", v, 8, 1 << 20, &o->n_ctx)) return 1;
        } else if ((r = slm_arg_value("imatrix", argc, argv, &i, "--chunks", &v)) != 0) {
            if (r > 0 && !slm_arg_long("imatrix", "--chunks", v, 1, 1L << 30, &o->max_chunks)) return 1;
        } else if ((r = slm_arg_value("imatrix", argc, argv, &i, "-t|--threads", &v)) != 0) {
            if (r > 0 && !slm_arg_long("imatrix", "--threads", v, 0, 1024, &o->n_threads)) return 1;
        } else {
            fprintf(stderr, "slm imatrix: unknown option or argument %s\n", a);
            return 1;
        }
        if (r < 0) return 1;
    }
    const char *problem = !o->model ? "missing -m FILE" : !o->text ? "missing -f TEXT" : !o->out ? "missing -o FILE" : NULL;
    if (!problem) return 0;
    fprintf(stderr, "slm imatrix: %s\n\n", problem);
    usage(stderr);
    return 1;
}

/* Runs one chunk with logits for every token, so that the output matrix
 * sees every position as the others do. */
static bool eval_chunk(slm_context *c, const slm_model *m, const slm_token *tokens, int n_ctx, bool *all) {
    slm_token *tok = malloc((size_t)n_ctx * sizeof *tok);
    if (!tok) return false;
    memcpy(tok, tokens, (size_t)n_ctx * sizeof *tok);
    slm_token bos = slm_vocab_bos(slm_model_vocab(m));
    if (bos >= 0) tok[0] = bos;
    slm_batch b = {.n_tokens = n_ctx, .tokens = tok, .logits = all};
    slm_error err;
    slm_kv_truncate(c, 0, 0);
    bool ok = slm_decode(c, &b, &err) == SLM_OK;
    if (!ok) fprintf(stderr, "slm imatrix: %s\n", err.message);
    free(tok);
    return ok;
}

static int collect(const options *o, const slm_model *m, slm_imatrix_collector *col) {
    size_t n_tok = 0;
    slm_token *tokens = slm_tokenize_file("imatrix", slm_model_vocab(m), o->text, &n_tok);
    if (!tokens) return 1;
    int n_ctx = (int)o->n_ctx;
    long n_chunk = (long)(n_tok / (size_t)n_ctx);
    if (o->max_chunks > 0 && n_chunk > o->max_chunks) n_chunk = o->max_chunks;
    if (n_chunk < 1) {
        fprintf(stderr, "slm imatrix: %zu tokens, fewer than one chunk of %d (use a longer text or a smaller -c)\n",
                n_tok, n_ctx);
        free(tokens);
        return 1;
    }
    slm_context_params cp = slm_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_threads = (uint32_t)o->n_threads;
    slm_context_options co = {.observe = slm_imatrix_observe, .observe_user = col};
    slm_context *c = NULL;
    slm_error err;
    bool *all = malloc((size_t)n_ctx);
    int rc = all && slm_context_new_ex(m, &cp, &co, &c, &err) == SLM_OK ? 0 : 1;
    if (rc) fprintf(stderr, "slm imatrix: %s\n", all ? err.message : "out of memory");
    if (all) memset(all, 1, (size_t)n_ctx);
    fprintf(stderr, "slm imatrix: %ld chunks of %d tokens (%zu tokens in %s)\n", n_chunk, n_ctx, n_tok, o->text);
    bool tty = isatty(fileno(stderr));
    struct timespec t0;
    timespec_get(&t0, TIME_UTC);
    for (long k = 0; rc == 0 && k < n_chunk; k++) {
        if (!eval_chunk(c, m, tokens + k * n_ctx, n_ctx, all)) rc = 1;
        struct timespec t1;
        timespec_get(&t1, TIME_UTC);
        double el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        /* a line that updates itself on a terminal, every tenth chunk in a log */
        if (!tty && (k + 1) % 10 != 0 && k + 1 != n_chunk) continue;
        fprintf(stderr, "%sslm imatrix: chunk %ld/%ld, %.1f s, ETA %.1f s%s", tty ? "\r" : "", k + 1, n_chunk, el,
                el / (double)(k + 1) * (double)(n_chunk - k - 1), tty ? "  " : "\n");
    }
    if (tty) fprintf(stderr, "\n");
    slm_imatrix_info info = {.dataset = o->text, .chunk_count = (uint32_t)n_chunk, .chunk_size = (uint32_t)n_ctx};
    if (rc == 0 && slm_imatrix_collector_write(col, o->out, &info, &err) != SLM_OK) {
        fprintf(stderr, "slm imatrix: %s: %s\n", o->out, err.message);
        rc = 1;
    }
    if (rc == 0)
        fprintf(stderr, "slm imatrix: wrote %llu matrices to %s\n",
                (unsigned long long)slm_imatrix_collector_n_entries(col), o->out);
    if (rc == 0 && slm_imatrix_collector_n_skipped_cov(col))
        fprintf(stderr, "slm imatrix: %llu matrices have inputs wider than %d channels: no covariance for them\n",
                (unsigned long long)slm_imatrix_collector_n_skipped_cov(col), SLM_IMATRIX_COV_MAX_N_IN);
    slm_context_free(c);
    free(all);
    free(tokens);
    return rc;
}

int slm_cmd_imatrix(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 2 ? 0 : rc;
    slm_model *m = NULL;
    slm_imatrix_collector *col = NULL;
    slm_error err;
    if (slm_model_load_with(o.model, o.load_mode, &m, &err) != SLM_OK || slm_imatrix_collector_new(&col, &err) != SLM_OK) {
        fprintf(stderr, "slm imatrix: %s\n", err.message);
        slm_model_free(m);
        return 1;
    }
    int n_threads = o.n_threads > 0 ? (int)o.n_threads : slm_cpu_count();
    if (o.covariance && slm_imatrix_collector_set_covariance(col, SLM_IMATRIX_COV_MAX_N_IN, n_threads, &err) != SLM_OK) {
        fprintf(stderr, "slm imatrix: %s\n", err.message);
        rc = 1;
    } else {
        rc = collect(&o, m, col);
    }
    slm_imatrix_collector_free(col);
    slm_model_free(m);
    return rc;
}
