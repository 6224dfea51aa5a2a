/* rng.h - a small pseudo-random generator (xoshiro256**,
 * seeded through splitmix64).  Each user (a sampler, the synthetic model
 * writer) owns one, so two users never
 * disturb each other and a seed always gives the same stream. */
#ifndef SLM_RUNTIME_RNG_H
#define SLM_RUNTIME_RNG_H

#include <stdint.h>

typedef struct slm_rng {
    uint64_t s[4];
} slm_rng;

void slm_rng_seed(slm_rng *r, uint64_t seed);
uint64_t slm_rng_next(slm_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double slm_rng_uniform(slm_rng *r);

#endif
