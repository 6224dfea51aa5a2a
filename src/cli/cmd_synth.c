/* cmd_synth.c - `slm synth`: write a random-weight model with a real shape
 * (a hidden developer command, for tests and benchmarks). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/synth.h"
#include "slm.h"

static void synth_usage(FILE *out) {
    fprintf(out,
            "usage: slm synth --shape NAME [--arch llama|qwen2] [--type f32|f16] [--seed S] -o FILE\n\n"
            "Writes a model with random weights and the exact shapes and metadata of a real one.\n"
            "Same options, same bytes.\n\n"
            "  --shape NAME   one of:");
    for (size_t i = 0; slm_synth_shape_at(i); i++) fprintf(out, " %s", slm_synth_shape_at(i)->name);
    fprintf(out,
            "\n  --arch A       llama or qwen2 (default: the real model's)\n"
            "  --type T       f32 (default) or f16 for the matrices; norms and biases stay F32\n"
            "  --seed S       PRNG seed (default 0)\n"
            "  -o FILE        output path\n");
}

static bool parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (!s || !*s || *s == '-') return false;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end) return false;
    *out = v;
    return true;
}

int slm_cmd_synth(int argc, char **argv) {
    slm_synth_params p = {.type = SLM_TYPE_F32};
    const char *shape = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            synth_usage(stdout);
            return 0;
        }
        bool takes_value = !strcmp(a, "--shape") || !strcmp(a, "--arch") || !strcmp(a, "--type") ||
                           !strcmp(a, "--seed") || !strcmp(a, "-o");
        if (!takes_value) {
            fprintf(stderr, "slm synth: unknown option '%s'\n", a);
            synth_usage(stderr);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "slm synth: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--shape")) shape = val;
        else if (!strcmp(a, "--arch")) p.arch = val;
        else if (!strcmp(a, "-o")) out = val;
        else if (!strcmp(a, "--type")) {
            if (!slm_type_from_name(val, &p.type) || (p.type != SLM_TYPE_F32 && p.type != SLM_TYPE_F16)) {
                fprintf(stderr, "slm synth: --type must be f32 or f16, not '%s'\n", val);
                return 2;
            }
        } else if (!parse_u64(val, &p.seed)) {
            fprintf(stderr, "slm synth: --seed must be a non-negative integer, not '%s'\n", val);
            return 2;
        }
    }
    if (!shape || !out) {
        fprintf(stderr, "slm synth: --shape and -o are required\n");
        synth_usage(stderr);
        return 2;
    }
    if (!(p.shape = slm_synth_shape_find(shape))) {
        fprintf(stderr, "slm synth: unknown shape '%s'\n", shape);
        synth_usage(stderr);
        return 2;
    }
    slm_error err;
    if (slm_synth_write(&p, out, &err)) {
        fprintf(stderr, "slm synth: %s\n", err.message);
        return 1;
    }
    return 0;
}
