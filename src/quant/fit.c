/* fit.c - weighted least-squares fits to integer grids (see fit.h). */
#include "quant/fit.h"

#include <math.h>

#define FIT_EPS 1e-30f
#define REFINE_ROUNDS 6

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void slm_round_to_grid(int n, int lo, int hi, const float *x, float d, float m, int *L) {
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) L[i] = d != 0.0f ? clampi(slm_qround((x[i] - m) * id), lo, hi) : clampi(0, lo, hi);
}

/* The element of largest magnitude (signed); 0 when all are ~0. */
static float signed_absmax(int n, const float *x) {
    float amax = 0.0f, xm = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), xm = x[i];
    return amax < FIT_EPS ? 0.0f : xm;
}

/* ---- symmetric grid -----------------------------------------------------
 * For a fixed rounding L the best d is sxl/sl2 and the error drops by
 * sxl^2/sl2, so that is the score to maximise. */

static void copy_ints(int n, const int *a, int *b) {
    for (int i = 0; i < n; i++) b[i] = a[i];
}

/* Round to nearest even in float (the 1.5 * 2^23 trick; |v| < 2^22). */
static float round_f(float v) { return (v + 12582912.0f) - 12582912.0f; }

/* Rounds x * iscale into [lo, hi] and returns the score of that rounding.
 * Eight running lanes so the compiler can vectorize it (n % 8 == 0 in
 * every caller; a tail is handled anyway). */
static float sym_candidate(int n, int lo, int hi, const float *x, const float *w, float iscale, int *T, float *d) {
    float sxl[8] = {0}, sl2[8] = {0};
    float flo = (float)lo, fhi = (float)hi;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            float v = iscale * x[i + k];
            v = v < -4e6f ? -4e6f : v > 4e6f ? 4e6f : v;
            float l = round_f(v);
            l = l < flo ? flo : l > fhi ? fhi : l;
            T[i + k] = (int)l;
            sxl[k] += w[i + k] * x[i + k] * l;
            sl2[k] += w[i + k] * l * l;
        }
    for (int k = 0; i < n; i++, k++) {
        float l = (float)clampi(slm_qround(iscale * x[i]), lo, hi);
        T[i] = (int)l;
        sxl[k] += w[i] * x[i] * l;
        sl2[k] += w[i] * l * l;
    }
    float a = ((sxl[0] + sxl[4]) + (sxl[1] + sxl[5])) + ((sxl[2] + sxl[6]) + (sxl[3] + sxl[7]));
    float b = ((sl2[0] + sl2[4]) + (sl2[1] + sl2[5])) + ((sl2[2] + sl2[6]) + (sl2[3] + sl2[7]));
    *d = b > 0.0f ? a / b : 0.0f;
    return b > 0.0f ? a * a / b : 0.0f;
}

float slm_fit_sym(int n, int lo, int hi, const float *x, const float *w, int *L) {
    float xm = signed_absmax(n, x);
    if (xm == 0.0f) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    int T[256];
    double best = -1;
    float best_d = 0.0f;
    const int ends[2] = {hi, lo};
    int ntry = hi <= 15 ? 5 : 2; /* fine grids gain little from a wide search */
    for (int e = 0; e < 2; e++) {
        if (ends[e] == 0) continue;
        for (int t = -ntry; t <= ntry; t++) {
            float target = (float)ends[e] + (ends[e] > 0 ? 0.1f : -0.1f) * (float)t;
            if (fabsf(target) < 0.5f) continue;
            float d = 0.0f;
            double s = sym_candidate(n, lo, hi, x, w, target / xm, T, &d);
            if (s > best) best = s, best_d = d, copy_ints(n, T, L);
        }
    }
    for (int r = 0; r < REFINE_ROUNDS && best_d != 0.0f; r++) {
        float d = 0.0f;
        double s = sym_candidate(n, lo, hi, x, w, 1.0f / best_d, T, &d);
        if (!(s > best * (1 + 1e-6))) break;
        best = s, best_d = d, copy_ints(n, T, L);
    }
    return best_d;
}

/* ---- affine grid -------------------------------------------------------- */

/* Weighted least squares for x ~ d*L + m; returns the error, from the
 * moments alone (no second pass). */
