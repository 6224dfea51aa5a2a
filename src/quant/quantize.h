/* quantize.h - GGUF file to GGUF file quantization (`slm quantize`).
 *
 * Streams: tensors are converted a chunk of rows at a time (a few MB of
 * floats per thread), written through the GGUF writer and never held whole
 * in memory twice; the input is memory-mapped.  The output appears at its
 * path only when complete (written to "<out>.tmp", then renamed). */
#ifndef SLM_QUANT_QUANTIZE_H
#define SLM_QUANT_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "quant/imatrix.h"
#include "quant/recipe.h"
#include "slm.h"

typedef struct slm_quant_progress {
    const char *tensor;           /* the tensor being converted */
    uint64_t i_tensor, n_tensors;
    uint64_t bytes_done, bytes_total; /* input bytes */
} slm_quant_progress;

typedef struct slm_quant_tensor {
    const char *name; /* points into the input file's handle (valid during the call) */
    slm_type from, to;
    uint64_t bytes_in, bytes_out, n_elements;
    bool fallback;
} slm_quant_tensor;

typedef struct slm_quant_params {
    const char *preset;               /* "Q4_K_M", ... */
    bool pure, allow_requantize;
    slm_type output_type, embd_type;  /* SLM_TYPE_COUNT: the recipe decides */
    const slm_tensor_override *overrides;
    size_t n_overrides;
    const slm_imatrix *imatrix;       /* NULL: none */
    bool awq;                         /* with an imatrix: fold per-channel scales into the norms (awq.h) */
    bool gptq;                        /* with an imatrix holding covariances: error feedback (gptq.h) */
    float gptq_damp;                  /* <= 0: SLM_GPTQ_DAMP */
    int n_threads;                    /* <= 0: all processors */
    /* optional callbacks */
    void (*on_progress)(void *ud, const slm_quant_progress *p);
    void (*on_tensor)(void *ud, const slm_quant_tensor *t); /* after each tensor */
    void *ud;
    const volatile int *cancel;       /* non-zero: stop (SLM_E_CANCELLED), no output left */
} slm_quant_params;

typedef struct slm_quant_summary {
    uint64_t bytes_in, bytes_out;     /* tensor data */
    uint64_t n_elements;
    uint32_t n_tensors, n_quantized, n_fallback;
    int n_awq_scaled;                 /* norm groups given per-channel scales (awq.h) */
    uint32_t n_gptq;                  /* matrices rounded with error feedback (gptq.h) */
} slm_quant_summary;

slm_quant_params slm_quant_default_params(void);

slm_status slm_quantize_file(const char *in_path, const char *out_path, const slm_quant_params *p,
                             slm_quant_summary *summary, slm_error *err);

#endif
