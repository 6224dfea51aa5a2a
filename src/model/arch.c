/* arch.c - the supported architectures (what llama.cpp's src/models/<arch>.cpp
 * builds for each, described in ../shared/reference/README.md). */
#include "model/arch.h"

#include <string.h>

static const slm_arch ARCHS[] = {
    /* Llama 1-3, Mistral, TinyLlama, SmolLM, stories: biases are optional. */
    {"llama", SLM_ROPE_NORM, SLM_OPTIONAL, SLM_OPTIONAL},
    /* Qwen2 / Qwen2.5: q/k/v projections always carry a bias. */
    {"qwen2", SLM_ROPE_NEOX, SLM_REQUIRED, SLM_ABSENT},
};

const slm_arch *slm_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(ARCHS[i].name, name) == 0) return &ARCHS[i];
    return NULL;
}

const char *slm_arch_list(void) { return "llama, qwen2"; }
