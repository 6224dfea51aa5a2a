/* cmd_run.c - `slm run`: load a model, evaluate a prompt in one batch, then
 * sample, print and feed back one token at a time.  Options follow the
 * llama.cpp spellings people already type. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_path.h"
#include "cli/run_dump.h"
#include "cli/run_options.h"
#include "slm.h"

/* Set by SIGINT, checked once per token. */
static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}


/* Reads a prompt file whole; drops one trailing newline (editors add it). */
static char *read_prompt_file(const char *path) {
    size_t len;
    char *buf = slm_read_file("run", path, &len);
    if (buf && len > 0 && buf[len - 1] == '\n') buf[len - 1] = '\0';
    return buf;
}

/* "1,403,407" -> ids, each checked against the vocabulary size. */
static int parse_prompt_ids(const char *s, int32_t n_vocab, slm_token **out, size_t *n_out) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    slm_token *ids = malloc(cap * sizeof *ids);
    if (!ids) return 1;
    size_t n = 0;
    const char *p = s;
    for (;;) {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ',') || v < 0 || v >= n_vocab) {
            fprintf(stderr, "slm run: --prompt-ids: '%s' is not a list of token ids in [0, %d)\n", s, (int)n_vocab);
            free(ids);
            return 1;
        }
        ids[n++] = (slm_token)v;
        if (!*end) break;
        p = end + 1;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

static int build_prompt(const slm_run_options *o, const slm_model *m, slm_token **ids, size_t *n_ids) {
    if (o->prompt_ids) return parse_prompt_ids(o->prompt_ids, slm_model_n_vocab(m), ids, n_ids);
    char *owned = NULL;
    const char *text = o->prompt ? o->prompt : "";
    if (o->prompt_file) {
        owned = read_prompt_file(o->prompt_file);
        if (!owned) return 1;
        text = owned;
    }
    slm_error err;
    slm_status st = slm_tokenize(slm_model_vocab(m), text, strlen(text), true, false, ids, n_ids, &err);
    free(owned);
    if (st) {
        fprintf(stderr, "slm run: cannot tokenize the prompt: %s\n", err.message);
        return 1;
    }
    return 0;
}

/* No silent truncation: the prompt and the requested tokens must fit. */
static int check_fits(const slm_run_options *o, size_t n_prompt, uint32_t n_ctx) {
    if (n_prompt == 0) {
        fprintf(stderr, "slm run: the prompt is empty (and the vocabulary adds no BOS); give one with -p\n");
        return 1;
    }
    if (n_prompt > n_ctx) {
        fprintf(stderr, "slm run: the prompt is %zu tokens but the context holds %u (-c %u); shorten the prompt or "
                        "raise -c\n", n_prompt, n_ctx, n_ctx);
        return 1;
    }
    if (o->n_predict >= 0 && n_prompt + (size_t)o->n_predict > n_ctx) {
        fprintf(stderr, "slm run: the prompt (%zu tokens) + -n %ld = %zu tokens do not fit the context of %u "
                        "(-c); lower -n, raise -c, or use -n -1 to stop when the context is full\n",
                n_prompt, o->n_predict, n_prompt + (size_t)o->n_predict, n_ctx);
        return 1;
    }
    return 0;
}

typedef struct run_stats {
    double load_ms, prompt_ms, gen_ms, first_token_ms;
    size_t n_prompt, n_gen;
} run_stats;

static void print_summary(const run_stats *s) {
    double prompt_tps = s->prompt_ms > 0 ? (double)s->n_prompt * 1e3 / s->prompt_ms : 0.0;
    double gen_tps = s->gen_ms > 0 ? (double)s->n_gen * 1e3 / s->gen_ms : 0.0;
    fprintf(stderr, "\n");
    fprintf(stderr, "slm run: load time        %10.2f ms\n", s->load_ms);
    fprintf(stderr, "slm run: prompt           %10.2f ms / %6zu tokens (%8.2f tokens/s)\n", s->prompt_ms,
            s->n_prompt, prompt_tps);
    fprintf(stderr, "slm run: generation       %10.2f ms / %6zu tokens (%8.2f tokens/s)\n", s->gen_ms, s->n_gen,
            gen_tps);
    if (s->first_token_ms >= 0) fprintf(stderr, "slm run: time to first token %7.2f ms\n", s->first_token_ms);
    else fprintf(stderr, "slm run: time to first token       n/a (no token generated)\n");
}

/* Everything one generation needs, so the steps below stay short. */
typedef struct run_state {
    const slm_run_options *opt;
    slm_model *model;
    const slm_vocab *vocab;
    slm_context *ctx;
    slm_sampler *sampler;
    slm_detok detok;
    slm_logits_dump dump;
    bool dumping;
    slm_token *prompt, *gen;
    size_t n_prompt, n_gen;
    bool at_line_start; /* the last byte printed on stdout was '\n' (or nothing) */
    run_stats stats;
} run_state;

