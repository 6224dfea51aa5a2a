/* cmd_perplexity.c - `slm perplexity -m FILE -f TEXT [-c 512] [--chunks N]`:
 * a model's perplexity on a text, chunk by chunk, computed as llama.cpp's
 * llama-perplexity does (chunks of n_ctx tokens, the first token of each
 * replaced by BOS, only the second half of each chunk scored), and the
 * KL divergence of a quantized model's next-token distributions from a
 * full-precision one's:
 *   --kl-divergence-base FILE  save the (full-precision) model's log-probs
 *   --kl-divergence            compare this model with a saved FILE: mean KLD
 *                              and its 99th percentile, top-1 agreement, RMS
 *                              of the change in the next token's probability.
 * The base file holds the token ids, so the comparison needs no -f. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "slm.h"

static const char KLD_MAGIC[8] = {'S', 'L', 'M', 'K', 'L', 'D', 0, 1};

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm perplexity -m FILE -f TEXT [-c N] [--chunks N] [-t N]\n"
            "       slm perplexity -m F16.gguf -f TEXT --kl-divergence-base BASE.bin\n"
            "       slm perplexity -m QUANT.gguf --kl-divergence-base BASE.bin --kl-divergence\n\n"
            "  -m, --model FILE            GGUF model\n"
            "  -f, --file TEXT             text to evaluate\n"
            "  -c, --ctx-size N            tokens per chunk (default 512)\n"
            "      --chunks N              evaluate at most N chunks (default: all)\n"
            "  -t, --threads N             threads (default: one per core)\n"
            "      --mmap                  map the model file instead of copying it into huge pages\n"
            "      --no-mmap               always copy the model file (default: copy when the kernel\n"
            "                              offers huge pages and memory allows, else map)\n"
            "      --kl-divergence-base F  without --kl-divergence: save this model's log-probs to F;\n"
            "                              with it: the saved log-probs to compare against\n"
            "      --kl-divergence         compare with the base file (needs no -f)\n");
}

typedef struct options {
    const char *model, *text, *kld_base;
    long n_ctx, max_chunks, n_threads;
    bool kld;
    slm_load_mode load_mode;
} options;

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.n_ctx = 512, .max_chunks = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = 0;
        if (slm_arg_is(a, "-h|--help")) return usage(stdout), 2;
        if (slm_arg_is(a, "--kl-divergence")) o->kld = true;
        else if (slm_arg_load_mode(a, &o->load_mode)) continue;
        else if ((r = slm_arg_value("perplexity", argc, argv, &i, "-m|--model", &v)) != 0) o->model = v;
        else if ((r = slm_arg_value("perplexity", argc, argv, &i, "-f|--file", &v)) != 0) o->text = v;
        else if ((r = slm_arg_value("perplexity", argc, argv, &i, "--kl-divergence-base", &v)) != 0) o->kld_base = v;
        else if ((r = slm_arg_value("perplexity", argc, argv, &i, "-c|--ctx-size", &v)) != 0) {
            if (r > 0 && !slm_arg_long("perplexity", "--ctx-size", v, 8, 1 << 20, &o->n_ctx)) return 1;
        } else if ((r = slm_arg_value("perplexity", argc, argv, &i, "--chunks", &v)) != 0) {
            if (r > 0 && !slm_arg_long("perplexity", "--chunks", v, 1, 1L << 30, &o->max_chunks)) return 1;
        } else if ((r = slm_arg_value("perplexity", argc, argv, &i, "-t|--threads", &v)) != 0) {
            if (r > 0 && !slm_arg_long("perplexity", "--threads", v, 0, 1024, &o->n_threads)) return 1;
        } else {
            fprintf(stderr, "slm perplexity: unknown option or argument %s\n", a);
            return 1;
        }
        if (r < 0) return 1;
    }
    const char *problem = !o->model                   ? "missing -m FILE"
                          : o->kld && !o->kld_base    ? "--kl-divergence needs --kl-divergence-base FILE"
                          : !o->kld && !o->text       ? "missing -f TEXT"
                                                      : NULL;
    if (!problem) return 0;
    fprintf(stderr, "slm perplexity: %s\n\n", problem);
    usage(stderr);
    return 1;
}

/* log-softmax of n logits into out. */
static void log_softmax(const float *x, int n, float *out) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    float lse = mx + (float)log(sum);
    for (int i = 0; i < n; i++) out[i] = x[i] - lse;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

typedef struct stats {
    double nll, nll2;         /* sums over scored tokens */
    long n;
    double *kld;              /* per scored token (KLD mode) */
    double kld_sum, dp2;
    long top1;
} stats;

