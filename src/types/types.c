/* types.c - the type traits table (block layouts from ggml's type list). */
#include "types/types.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* Dequantizers live in dequant.c; a NULL entry means "cannot compute yet". */
#include "types/dequant.h"
#include "types/dequant_k.h"
#include "types/kquants.h"

static const slm_type_traits TRAITS[SLM_TYPE_COUNT] = {
    [SLM_TYPE_F32] = {"F32", 1, 4, slm_dequant_f32},
    [SLM_TYPE_F16] = {"F16", 1, 2, slm_dequant_f16},
    [SLM_TYPE_Q4_0] = {"Q4_0", 32, 18, slm_dequant_q4_0},
    [SLM_TYPE_Q4_1] = {"Q4_1", 32, 20, slm_dequant_q4_1},
    [SLM_TYPE_Q5_0] = {"Q5_0", 32, 22, slm_dequant_q5_0},
    [SLM_TYPE_Q5_1] = {"Q5_1", 32, 24, slm_dequant_q5_1},
    [SLM_TYPE_Q8_0] = {"Q8_0", 32, 34, slm_dequant_q8_0},
    [SLM_TYPE_Q8_1] = {"Q8_1", 32, 36, NULL},
    [SLM_TYPE_Q2_K] = {"Q2_K", 256, 84, slm_dequant_q2_K},
    [SLM_TYPE_Q3_K] = {"Q3_K", 256, 110, slm_dequant_q3_K},
    [SLM_TYPE_Q4_K] = {"Q4_K", 256, 144, slm_dequant_q4_K},
    [SLM_TYPE_Q5_K] = {"Q5_K", 256, 176, slm_dequant_q5_K},
    [SLM_TYPE_Q6_K] = {"Q6_K", 256, 210, slm_dequant_q6_K},
    [SLM_TYPE_Q8_K] = {"Q8_K", 256, 292, NULL},
    [SLM_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, NULL},
    [SLM_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, NULL},
    [SLM_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, NULL},
    [SLM_TYPE_IQ1_S] = {"IQ1_S", 256, 50, NULL},
    [SLM_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, slm_dequant_iq4_nl},
    [SLM_TYPE_IQ3_S] = {"IQ3_S", 256, 110, NULL},
    [SLM_TYPE_IQ2_S] = {"IQ2_S", 256, 82, NULL},
    [SLM_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, slm_dequant_iq4_xs},
    [SLM_TYPE_I8] = {"I8", 1, 1, NULL},
    [SLM_TYPE_I16] = {"I16", 1, 2, NULL},
    [SLM_TYPE_I32] = {"I32", 1, 4, NULL},
    [SLM_TYPE_I64] = {"I64", 1, 8, NULL},
    [SLM_TYPE_F64] = {"F64", 1, 8, NULL},
    [SLM_TYPE_IQ1_M] = {"IQ1_M", 256, 56, NULL},
    [SLM_TYPE_BF16] = {"BF16", 1, 2, slm_dequant_bf16},
    [SLM_TYPE_TQ1_0] = {"TQ1_0", 256, 54, NULL},
    [SLM_TYPE_TQ2_0] = {"TQ2_0", 256, 66, NULL},
    [SLM_TYPE_MXFP4] = {"MXFP4", 32, 17, NULL},
};

const slm_type_traits *slm_type_traits_of(slm_type type) {
    if ((unsigned)type >= SLM_TYPE_COUNT || TRAITS[type].name == NULL) return NULL;
    return &TRAITS[type];
}

bool slm_type_valid(uint32_t id) { return id < SLM_TYPE_COUNT && TRAITS[id].name != NULL; }

const char *slm_type_name(slm_type type) {
    const slm_type_traits *t = slm_type_traits_of(type);
    return t ? t->name : "?";
}

uint32_t slm_type_block_size(slm_type type) {
    const slm_type_traits *t = slm_type_traits_of(type);
    return t ? t->block_size : 0;
}

uint32_t slm_type_block_bytes(slm_type type) {
    const slm_type_traits *t = slm_type_traits_of(type);
    return t ? t->block_bytes : 0;
}

bool slm_type_computable(slm_type type) {
    const slm_type_traits *t = slm_type_traits_of(type);
    return t && t->to_float != NULL;
}

bool slm_type_from_name(const char *name, slm_type *out) {
    for (int i = 0; i < SLM_TYPE_COUNT; i++) {
        const char *n = TRAITS[i].name;
        if (!n) continue;
        size_t k = 0;
        while (n[k] && name[k] && toupper((unsigned char)name[k]) == n[k]) k++;
        if (n[k] == '\0' && name[k] == '\0') {
            *out = (slm_type)i;
            return true;
        }
    }
    return false;
}

uint64_t slm_type_row_bytes(slm_type type, int64_t n) {
    const slm_type_traits *t = slm_type_traits_of(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (uint64_t)(n / t->block_size) * t->block_bytes;
}