static void print_text(run_state *r, const char *text, size_t n) {
    if (n == 0) return;
    fwrite(text, 1, n, stdout);
    r->at_line_start = text[n - 1] == '\n';
}

/* Prints the text token t completes; a piece too long for the stack buffer
 * (a long user-defined token) gets a heap one rather than being cut. */
static void print_token(run_state *r, slm_token t) {
    char buf[4096];
    size_t n = slm_detok_push(&r->detok, r->vocab, t, buf, sizeof buf);
    if (n <= sizeof buf) {
        print_text(r, buf, n);
        return;
    }
    char *big = malloc(n);
    if (!big) {
        fprintf(stderr, "\nslm run: out of memory printing token %d (%zu bytes)\n", (int)t, n);
        return;
    }
    print_text(r, big, slm_detok_push(&r->detok, r->vocab, t, big, n));
    free(big);
}

static void display_prompt(run_state *r) {
    for (size_t i = 0; i < r->n_prompt; i++) print_token(r, r->prompt[i]);
    fflush(stdout);
}

static void emit_token(run_state *r, slm_token t) {
    if (r->opt->output_ids) {
        printf(r->n_gen > 1 ? " %d" : "%d", (int)t);
        r->at_line_start = false;
    } else {
        print_token(r, t);
    }
    fflush(stdout);
}

