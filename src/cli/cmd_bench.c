/* cmd_bench.c - `slm bench -m FILE [-p 512] [-n 128] [-t N] [-r 3] [--json]`:
 * prompt processing and generation speed, measured the way llama-bench
 * measures them so the figures can sit side by side: ppN evaluates one
 * batch of N random tokens in an empty cache, tgN evaluates N random tokens
 * one at a time from an empty cache; each is repeated r times after a
 * warm-up and reported as mean +- standard deviation of tokens/s.
 *
 * Generation is also given as a fraction of the roofline: every generated
 * token reads all the weight matrices once, so memory bandwidth / bytes per
 * token bounds the speed.  The bandwidth is --membw GB/s or measured here. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/membw.h"
#include "model/context.h"
#include "runtime/cpu.h"
#include "slm.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm bench -m FILE [-p N] [-n N] [-t N] [-r N] [--membw GBPS] [--mmap] [--json]\n\n"
            "  -m, --model FILE   GGUF model to measure\n"
            "  -p, --n-prompt N   prompt tokens evaluated as one batch (default 512, 0 = skip)\n"
            "  -n, --n-gen N      tokens generated one at a time (default 128, 0 = skip)\n"
            "  -t, --threads N    threads (default: physical cores)\n"
            "  -r, --repetitions N  repetitions of each test (default 3)\n"
            "      --membw GBPS   memory read bandwidth for the roofline (default: measured now)\n"
            "      --scalar       use the scalar reference kernels\n"
            "      --mmap         map the model file instead of copying it into huge pages\n"
            "      --no-mmap      always copy the model file (default: copy when the kernel offers\n"
            "                     huge pages and memory allows, else map)\n"
            "      --json         print one JSON object instead of a table\n");
}

typedef struct options {
    const char *model;
    long n_prompt, n_gen, threads, reps;
    float membw_gbps;
    bool json, scalar;
    slm_load_mode load_mode;
} options;

/* 0 = go on, 1 = error, 2 = --help was printed. */
static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.n_prompt = 512, .n_gen = 128, .threads = slm_cpu_physical_cores(), .reps = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int got = 0;
        if (slm_arg_is(a, "-h|--help")) return usage(stdout), 2;
        if (slm_arg_is(a, "--json")) {
            o->json = true;
            continue;
        }
        if (slm_arg_load_mode(a, &o->load_mode)) continue;
        if (slm_arg_is(a, "--scalar")) {
            o->scalar = true;
            continue;
        }
        if ((got = slm_arg_value("bench", argc, argv, &i, "-m|--model", &v)) != 0) {
            if (got < 0) return 1;
            o->model = v;
        } else if ((got = slm_arg_value("bench", argc, argv, &i, "-p|--n-prompt", &v)) != 0) {
            if (got < 0 || !slm_arg_long("bench", "-p", v, 0, 1 << 20, &o->n_prompt)) return 1;
        } else if ((got = slm_arg_value("bench", argc, argv, &i, "-n|--n-gen", &v)) != 0) {
            if (got < 0 || !slm_arg_long("bench", "-n", v, 0, 1 << 20, &o->n_gen)) return 1;
        } else if ((got = slm_arg_value("bench", argc, argv, &i, "-t|--threads", &v)) != 0) {
            if (got < 0 || !slm_arg_long("bench", "-t", v, 1, 1024, &o->threads)) return 1;
        } else if ((got = slm_arg_value("bench", argc, argv, &i, "-r|--repetitions", &v)) != 0) {
            if (got < 0 || !slm_arg_long("bench", "-r", v, 1, 1000, &o->reps)) return 1;
        } else if ((got = slm_arg_value("bench", argc, argv, &i, "--membw", &v)) != 0) {
            if (got < 0 || !slm_arg_float("bench", "--membw", v, 0.001, 1e6, &o->membw_gbps)) return 1;
        } else {
            fprintf(stderr, "slm bench: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        }
    }
    if (!o->model) {
        fprintf(stderr, "slm bench: missing -m FILE\n");
        return 1;
    }
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The weight type holding most of the matrix bytes (what llama-bench calls the model's type). */
static slm_type main_type(const slm_model *m) {
    uint64_t bytes[SLM_TYPE_COUNT] = {0};
    for (int64_t l = 0; l < m->hp.n_layer; l++) {
        const slm_layer *L = &m->layers[l];
        const slm_matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (size_t i = 0; i < 7; i++) bytes[mats[i]->type] += mats[i]->row_bytes * (uint64_t)mats[i]->n_out;
    }
    int best = 0;
    for (int t = 1; t < SLM_TYPE_COUNT; t++)
        if (bytes[t] > bytes[best]) best = t;
    return (slm_type)best;
}

/* Bytes every generated token reads: all the matrices of the layers and the output. */
static uint64_t bytes_per_token(const slm_model *m) {
    uint64_t total = m->output.row_bytes * (uint64_t)m->output.n_out;
    for (int64_t l = 0; l < m->hp.n_layer; l++) {
        const slm_layer *L = &m->layers[l];
        const slm_matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (size_t i = 0; i < 7; i++) total += mats[i]->row_bytes * (uint64_t)mats[i]->n_out;
    }
    return total;
}

/* Seconds for one test: n_prompt tokens as one batch, then n_gen one by one. */
static double run_once(slm_context *c, const slm_token *tokens, long n_prompt, long n_gen, slm_error *err,
                       slm_status *st) {
    slm_kv_truncate(c, 0, 0);
    double t0 = now_s();
    if (n_prompt > 0) {
        slm_batch b = {.n_tokens = (int32_t)n_prompt, .tokens = tokens};
        if ((*st = slm_decode(c, &b, err)) != SLM_OK) return 0;
    }
    for (long i = 0; i < n_gen; i++) {
        slm_batch b = {.n_tokens = 1, .tokens = tokens + i};
        if ((*st = slm_decode(c, &b, err)) != SLM_OK) return 0;
    }
    return now_s() - t0;
}

typedef struct result {
    char name[32];
    long n_tokens;
    double mean, stddev; /* tokens/s */
    double *samples;
} result;

static slm_status measure(slm_context *c, const slm_token *tokens, const options *o, long n_prompt, long n_gen,
                          result *r, slm_error *err) {
    slm_status st = SLM_OK;
    r->n_tokens = n_prompt + n_gen;
    snprintf(r->name, sizeof r->name, n_prompt ? "pp%ld" : "tg%ld", n_prompt ? n_prompt : n_gen);
    /* warm-up: page in the weights, start the threads */
    run_once(c, tokens, n_prompt ? (n_prompt < 32 ? n_prompt : 32) : 0, n_gen ? 1 : 0, err, &st);
    double sum = 0, sq = 0;
    for (long i = 0; i < o->reps && st == SLM_OK; i++) {
        double s = run_once(c, tokens, n_prompt, n_gen, err, &st);
        r->samples[i] = s > 0 ? (double)r->n_tokens / s : 0;
        sum += r->samples[i];
    }
    r->mean = sum / (double)o->reps;
    for (long i = 0; i < o->reps; i++) sq += (r->samples[i] - r->mean) * (r->samples[i] - r->mean);
    r->stddev = o->reps > 1 ? sqrt(sq / (double)(o->reps - 1)) : 0;
    return st;
}

/* How the weights sit in memory: "mapped" or "copied", and for a copy the
 * MiB the kernel backs with huge pages (Linux: AnonHugePages; -1 unknown). */
static const char *weights_memory(const slm_model *m, long *huge_mib) {
    *huge_mib = -1;
    if (!slm_gguf_is_copied(slm_model_gguf(m))) return "mapped";
    FILE *f = fopen("/proc/self/smaps_rollup", "re");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) *huge_mib = kb / 1024;
    if (f) fclose(f);
    return "copied";
}

static void print_table(const options *o, const slm_model *m, const slm_context *c, const result *res, int n_res,
                        double bw, uint64_t bpt) {
    char feat[64], params[32];
    uint64_t np = slm_model_n_params(m);
    if (np >= 1000000000u) snprintf(params, sizeof params, "%.2f B", (double)np / 1e9);
    else snprintf(params, sizeof params, "%.2f M", (double)np / 1e6);
    printf("| model | size | params | type | kernels | threads | test | t/s |\n");
    printf("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < n_res; i++)
        printf("| %s | %.2f MiB | %s | %s | %s | %ld | %s | %.2f ± %.2f |\n", slm_model_arch(m),
               (double)slm_model_size_bytes(m) / (1024.0 * 1024.0), params, slm_type_name(main_type(m)),
               c->kern.name, o->threads, res[i].name, res[i].mean, res[i].stddev);
    printf("\ncpu features: %s\n", slm_cpu_features_name(slm_cpu_features(), feat, sizeof feat));
    long huge_mib;
    const char *how = weights_memory(m, &huge_mib);
    if (strcmp(how, "copied")) printf("weights: mapped\n");
    else if (huge_mib < 0) printf("weights: copied into private memory (--mmap maps the file)\n");
    else printf("weights: copied into private memory (--mmap maps the file); %ld MiB of the process in huge pages\n", huge_mib);
    for (int i = 0; i < n_res; i++) {
        if (strncmp(res[i].name, "tg", 2) || bw <= 0) continue;
        double roof = bw / (double)bpt;
        printf("roofline: %.1f MB read per token at %.2f GB/s -> %.1f t/s; %s reaches %.1f %%\n", (double)bpt / 1e6,
               bw / 1e9, roof, res[i].name, 100.0 * res[i].mean / roof);
    }
}

static void print_json(const options *o, const slm_model *m, const slm_context *c, const result *res, int n_res,
                       double bw, uint64_t bpt) {
    char feat[64];
    long huge_mib;
    const char *how = weights_memory(m, &huge_mib);
    printf("{\"model\": \"");
    for (const char *p = o->model; *p; p++) {
        if (*p == '"' || *p == '\\') putchar('\\');
        if ((unsigned char)*p >= 0x20) putchar(*p);
    }
    printf("\", \"arch\": \"%s\", \"type\": \"%s\", \"size_bytes\": %" PRIu64 ", \"n_params\": %" PRIu64
           ", \"threads\": %ld, \"kernels\": \"%s\", \"cpu_features\": \"%s\", \"bytes_per_token\": %" PRIu64
           ", \"membw_bytes_per_s\": %.0f, \"weights\": \"%s\", \"huge_page_mib\": %ld, \"tests\": [",
           slm_model_arch(m), slm_type_name(main_type(m)), slm_model_size_bytes(m), slm_model_n_params(m), o->threads,
           c->kern.name, slm_cpu_features_name(slm_cpu_features(), feat, sizeof feat), bpt, bw, how, huge_mib);
    for (int i = 0; i < n_res; i++) {
        printf("%s{\"name\": \"%s\", \"n_tokens\": %ld, \"avg_ts\": %.4f, \"stddev_ts\": %.4f", i ? ", " : "",
               res[i].name, res[i].n_tokens, res[i].mean, res[i].stddev);
        if (!strncmp(res[i].name, "tg", 2) && bw > 0) printf(", \"roofline_fraction\": %.4f", res[i].mean * (double)bpt / bw);
        printf(", \"samples_ts\": [");
        for (long k = 0; k < o->reps; k++) printf("%s%.4f", k ? ", " : "", res[i].samples[k]);
        printf("]}");
    }
    printf("]}\n");
}

int slm_cmd_bench(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 2 ? 0 : 2;
    slm_error err;
    slm_model *m = NULL;
    if (slm_model_load_with(o.model, o.load_mode, &m, &err) != SLM_OK) {
        fprintf(stderr, "slm bench: %s\n", err.message);
        return 1;
    }
    long n_ctx = (o.n_prompt > o.n_gen ? o.n_prompt : o.n_gen) + 1;
    slm_context_params p = slm_context_default_params();
    p.n_ctx = (uint32_t)n_ctx;
    p.n_threads = (uint32_t)o.threads;
    slm_context_options co = {.scalar_kernels = o.scalar};
    slm_context *c = NULL;
    if (slm_context_new_ex(m, &p, &co, &c, &err) != SLM_OK) {
        fprintf(stderr, "slm bench: %s\n", err.message);
        slm_model_free(m);
        return 1;
    }
    slm_token *tokens = malloc((size_t)n_ctx * sizeof *tokens);
    result res[2];
    double *samples = calloc((size_t)o.reps * 2, sizeof *samples);
    if (!tokens || !samples) {
        fprintf(stderr, "slm bench: out of memory\n");
        return 1;
    }
    uint64_t state = 42;
    for (long i = 0; i < n_ctx; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        tokens[i] = (slm_token)((state >> 33) % (uint64_t)slm_model_n_vocab(m));
    }
    int n_res = 0;
    slm_status st = SLM_OK;
    if (o.n_prompt > 0) {
        res[n_res].samples = samples;
        st = measure(c, tokens, &o, o.n_prompt, 0, &res[n_res++], &err);
    }
    if (o.n_gen > 0 && st == SLM_OK) {
        res[n_res].samples = samples + o.reps;
        st = measure(c, tokens, &o, 0, o.n_gen, &res[n_res++], &err);
    }
    if (st != SLM_OK) {
        fprintf(stderr, "slm bench: %s\n", err.message);
        rc = 1;
    } else {
        double bw = o.membw_gbps > 0 ? (double)o.membw_gbps * 1e9
                    : o.n_gen > 0    ? slm_measure_read_bandwidth((int)o.threads, (size_t)1 << 29, 3)
                                     : 0;
        if (o.json) print_json(&o, m, c, res, n_res, bw, bytes_per_token(m));
        else print_table(&o, m, c, res, n_res, bw, bytes_per_token(m));
    }
    free(samples);
    free(tokens);
    slm_context_free(c);
    slm_model_free(m);
    return rc;
}
