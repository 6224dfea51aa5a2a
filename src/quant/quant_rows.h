/* quant_rows.h - float rows to every block type slm can write.
 *
 * Each quantizer minimises the importance-weighted squared error of its
 * blocks.  The importance of element i is imatrix[i] (the mean squared
 * activation feeding column i, from `slm imatrix`) times a term that grows
 * with |x[i]|; without an imatrix only the second term is used (details in
 * quant_rows.c).  With an imatrix the 32-weight block fits also search
 * wider (`wide`, fit.h). */
#ifndef SLM_QUANT_ROWS_H
#define SLM_QUANT_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "slm.h"

/* True when slm can produce this type. */
bool slm_quant_can_write(slm_type t);

/* Quantizes one row of n floats (n a multiple of the block size) into dst.
 * imatrix: n column importances, or NULL. */
void slm_quantize_row(slm_type t, const float *x, void *dst, int64_t n, const float *imatrix);

/* Per-element importance of a group of n weights (see above). */
void slm_quant_weights(int n, const float *x, const float *imatrix, float *w);

/* Block quantizers, one block each (quant_legacy.c, quant_k.c); wide: see fit.h. */
void slm_qblock_q4_0(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q4_1(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q5_0(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q5_1(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q8_0(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_iq4_nl(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q2_K(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q3_K(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q4_K(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q5_K(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_q6_K(const float *x, const float *w, bool wide, uint8_t *b);
void slm_qblock_iq4_xs(const float *x, const float *w, bool wide, uint8_t *b);

/* A block's grid once its scales are chosen (for error feedback, gptq.h):
 * element i may take the values step[i / sub] * L + offset[i / sub], L an
 * integer in [lo, hi]. */
typedef struct slm_qgrid {
    int lo, hi, sub;
    float step[16], offset[16];
} slm_qgrid;

/* Reads the grid of a block written by slm_quantize_row's block quantizer
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K); false for other types. */
bool slm_qblock_grid(slm_type t, const uint8_t *b, slm_qgrid *g);
/* Replaces the block's quants by L (grid integers as above), keeping its scales. */
void slm_qblock_set_quants(slm_type t, uint8_t *b, const int *L);

/* The per-family halves of the two above (quant_legacy.c, quant_k.c). */
bool slm_qgrid_legacy(slm_type t, const uint8_t *b, slm_qgrid *g);
void slm_qset_legacy(slm_type t, uint8_t *b, const int *L);
bool slm_qgrid_k(slm_type t, const uint8_t *b, slm_qgrid *g);
void slm_qset_k(slm_type t, uint8_t *b, const int *L);

#endif