static int eval_prompt(run_state *r) {
    bool *want = NULL;
    if (r->dumping) {
        want = malloc(r->n_prompt * sizeof *want);
        if (!want) {
            fprintf(stderr, "slm run: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < r->n_prompt; i++) want[i] = true;
    }
    slm_batch batch = {(int32_t)r->n_prompt, r->prompt, NULL, NULL, want};
    slm_error err;
    double t0 = now_ms();
    slm_status st = slm_decode(r->ctx, &batch, &err);
    r->stats.prompt_ms = now_ms() - t0;
    free(want);
    if (st) {
        fprintf(stderr, "slm run: evaluating the prompt failed: %s\n", err.message);
        return 1;
    }
    if (r->dumping) {
        for (size_t i = 0; i < r->n_prompt; i++) slm_dump_row(&r->dump, slm_get_logits(r->ctx, (int32_t)i));
        slm_dump_begin_generated(&r->dump);
    }
    return 0;
}

/* The sample -> print -> decode loop.  Stops at an end-of-generation token,
 * after -n tokens, when the context is full, or on Ctrl-C. */
static int generate(run_state *r, double t_start) {
    const slm_run_options *o = r->opt;
    uint32_t n_ctx = slm_context_n_ctx(r->ctx);
    int32_t last = (int32_t)r->n_prompt - 1; /* logits row of the last token fed */
    double t_gen = now_ms();
    slm_error err;
    int rc = 0;
    while ((o->n_predict < 0 || r->n_gen < (size_t)o->n_predict) && !interrupted) {
        const float *logits = slm_get_logits(r->ctx, last);
        slm_token t = logits ? slm_sampler_sample(r->sampler, logits) : -1;
        if (t < 0) {
            fprintf(stderr, "slm run: no token to sample (%s)\n", logits ? "every token is banned" : "no logits");
            rc = 1;
            break;
        }
        if (r->n_gen == 0) r->stats.first_token_ms = now_ms() - t_start;
        if (slm_vocab_is_eog(r->vocab, t)) break;
        slm_sampler_accept(r->sampler, t);
        if (r->dumping) slm_dump_row(&r->dump, logits);
        r->gen[r->n_gen++] = t;
        emit_token(r, t);
        if (o->n_predict >= 0 && r->n_gen == (size_t)o->n_predict) break; /* the last token is never fed back */
        if ((uint32_t)slm_kv_seq_len(r->ctx, 0) >= n_ctx) {
            if (o->verbose) fprintf(stderr, "\nslm run: the context is full (%u tokens)\n", n_ctx);
            break;
        }
        slm_batch one = {1, &t, NULL, NULL, NULL};
        if (slm_decode(r->ctx, &one, &err)) {
            fprintf(stderr, "\nslm run: decoding token %zu failed: %s\n", r->n_gen, err.message);
            rc = 1;
            break;
        }
        last = 0;
    }
    r->stats.gen_ms = now_ms() - t_gen;
    r->stats.n_gen = r->n_gen;
    char tail[16]; /* more than the at most 3 bytes a detokenizer holds back */
    if (!o->output_ids) print_text(r, tail, slm_detok_flush(&r->detok, tail, sizeof tail));
    if (!r->at_line_start) putchar('\n');
    fflush(stdout);
    return rc;
}

static void print_settings(const run_state *r, const char *path) {
    const slm_sampler_params *p = &r->opt->sampling;
    fprintf(stderr, "slm run: model %s (%s, %llu params, %d layers, vocab %d, trained context %d)\n", path,
            slm_model_arch(r->model), (unsigned long long)slm_model_n_params(r->model), slm_model_n_layer(r->model),
            slm_model_n_vocab(r->model), slm_model_n_ctx_train(r->model));
    fprintf(stderr, "slm run: context %u, prompt %zu tokens, -n %ld\n", slm_context_n_ctx(r->ctx), r->n_prompt,
            r->opt->n_predict);
    fprintf(stderr,
            "slm run: seed %llu, temp %g, top-k %d, top-p %g, min-p %g, typical-p %g, repeat-penalty %g "
            "(last %d), presence %g, frequency %g\n",
            (unsigned long long)p->seed, p->temperature, p->top_k, p->top_p, p->min_p, p->typical_p,
            p->repeat_penalty, p->repeat_last_n, p->presence_penalty, p->frequency_penalty);
}

/* --ignore-eos is a logit bias of -INFINITY on every end-of-generation id. */
static int new_sampler(run_state *r) {
    slm_sampler_params p = r->opt->sampling;
    int32_t n_vocab = slm_model_n_vocab(r->model);
    slm_logit_bias *bans = NULL;
    if (r->opt->ignore_eos) {
        bans = malloc((size_t)n_vocab * sizeof *bans);
        if (!bans) {
            fprintf(stderr, "slm run: out of memory\n");
            return 1;
        }
        for (slm_token t = 0; t < n_vocab; t++)
            if (slm_vocab_is_eog(r->vocab, t)) bans[p.n_logit_bias++] = (slm_logit_bias){t, -INFINITY};
        p.logit_bias = bans;
    }
    slm_error err;
    slm_status st = slm_sampler_new(&p, n_vocab, &r->sampler, &err);
    free(bans);
    if (st) fprintf(stderr, "slm run: bad sampling settings: %s\n", err.message);
    return st ? 1 : 0;
}

/* Loads and checks everything before the first token is printed. */
static int prepare(run_state *r, const char *path) {
    const slm_run_options *o = r->opt;
    double t0 = now_ms();
    if (slm_run_open_model("run", o, path, &r->model, &r->ctx)) return 1;
    r->vocab = slm_model_vocab(r->model);
    r->stats.load_ms = now_ms() - t0;
    if (build_prompt(o, r->model, &r->prompt, &r->n_prompt)) return 1;
    uint32_t n_ctx = slm_context_n_ctx(r->ctx);
    if (check_fits(o, r->n_prompt, n_ctx)) return 1;
    r->gen = malloc((n_ctx - r->n_prompt + 1) * sizeof *r->gen);
    if (!r->gen) {
        fprintf(stderr, "slm run: out of memory\n");
        return 1;
    }
    if (new_sampler(r)) return 1;
    for (size_t i = 0; i < r->n_prompt; i++) slm_sampler_accept(r->sampler, r->prompt[i]);
    if (o->dump_logits) {
        if (slm_dump_open(&r->dump, o->dump_logits, slm_model_n_vocab(r->model))) return 1;
        r->dumping = true;
    }
    if (o->verbose) print_settings(r, path);
    return 0;
}

static void cleanup(run_state *r) {
    if (r->dumping && r->dump.f) fclose(r->dump.f);
    slm_sampler_free(r->sampler);
    slm_context_free(r->ctx);
    slm_model_free(r->model);
    free(r->prompt);
    free(r->gen);
}

static int run(const slm_run_options *o) {
    char path[4096];
    if (slm_resolve_model_path("run", o->model, path, sizeof path)) return 1;
    run_state r;
    memset(&r, 0, sizeof r);
    r.opt = o;
    r.at_line_start = true;
    r.stats.first_token_ms = -1;
    int rc = prepare(&r, path);
    if (rc == 0) {
        slm_detok_init(&r.detok, false);
        r.stats.n_prompt = r.n_prompt;
        if (o->display_prompt && !o->output_ids) display_prompt(&r);
        double t_start = now_ms();
        rc = eval_prompt(&r);
        if (rc == 0) rc = generate(&r, t_start);
        if (r.dumping && slm_dump_close(&r.dump, r.prompt, r.n_prompt, r.gen, r.n_gen)) rc = 1;
        if (interrupted) fprintf(stderr, "\nslm run: interrupted\n");
        print_summary(&r.stats);
        if (interrupted && rc == 0) rc = 130; /* the shell's code for death by SIGINT */
    }
    cleanup(&r);
    return rc;
}

int slm_cmd_run(int argc, char **argv) {
    slm_run_options o;
    switch (slm_run_parse_options(argc, argv, &o)) {
    case SLM_RUN_PARSE_HELP: slm_run_usage(stdout); return 0;
    case SLM_RUN_PARSE_ERROR: return 2;
    case SLM_RUN_PARSE_OK: break;
    }
    if (!o.seed_given) o.sampling.seed = slm_run_random_seed();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills, should anything hang */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    return run(&o);
}
