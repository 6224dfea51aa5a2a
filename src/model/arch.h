/* arch.h - the table of supported architectures.
 *
 * One transformer block serves every architecture; a row only says which of
 * its optional parts the family has.  A new family is a new row (and, when it
 * needs something the block cannot do yet, a new flag). */
#ifndef SLM_MODEL_ARCH_H
#define SLM_MODEL_ARCH_H

typedef enum slm_rope_mode {
    SLM_ROPE_NORM, /* rotates adjacent pairs (x[2i], x[2i+1]) */
    SLM_ROPE_NEOX, /* rotates (x[i], x[i + n_rot/2]) */
} slm_rope_mode;

typedef enum slm_presence {
    SLM_ABSENT,   /* never loaded */
    SLM_OPTIONAL, /* used when the file has it */
    SLM_REQUIRED, /* the file must have it */
} slm_presence;

typedef struct slm_arch {
    const char *name; /* general.architecture, also the metadata key prefix */
    slm_rope_mode rope;
    slm_presence qkv_bias;    /* attn_q/k/v.bias */
    slm_presence output_bias; /* attn_output.bias */
} slm_arch;

/* NULL when the architecture is not supported. */
const slm_arch *slm_arch_find(const char *name);
/* "llama, qwen2" - for error messages. */
const char *slm_arch_list(void);

#endif