static double affine_fit(int n, const float *x, const float *w, const int *L, int nonpos, float *d, float *m) {
    double sw = 0, sl = 0, sl2 = 0, sx = 0, sxl = 0, sx2 = 0;
    for (int i = 0; i < n; i++) {
        double wi = w[i], l = L[i], xi = x[i];
        sw += wi, sl += wi * l, sl2 += wi * l * l, sx += wi * xi, sxl += wi * xi * l, sx2 += wi * xi * xi;
    }
    double det = sw * sl2 - sl * sl;
    double dd = 0, mm = sw > 0 ? sx / sw : 0;
    if (det > 1e-30 * sw * sl2) {
        dd = (sw * sxl - sx * sl) / det;
        mm = (sl2 * sx - sl * sxl) / det;
    }
    if (nonpos && mm > 0) {
        mm = 0;
        dd = sl2 > 0 ? sxl / sl2 : 0;
    }
    *d = (float)dd, *m = (float)mm;
    dd = *d, mm = *m;
    return dd * dd * sl2 + mm * mm * sw + sx2 + 2 * dd * mm * sl - 2 * dd * sxl - 2 * mm * sx;
}

float slm_fit_affine(int n, int hi, const float *x, const float *w, int *L, float *m, int nonpos_min) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < n; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    if (nonpos_min && mn > 0) mn = 0;
    if (!(mx - mn > FIT_EPS)) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *m = nonpos_min ? fminf(mn, 0.0f) : mn;
        return 0.0f;
    }
    int T[256];
    double best = INFINITY;
    float best_d = 0.0f, best_m = mn;
    for (int t = -10; t <= 10; t++) {
        float iscale = ((float)hi + 0.1f * (float)t) / (mx - mn);
        for (int i = 0; i < n; i++) T[i] = clampi(slm_qround(iscale * (x[i] - mn)), 0, hi);
        float d = 0.0f, mm = 0.0f;
        double err = affine_fit(n, x, w, T, nonpos_min, &d, &mm);
        if (err < best) best = err, best_d = d, best_m = mm, copy_ints(n, T, L);
    }
    for (int r = 0; r < REFINE_ROUNDS && best_d > 0.0f; r++) {
        slm_round_to_grid(n, 0, hi, x, best_d, best_m, T);
        float d = 0.0f, mm = 0.0f;
        double err = affine_fit(n, x, w, T, nonpos_min, &d, &mm);
        if (!(err < best * (1 - 1e-9))) break;
        best = err, best_d = d, best_m = mm, copy_ints(n, T, L);
    }
    *m = best_m;
    return best_d;
}

/* ---- codebook ----------------------------------------------------------- */

/* Branch-free: the index is the number of midpoints between neighbours
 * that v reaches (a tie goes up, as the binary search in ggml does). */
int slm_nearest_code(const int8_t *K, float v) {
    int idx = 0;
    for (int k = 0; k < 15; k++) idx += v >= 0.5f * (float)(K[k] + K[k + 1]);
    return idx;
}

static double code_score(int n, const int8_t *K, const float *x, const float *w, const int *idx, float *d) {
    double sxk = 0, sk2 = 0;
    for (int i = 0; i < n; i++) {
        double k = K[idx[i]];
        sxk += w[i] * x[i] * k, sk2 += w[i] * k * k;
    }
    *d = sk2 > 0 ? (float)(sxk / sk2) : 0.0f;
    return sk2 > 0 ? sxk * sxk / sk2 : 0;
}

static void round_to_codes(int n, const int8_t *K, const float *x, float d, int *idx) {
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) idx[i] = slm_nearest_code(K, id * x[i]);
}

float slm_fit_codebook(int n, const int8_t *K, const float *x, const float *w, int *idx) {
    float xm = signed_absmax(n, x);
    if (xm == 0.0f) {
        round_to_codes(n, K, x, 0.0f, idx);
        return 0.0f;
    }
    int T[256];
    double best = -1;
    float best_d = 0.0f;
    for (int e = 0; e < 2; e++) {
        float end = e == 0 ? K[0] : K[15];
        for (int t = -5; t <= 5; t++) {
            float d = xm / (end + (end > 0 ? 1.0f : -1.0f) * (float)t);
            round_to_codes(n, K, x, d, T);
            float dd = 0.0f;
            double s = code_score(n, K, x, w, T, &dd);
            if (s > best) best = s, best_d = dd, copy_ints(n, T, idx);
        }
    }
    for (int r = 0; r < REFINE_ROUNDS && best_d != 0.0f; r++) {
        round_to_codes(n, K, x, best_d, T);
        float d = 0.0f;
        double s = code_score(n, K, x, w, T, &d);
        if (!(s > best * (1 + 1e-9))) break;
        best = s, best_d = d, copy_ints(n, T, idx);
    }
    return best_d;
}
