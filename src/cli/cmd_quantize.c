/* cmd_quantize.c - `slm quantize IN.gguf OUT.gguf TYPE [options]`: convert
 * a model's weights to another type (see src/quant/quantize.h), with a
 * progress bar on a terminal and a table of sizes at the end. */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "quant/quant_rows.h"
#include "quant/quantize.h"

#define MAX_OVERRIDES 64

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm quantize [options] IN.gguf OUT.gguf TYPE\n\n"
            "TYPE: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L,\n"
            "      Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS\n"
            "      (the _S/_M/_L mixes give sensitive tensors more bits, as llama.cpp does)\n\n"
            "  --pure                      the base type for every matrix (no mixture rules)\n"
            "  --output-tensor-type T      type of output.weight\n"
            "  --token-embedding-type T    type of token_embd.weight\n"
            "  --tensor-type REGEX=T       type of the tensors whose name matches REGEX (repeatable)\n"
            "  --imatrix FILE              weight the rounding error by an importance matrix\n"
            "  --awq                       with --imatrix: fold per-channel scales into the norm weights\n"
            "                              where they lower the weighted error (AWQ)\n"
            "  --gptq                      with --imatrix from `slm imatrix --covariance`: round each\n"
            "                              row's weights one at a time, moving every rounding error onto\n"
            "                              the weights not yet rounded so the matrix output on the\n"
            "                              calibration inputs changes least (GPTQ); block scales are\n"
            "                              chosen as without it. Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K/\n"
            "                              Q6_K matrices that have a covariance; others round as usual\n"
            "  --gptq-damp F               GPTQ damping, fraction of the mean input power (default 0.01)\n"
            "  --allow-requantize          allow an already quantized input (loses quality)\n"
            "  -t, --threads N             worker threads (default: all processors)\n"
            "  -q, --quiet                 no progress bar and no table\n");
}

typedef struct options {
    const char *in, *out, *preset, *imatrix;
    slm_quant_params qp;
    slm_tensor_override ov[MAX_OVERRIDES];
    char *ov_text[MAX_OVERRIDES];
    bool quiet;
} options;

static bool parse_type(const char *opt, const char *s, slm_type *out) {
    if (slm_type_from_name(s, out) && slm_quant_can_write(*out)) return true;
    fprintf(stderr, "slm quantize: %s: '%s' is not a tensor type slm can write (F32, F16, BF16, Q8_0, Q4_0, "
                    "Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)\n", opt, s);
    return false;
}

static bool add_override(options *o, const char *spec) {
    size_t k = o->qp.n_overrides;
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec) {
        fprintf(stderr, "slm quantize: --tensor-type: expected REGEX=TYPE, got '%s'\n", spec);
        return false;
    }
    if (k == MAX_OVERRIDES) {
        fprintf(stderr, "slm quantize: --tensor-type: at most %d overrides\n", MAX_OVERRIDES);
        return false;
    }
    o->ov_text[k] = strndup(spec, (size_t)(eq - spec));
    if (!o->ov_text[k] || !parse_type("--tensor-type", eq + 1, &o->ov[k].type)) return false;
    o->ov[k].pattern = o->ov_text[k];
    o->qp.n_overrides = k + 1;
    regex_t re;
    if (regcomp(&re, o->ov_text[k], REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "slm quantize: --tensor-type: '%s' is not a valid regular expression\n", o->ov_text[k]);
        return false;
    }
    regfree(&re);
    return true;
}

/* 0 = go on, 1 = error, 2 = --help was printed. */
static int parse_args(int argc, char **argv, options *o) {
    const char *pos[3] = {0};
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = 0;
        if (slm_arg_is(a, "-h|--help")) return usage(stdout), 2;
        if (slm_arg_is(a, "--pure")) o->qp.pure = true;
        else if (slm_arg_is(a, "--allow-requantize")) o->qp.allow_requantize = true;
        else if (slm_arg_is(a, "--awq")) o->qp.awq = true;
        else if (slm_arg_is(a, "--gptq")) o->qp.gptq = true;
        else if (slm_arg_is(a, "-q|--quiet")) o->quiet = true;
        else if ((r = slm_arg_value("quantize", argc, argv, &i, "--output-tensor-type", &v)) != 0) {
            if (r < 0 || !parse_type("--output-tensor-type", v, &o->qp.output_type)) return 1;
        } else if ((r = slm_arg_value("quantize", argc, argv, &i, "--token-embedding-type", &v)) != 0) {
            if (r < 0 || !parse_type("--token-embedding-type", v, &o->qp.embd_type)) return 1;
        } else if ((r = slm_arg_value("quantize", argc, argv, &i, "--tensor-type", &v)) != 0) {
            if (r < 0 || !add_override(o, v)) return 1;
        } else if ((r = slm_arg_value("quantize", argc, argv, &i, "--imatrix", &v)) != 0) {
            if (r < 0) return 1;
            o->imatrix = v;
        } else if ((r = slm_arg_value("quantize", argc, argv, &i, "--gptq-damp", &v)) != 0) {
            if (r < 0 || !slm_arg_float("quantize", "--gptq-damp", v, 1e-6, 10, &o->qp.gptq_damp)) return 1;
        } else if ((r = slm_arg_value("quantize", argc, argv, &i, "-t|--threads", &v)) != 0) {
            long n = 0;
            if (r < 0 || !slm_arg_long("quantize", "--threads", v, 1, 1024, &n)) return 1;
            o->qp.n_threads = (int)n;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "slm quantize: unknown option %s\n", a);
            return 1;
        } else if (n_pos < 3) pos[n_pos++] = a;
        else {
            fprintf(stderr, "slm quantize: too many arguments ('%s')\n", a);
            return 1;
        }
    }
    if (n_pos != 3) {
        fprintf(stderr, "slm quantize: expected IN.gguf OUT.gguf TYPE\n\n");
        usage(stderr);
        return 1;
    }
    if (o->qp.awq && !o->imatrix) {
        fprintf(stderr, "slm quantize: --awq needs --imatrix FILE (the scales come from the importances)\n");
        return 1;
    }
    if (o->qp.gptq_damp > 0 && !o->qp.gptq) {
        fprintf(stderr, "slm quantize: --gptq-damp only applies with --gptq\n");
        return 1;
    }
    if (o->qp.gptq && !o->imatrix) {
        fprintf(stderr, "slm quantize: --gptq needs --imatrix FILE with input covariances (slm imatrix --covariance)\n");
        return 1;
    }
    o->in = pos[0], o->out = pos[1], o->preset = pos[2];
    o->qp.preset = o->preset;
    return 0;
}

