/* cmd_info.c - `slm info FILE [--json]` (being written). */
#include <stdio.h>

#include "cli/cli.h"
#include "slm.h"

int slm_cmd_info(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: slm info FILE [--json]\n");
        return 2;
    }
    slm_gguf *g;
    slm_error err;
    if (slm_gguf_open(argv[1], &g, &err)) {
        fprintf(stderr, "slm info: %s\n", err.message);
        return 1;
    }
    printf("GGUF v%u, %llu keys, %llu tensors\n", slm_gguf_version(g), (unsigned long long)slm_gguf_n_keys(g),
           (unsigned long long)slm_gguf_n_tensors(g));
    slm_gguf_close(g);
    return 0;
}