typedef struct run {
    slm_model *m;
    slm_context *c;
    int n_vocab, n_ctx, first; /* scored positions: first .. n_ctx-2 */
    float *lp, *base_lp;
    FILE *base_out, *base_in;
} run;

/* Scores one chunk; returns false on a decode or file error. */
static bool eval_chunk(run *r, const slm_token *tokens, stats *s) {
    slm_token *tok = malloc((size_t)r->n_ctx * sizeof *tok);
    bool *want = malloc((size_t)r->n_ctx);
    memcpy(tok, tokens, (size_t)r->n_ctx * sizeof *tok);
    slm_token bos = slm_vocab_bos(slm_model_vocab(r->m));
    if (bos >= 0) tok[0] = bos;
    for (int i = 0; i < r->n_ctx; i++) want[i] = i >= r->first && i < r->n_ctx - 1;
    slm_batch b = {.n_tokens = r->n_ctx, .tokens = tok, .logits = want};
    slm_error err;
    slm_kv_truncate(r->c, 0, 0);
    bool ok = slm_decode(r->c, &b, &err) == SLM_OK;
    if (!ok) fprintf(stderr, "slm perplexity: %s\n", err.message);
    for (int i = r->first; ok && i < r->n_ctx - 1; i++) {
        log_softmax(slm_get_logits(r->c, i), r->n_vocab, r->lp);
        slm_token next = tokens[i + 1];
        double nll = -r->lp[next];
        s->nll += nll, s->nll2 += nll * nll;
        if (r->base_out) ok = fwrite(r->lp, sizeof(float), (size_t)r->n_vocab, r->base_out) == (size_t)r->n_vocab;
        if (r->base_in) {
            ok = fread(r->base_lp, sizeof(float), (size_t)r->n_vocab, r->base_in) == (size_t)r->n_vocab;
            if (!ok) fprintf(stderr, "slm perplexity: the base file ends early\n");
            double kld = 0;
            for (int v = 0; ok && v < r->n_vocab; v++)
                kld += exp((double)r->base_lp[v]) * ((double)r->base_lp[v] - r->lp[v]);
            s->kld[s->n] = kld;
            s->kld_sum += kld;
            s->top1 += argmax(r->base_lp, r->n_vocab) == argmax(r->lp, r->n_vocab);
            double dp = exp((double)r->lp[next]) - exp((double)r->base_lp[next]);
            s->dp2 += dp * dp;
        }
        s->n++;
    }
    free(tok);
    free(want);
    return ok;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_kld(stats *s) {
    qsort(s->kld, (size_t)s->n, sizeof *s->kld, cmp_double);
    double mean = s->kld_sum / (double)s->n, var = 0;
    for (long i = 0; i < s->n; i++) var += (s->kld[i] - mean) * (s->kld[i] - mean);
    long p99 = (long)ceil(0.99 * (double)s->n) - 1;
    printf("KL divergence: mean %.6f ± %.6f, median %.6f, 99th percentile %.6f, max %.6f\n", mean,
           s->n > 1 ? sqrt(var / (double)(s->n - 1) / (double)s->n) : 0.0, s->kld[s->n / 2], s->kld[p99 < 0 ? 0 : p99],
           s->kld[s->n - 1]);
    printf("top-1 agreement: %.3f%% (%ld / %ld)\n", 100.0 * (double)s->top1 / (double)s->n, s->top1, s->n);
    printf("RMS Δp of the next token: %.4f%%\n", 100.0 * sqrt(s->dp2 / (double)s->n));
}

/* Tokens from the text, or from the base file in KLD mode. */
static slm_token *load_tokens(const options *o, run *r, size_t *n) {
    if (o->kld) {
        char magic[8];
        uint32_t hdr[4];
        if (fread(magic, 1, 8, r->base_in) != 8 || memcmp(magic, KLD_MAGIC, 8) != 0 ||
            fread(hdr, sizeof hdr[0], 4, r->base_in) != 4) {
            fprintf(stderr, "slm perplexity: %s is not a file made by --kl-divergence-base\n", o->kld_base);
            return NULL;
        }
        if ((int)hdr[1] != r->n_vocab) {
            fprintf(stderr, "slm perplexity: %s has %u vocabulary entries, the model %d\n", o->kld_base, hdr[1], r->n_vocab);
            return NULL;
        }
        r->n_ctx = (int)hdr[0];
        *n = hdr[3];
        slm_token *t = malloc(*n * sizeof *t);
        if (!t || fread(t, sizeof *t, *n, r->base_in) != *n) {
            fprintf(stderr, "slm perplexity: %s is truncated\n", o->kld_base);
            free(t);
            return NULL;
        }
        return t;
    }
    return slm_tokenize_file("perplexity", slm_model_vocab(r->m), o->text, n);
}

static int evaluate(const options *o, run *r) {
    size_t n_tok = 0;
    slm_token *tokens = load_tokens(o, r, &n_tok);
    if (!tokens) return 1;
    long n_chunk = (long)(n_tok / (size_t)r->n_ctx);
    if (o->max_chunks > 0 && n_chunk > o->max_chunks) n_chunk = o->max_chunks;
    if (n_chunk < 1) {
        fprintf(stderr, "slm perplexity: %zu tokens, fewer than one chunk of %d (use a longer text or a smaller -c)\n",
                n_tok, r->n_ctx);
        free(tokens);
        return 1;
    }
    r->first = r->n_ctx / 2;
    if (r->base_out) {
        uint32_t hdr[4] = {(uint32_t)r->n_ctx, (uint32_t)r->n_vocab, (uint32_t)n_chunk,
                           (uint32_t)(n_chunk * r->n_ctx)};
        fwrite(KLD_MAGIC, 1, 8, r->base_out);
        fwrite(hdr, sizeof hdr[0], 4, r->base_out);
        fwrite(tokens, sizeof *tokens, (size_t)(n_chunk * r->n_ctx), r->base_out);
    }
    slm_context_params cp = slm_context_default_params();
    cp.n_ctx = (uint32_t)r->n_ctx;
    cp.n_threads = (uint32_t)o->n_threads;
    slm_error err;
    stats s = {0};
    s.kld = o->kld ? malloc((size_t)(n_chunk * r->n_ctx) * sizeof *s.kld) : NULL;
    int rc = slm_context_new(r->m, &cp, &r->c, &err) == SLM_OK ? 0 : 1;
    if (rc) fprintf(stderr, "slm perplexity: %s\n", err.message);
    printf("%ld chunks of %d tokens (%zu tokens in the text), scoring the second half of each\n", n_chunk, r->n_ctx,
           n_tok);
    for (long k = 0; rc == 0 && k < n_chunk; k++) {
        if (!eval_chunk(r, tokens + k * r->n_ctx, &s)) rc = 1;
        double mean = s.nll / (double)s.n, var = s.nll2 / (double)s.n - mean * mean;
        double err_ppl = exp(mean) * sqrt((var > 0 ? var : 0) / (double)(s.n > 1 ? s.n - 1 : 1));
        printf("[%ld/%ld] ppl %.4f ± %.4f", k + 1, n_chunk, exp(mean), err_ppl);
        if (o->kld) printf("  mean KLD %.6f", s.kld_sum / (double)s.n);
        printf("\n");
        fflush(stdout);
        if (rc == 0 && k == n_chunk - 1) printf("Final estimate: PPL = %.4f +/- %.4f\n", exp(mean), err_ppl);
    }
    if (rc == 0 && o->kld) print_kld(&s);
    if (rc == 0 && r->base_out && fflush(r->base_out) != 0) {
        fprintf(stderr, "slm perplexity: cannot write %s: %s\n", o->kld_base, strerror(errno));
        rc = 1;
    }
    slm_context_free(r->c);
    free(s.kld);
    free(tokens);
    return rc;
}

int slm_cmd_perplexity(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 2 ? 0 : rc;
    run r = {.n_ctx = (int)o.n_ctx};
    slm_error err;
    if (slm_model_load_with(o.model, o.load_mode, &r.m, &err) != SLM_OK) {
        fprintf(stderr, "slm perplexity: %s\n", err.message);
        return 1;
    }
    r.n_vocab = slm_model_n_vocab(r.m);
    if (o.kld_base) {
        r.base_in = o.kld ? fopen(o.kld_base, "rb") : NULL;
        r.base_out = o.kld ? NULL : fopen(o.kld_base, "wb");
        if (!r.base_in && !r.base_out) {
            fprintf(stderr, "slm perplexity: cannot open %s: %s\n", o.kld_base, strerror(errno));
            slm_model_free(r.m);
            return 1;
        }
    }
    r.lp = malloc((size_t)r.n_vocab * sizeof(float));
    r.base_lp = malloc((size_t)r.n_vocab * sizeof(float));
    rc = r.lp && r.base_lp ? evaluate(&o, &r) : 1;
    if (r.base_out && fclose(r.base_out) != 0 && rc == 0) {
        fprintf(stderr, "slm perplexity: cannot write %s: %s\n", o.kld_base, strerror(errno));
        rc = 1;
    }
    if (r.base_in) fclose(r.base_in);
    free(r.lp);
    free(r.base_lp);
    slm_model_free(r.m);
    return rc;
}