/* ---- progress bar and table --------------------------------------------- */

typedef struct ui {
    bool tty, quiet;
    struct timespec t0;
    double last_draw;
    FILE *table; /* rows collected for the final table */
} ui;

static double now_s(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void on_progress(void *ud, const slm_quant_progress *p) {
    ui *u = ud;
    if (!u->tty || u->quiet || p->bytes_total == 0) return;
    double t = now_s(&u->t0);
    if (t - u->last_draw < 0.1 && p->bytes_done < p->bytes_total) return;
    u->last_draw = t;
    double f = (double)p->bytes_done / (double)p->bytes_total;
    int filled = (int)(f * 30);
    char bar[31];
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    double eta = f > 0.01 ? t / f - t : 0;
    fprintf(stderr, "\r[%s] %5.1f%%  %llu/%llu  %-32.32s  ETA %4.0fs ", bar, 100 * f,
            (unsigned long long)p->i_tensor + 1, (unsigned long long)p->n_tensors, p->tensor, eta);
    fflush(stderr);
}

static void on_tensor(void *ud, const slm_quant_tensor *t) {
    ui *u = ud;
    if (u->quiet || !u->table) return;
    fprintf(u->table, "%-40s %-7s -> %-7s%s %10.2f MiB -> %9.2f MiB\n", t->name, slm_type_name(t->from),
            slm_type_name(t->to), t->fallback ? " (fallback)" : "           ", (double)t->bytes_in / 1048576.0,
            (double)t->bytes_out / 1048576.0);
}

static void print_summary(ui *u, const options *o, const slm_quant_summary *s) {
    if (u->tty) fprintf(stderr, "\r%*s\r", 110, "");
    if (u->quiet) return;
    if (u->table) {
        rewind(u->table);
        char line[512];
        while (fgets(line, sizeof line, u->table)) fputs(line, stdout);
    }
    double n = s->n_elements ? (double)s->n_elements : 1;
    printf("\n%s -> %s (%s): %u tensors, %u converted%s\n", o->in, o->out, o->preset, s->n_tensors, s->n_quantized,
           s->n_fallback ? "" : "");
    if (s->n_fallback)
        printf("%u tensor(s) used a fallback type: their rows do not divide the block size\n", s->n_fallback);
    if (s->n_awq_scaled)
        printf("%d norm(s) given per-channel scales where they lower the imatrix-weighted error\n", s->n_awq_scaled);
    if (o->qp.gptq) printf("%u matrices rounded with error feedback (GPTQ)\n", s->n_gptq);
    printf("size: %.2f MiB -> %.2f MiB (%.1f%%), bits per weight: %.2f -> %.2f, %.1f s\n",
           (double)s->bytes_in / 1048576.0, (double)s->bytes_out / 1048576.0,
           s->bytes_in ? 100.0 * (double)s->bytes_out / (double)s->bytes_in : 0.0, 8.0 * (double)s->bytes_in / n,
           8.0 * (double)s->bytes_out / n, now_s(&u->t0));
}

/* ---- interruption ------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;
static volatile int g_cancel;

static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
    g_cancel = 1;
}

int slm_cmd_quantize(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    o.qp = slm_quant_default_params();
    int rc = parse_args(argc, argv, &o);
    slm_imatrix *im = NULL;
    slm_error err = {0};
    if (rc == 0 && o.imatrix && slm_imatrix_load(o.imatrix, &im, &err) != SLM_OK) {
        fprintf(stderr, "slm quantize: --imatrix: %s\n", err.message);
        rc = 1;
    }
    if (rc != 0) {
        for (size_t k = 0; k < o.qp.n_overrides; k++) free(o.ov_text[k]);
        return rc == 2 ? 0 : rc;
    }
    o.qp.overrides = o.ov;
    o.qp.imatrix = im;
    /* A full disk or a file size limit must come back as a write error (and a
     * removed temporary file), not kill the process; Ctrl-C stops cleanly. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ui u = {.tty = isatty(2) != 0, .quiet = o.quiet, .table = o.quiet ? NULL : tmpfile()};
    clock_gettime(CLOCK_MONOTONIC, &u.t0);
    o.qp.on_progress = on_progress;
    o.qp.on_tensor = on_tensor;
    o.qp.ud = &u;
    o.qp.cancel = &g_cancel;
    slm_quant_summary sum;
    slm_status s = slm_quantize_file(o.in, o.out, &o.qp, &sum, &err);
    if (s == SLM_OK) print_summary(&u, &o, &sum);
    else {
        if (u.tty) fprintf(stderr, "\n");
        fprintf(stderr, "slm quantize: %s\n", g_interrupted ? "interrupted; no output written" : err.message);
    }
    if (u.table) fclose(u.table);
    slm_imatrix_free(im);
    for (size_t k = 0; k < o.qp.n_overrides; k++) free(o.ov_text[k]);
    return s == SLM_OK ? 0 : 1;
}
