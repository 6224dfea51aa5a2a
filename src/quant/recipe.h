/* recipe.h - which type each tensor gets for a quantization preset
 * ("Q4_K_M", ...): the per-tensor rules users know from llama.cpp's
 * llama-quantize (output and half of attn_v / ffn_down at Q6_K in Q4_K_M,
 * ...), the fallbacks for rows that do not divide the block size, and the
 * user's overrides. */
#ifndef SLM_QUANT_RECIPE_H
#define SLM_QUANT_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "slm.h"

/* A preset: its name, llama.cpp's file type number (general.file_type) and
 * the base tensor type. */
typedef struct slm_ftype {
    const char *name;
    int32_t file_type;
    slm_type base;
} slm_ftype;

/* NULL when the name (case-insensitive) is not a preset. */
const slm_ftype *slm_ftype_find(const char *name);
/* "F16, BF16, Q8_0, ..." for messages. */
const char *slm_ftype_names(void);

typedef struct slm_tensor_override {
    const char *pattern; /* POSIX extended regex, searched in the tensor name */
    slm_type type;
} slm_tensor_override;

typedef struct slm_recipe {
    const slm_ftype *ftype;
    bool pure;               /* the base type everywhere (fallbacks still apply) */
    bool has_imatrix;
    slm_type output_type;    /* SLM_TYPE_COUNT: the recipe decides */
    slm_type embd_type;
    const slm_tensor_override *overrides;
    size_t n_overrides;
    /* from the model */
    int n_layer, n_gqa, n_expert;
    bool tied;               /* no output.weight: token_embd is the output */
    int n_attn_v;
    /* running counters (tensors are visited in file order) */
    int i_attn_v, i_ffn_down;
} slm_recipe;

/* Reads the model facts and counts from the input file. */
void slm_recipe_init(slm_recipe *r, const slm_gguf *g);

/* Whether a tensor is quantized at all: 2-D+ weights, not norms, routers
 * and a few small tensors. */
bool slm_recipe_quantizable(const slm_gguf_tensor *t);

/* The type of a quantizable tensor; *fallback is set when the row length
 * forced another type than the rule's. */
slm_type slm_recipe_type(slm_recipe *r, const slm_gguf_tensor *t, bool *fallback);

#endif
