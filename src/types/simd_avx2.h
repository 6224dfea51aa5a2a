/* simd_avx2.h - helpers shared by the AVX2 kernel files (simd_avx2*.c, all
 * built with -mavx2 -mfma -mf16c); nothing else may include it. */
#ifndef SLM_TYPES_SIMD_AVX2_H
#define SLM_TYPES_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "types/gemm.h"

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

INLINE uint16_t u16_at(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

INLINE uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

INLINE float f16_at(const uint8_t *p) { return _cvtsh_ss(u16_at(p)); }

/* 8 lanes of int32 holding the totals of v[0..7] (each a vector of 8 int32). */
INLINE __m256i sum_lanes_8_folded(const __m256i h[4]) {
    __m256i q0 = _mm256_hadd_epi32(h[0], h[1]), q1 = _mm256_hadd_epi32(h[2], h[3]);
    return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
}

INLINE __m256i sum_lanes_8(const __m256i v[8]) {
    const __m256i h[4] = {_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]), _mm256_hadd_epi32(v[4], v[5]),
                          _mm256_hadd_epi32(v[6], v[7])};
    return sum_lanes_8_folded(h);
}

/* Stores the pairs of an R x T tile, pair p = i * T + j in lane p % 8 of
 * acc[p / 8], to y[(t + j) * y_stride + r + i]. */
INLINE void store_pairs(const __m256 *acc, int R, int T, const slm_gemm_args *g, int64_t r, int64_t t) {
    float out[16];
    _mm256_storeu_ps(out, acc[0]);
    if (R * T > 8) _mm256_storeu_ps(out + 8, acc[1]);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) g->y[(t + j) * g->y_stride + r + i] = out[i * T + j];
}

/* For few tokens each weight row is read once, as a stream: while a tile of
 * R rows walks its blocks, ask for the next tile's bytes (they follow these
 * rows), a little more than a block of R rows per step, so that they arrive
 * before the tile needs them.  Prefetching never faults, so the address may
 * pass the matrix's end. */
INLINE void prefetch_next_tile(const slm_gemm_args *g, const uint8_t *w, int R, int64_t ib, int block_bytes) {
    const uintptr_t next = (uintptr_t)(w + (uint64_t)R * g->w_stride);
    const int lines = (R * block_bytes + 63) / 64 + 1;
    for (int l = 0; l < lines; l++) _mm_prefetch((const char *)(next + (uint64_t)(ib * lines + l) * 64), _MM_HINT_T0);
}

/* A row walked alone (one token, a row at a time) is one sequential stream
 * per thread.  Asking for the bytes STREAM_AHEAD further on as each block
 * is read keeps more of that stream in flight than the hardware prefetcher
 * does alone.  Two threads streaming a 220 MB Q6_K matrix (131072 x 2048):
 * 13.6-16.8 GB/s without, 15.1 at 0.5 KiB ahead, 15.8-18.0 at 1 KiB,
 * 18.3-20.5 at 2-3 KiB, 18.6 at 4 KiB; llama.cpp's row kernel 13.3-16.6
 * GB/s in the same runs. */
#define STREAM_AHEAD 3072

/* Prefetches the lines STREAM_AHEAD bytes past a block of `bytes` bytes;
 * called for each block in turn, the calls cover the stream.  Prefetching
 * never faults, so the address may pass the matrix's end. */
INLINE void prefetch_stream(const uint8_t *block, int bytes) {
    for (int off = 0; off < bytes; off += 64) _mm_prefetch((const char *)block + STREAM_AHEAD + off, _MM_HINT_T0);
}

/* Tokens per chunk of the pair tiles below: a whole number of tiles whose
 * activations fit in 1 MiB.  Every row tile passes over a chunk's
 * activations, so a chunk too large for the caches is streamed again from
 * memory for each one; a chunk too small streams the weights again for each
 * chunk.  Single thread, F16, 512 tokens: 8192-wide rows 16-26 -> 34-37
 * GMAC/s against one chunk of all tokens (2048-wide rows: the same 33-35). */
INLINE int64_t tile_chunk_tokens(const slm_gemm_args *g, int tp) {
    int64_t c = (int64_t)((1u << 20) / g->a_stride) / tp * tp;
    return c < tp ? tp : c;
}

/* Walks [r0, r1) x [t0, t1) in tiles: 8 x 1 for one token, RP x TP for more,
 * tokens in chunks (tile_chunk_tokens); the edges get smaller tiles (same
 * per-pair arithmetic).  TILE(g, r, t, R, T) computes R rows x T tokens. */
#define DEFINE_GEMM(NAME, TILE, RP, TP)                                                                  \
    static void NAME(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {           \
        if (t1 - t0 == 1) {                                                                              \
            int64_t r = r0;                                                                              \
            for (; r + 8 <= r1; r += 8) TILE(g, r, t0, 8, 1);                                            \
            for (; r < r1; r++) TILE(g, r, t0, 1, 1);                                                    \
            return;                                                                                      \
        }                                                                                                \
        int64_t chunk = tile_chunk_tokens(g, TP);                                                        \
        for (int64_t tc = t0; tc < t1; tc += chunk) {                                                    \
            int64_t te = t1 - tc < chunk ? t1 : tc + chunk, r = r0;                                      \
            for (; r + RP <= r1; r += RP) {                                                              \
                int64_t t = tc;                                                                          \
                for (; t + TP <= te; t += TP) TILE(g, r, t, RP, TP);                                     \
                for (; t < te; t++) TILE(g, r, t, RP, 1);                                                \
            }                                                                                            \
            for (; r < r1; r++) {                                                                        \
                int64_t t = tc;                                                                          \
                for (; t + 8 <= te; t += 8) TILE(g, r, t, 1, 8);                                         \
                for (; t < te; t++) TILE(g, r, t, 1, 1);                                                 \
            }                                                                                            \
        }                                                                                                \
    }

/* A gemm for a type whose one-token kernel walks a row at a time: ROW(g, r,
 * t) gives y[t][r]; prompts (several tokens) go to the tiled TILES. */
#define DEFINE_GEMM_ROW_WALK(NAME, TILES, ROW)                                                   \
    static void NAME(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) { \
        if (t1 - t0 > 1) {                                                                    \
            TILES(g, r0, r1, t0, t1);                                                         \
            return;                                                                           \
        }                                                                                     \
        for (int64_t r = r0; r < r1; r++) g->y[t0 * g->y_stride + r] = ROW(g, r, t0);         \
    }

#endif
