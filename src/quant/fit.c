/* fit.c - weighted least-squares fits to integer grids (see fit.h). */
#include "quant/fit.h"

#include <math.h>

#define FIT_EPS 1e-30f
#define REFINE_ROUNDS 6

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The element of largest magnitude (signed); 0 when all are ~0.  The
 * maximum and minimum are found by halving (like tree_sum below) so that
 * gcc vectorizes the loops. */
static float signed_absmax(int n, const float *x) {
    if (n <= 0) return 0.0f;
    float hi[256], lo[256];
    int h = n;
    if (h % 2 == 0 && h >= 8) {
        h /= 2;
        for (int i = 0; i < h; i++) {
            float a = x[i], b = x[i + h];
            hi[i] = a > b ? a : b;
            lo[i] = a < b ? a : b;
        }
    } else {
        for (int i = 0; i < h; i++) hi[i] = lo[i] = x[i];
    }
    while (h > 4 && h % 2 == 0) {
        h /= 2;
        for (int i = 0; i < h; i++) {
            hi[i] = hi[i] > hi[i + h] ? hi[i] : hi[i + h];
            lo[i] = lo[i] < lo[i + h] ? lo[i] : lo[i + h];
        }
    }
    float mx = x[0], mn = x[0];
    for (int i = 0; i < h; i++) mx = hi[i] > mx ? hi[i] : mx, mn = lo[i] < mn ? lo[i] : mn;
    float xm = -mn > mx ? mn : mx;
    return fabsf(xm) < FIT_EPS ? 0.0f : xm;
}

/* Round to nearest even in float (the 1.5 * 2^23 trick; |v| < 2^22). */
static float round_f(float v) { return (v + 12582912.0f) - 12582912.0f; }

/* Clamping before rounding gives the same integer as rounding first (the
 * bounds are integers and rounding is monotone), and keeps |v| small. */
static float clamp_f(float v, float lo, float hi) {
    v = v > lo ? v : lo; /* a NaN becomes lo */
    return v < hi ? v : hi;
}

void slm_round_to_grid(int n, int lo, int hi, const float *x, float d, float m, int *L) {
    if (d == 0.0f) {
        for (int i = 0; i < n; i++) L[i] = clampi(0, lo, hi);
        return;
    }
    float id = 1.0f / d, flo = (float)lo, fhi = (float)hi;
    for (int i = 0; i < n; i++) L[i] = (int)round_f(clamp_f((x[i] - m) * id, flo, fhi));
}

/* ---- symmetric grid -----------------------------------------------------
 * For a fixed rounding L the best d is sxl/sl2 and the error drops by
 * sxl^2/sl2, so that is the score to maximise. */

static void copy_ints(int n, const int *a, int *b) {
    for (int i = 0; i < n; i++) b[i] = a[i];
}

/* The integer grid value of iscale * x, as round_f and clamp_f give it. */
static void sym_round(int n, int lo, int hi, const float *x, float iscale, int *L) {
    for (int i = 0; i < n; i++) L[i] = (int)round_f(clamp_f(iscale * x[i], (float)lo, (float)hi));
}

/* Sums p[0..n) in place by halving (p[i] += p[i + h]): every step is a
 * plain element-wise loop that gcc vectorizes at -O3, where a running sum
 * would stay scalar (float addition does not reassociate). */
static inline float tree_sum(int n, float *p) {
    int h = n;
    while (h > 4 && h % 2 == 0) {
        h /= 2;
        for (int i = 0; i < h; i++) p[i] += p[i + h];
    }
    float s = 0.0f;
    for (int i = 0; i < h; i++) s += p[i];
    return s;
}

/* Scores the rounding of x * iscale into [lo, hi] (wx = w * x): returns
 * sxl^2 / sl2 and sets the best scale sxl / sl2.  Called 10-15 times per
 * group, it is most of the time `slm quantize` takes, so it is written for
 * gcc to vectorize at -O3: branch-free, and each pass handles the four
 * quarters of the group at once (one partial sum per column, then
 * tree_sum), which leaves few sums to store and reload. */
static inline float sym_candidate_n(int n, float lo, float hi, const float *restrict x, const float *restrict w,
                                    const float *restrict wx, float iscale, float *d) {
    float p[256], q[256];
    int m = n % 4 == 0 ? n / 4 : 0;
    for (int i = 0; i < m; i++) {
        float l0 = round_f(clamp_f(iscale * x[i], lo, hi));
        float l1 = round_f(clamp_f(iscale * x[i + m], lo, hi));
        float l2 = round_f(clamp_f(iscale * x[i + 2 * m], lo, hi));
        float l3 = round_f(clamp_f(iscale * x[i + 3 * m], lo, hi));
        p[i] = (wx[i] * l0 + wx[i + m] * l1) + (wx[i + 2 * m] * l2 + wx[i + 3 * m] * l3);
        q[i] = (w[i] * l0 * l0 + w[i + m] * l1 * l1) + (w[i + 2 * m] * l2 * l2 + w[i + 3 * m] * l3 * l3);
    }
    int k = m;
    for (int i = 4 * m; i < n; i++, k++) { /* n % 4 != 0: one element a column */
        float l = round_f(clamp_f(iscale * x[i], lo, hi));
        p[k] = wx[i] * l;
        q[k] = w[i] * l * l;
    }
    float a = tree_sum(k, p), b = tree_sum(k, q);
    *d = b > 0.0f ? a / b : 0.0f;
    return b > 0.0f ? a * a / b : 0.0f;
}

/* The group sizes of the block types get their own copies, with every loop
 * bound known (unrolled, no remainder code). */
static float sym_candidate(int n, float lo, float hi, const float *x, const float *w, const float *wx, float iscale,
                           float *d) {
    if (n == 32) return sym_candidate_n(32, lo, hi, x, w, wx, iscale, d);
    if (n == 16) return sym_candidate_n(16, lo, hi, x, w, wx, iscale, d);
    return sym_candidate_n(n, lo, hi, x, w, wx, iscale, d);
}

float slm_fit_sym(int n, int lo, int hi, const float *x, const float *w, int *L, bool wide) {
    float xm = signed_absmax(n, x);
    if (xm == 0.0f) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float wx[256];
    for (int i = 0; i < n; i++) wx[i] = w[i] * x[i];
    float flo = (float)lo, fhi = (float)hi;
    double best = -1;
    float best_d = 0.0f, best_is = 0.0f;
    const int ends[2] = {hi, lo};
    /* Targets for the largest |x| within half a step of each end: 5 per end
     * on coarse grids, 3 on 5- and 6-bit ones, 1 on 8-bit ones, which gain
     * little from a wide search.  (Measured on Gaussian groups: 11 candidates
     * a group in all, plus the refinement, lose 0.03% of the weighted error
     * that 23 reach on 4- and 5-bit grids.) */
    int ntry = hi <= 15 ? 2 : hi < 127 ? 1 : 0;
    float step = 0.25f;
    /* wide: targets within a whole step of each end, 11 per end on coarse
     * grids (Q5_0 with an imatrix: -3.5% KLD on stories260K Q4_K_M). */
    if (wide) ntry = hi <= 15 ? 5 : hi < 127 ? 3 : 1, step = 1.0f / (float)ntry;
    for (int e = 0; e < 2; e++) {
        if (ends[e] == 0) continue;
        for (int t = -ntry; t <= ntry; t++) {
            float target = (float)ends[e] + (ends[e] > 0 ? step : -step) * (float)t;
            if (fabsf(target) < 0.5f) continue;
            float d = 0.0f, is = target / xm;
            double s = sym_candidate(n, flo, fhi, x, w, wx, is, &d);
            if (s > best) best = s, best_d = d, best_is = is;
        }
    }
    for (int r = 0; r < REFINE_ROUNDS && best_d != 0.0f; r++) {
        float d = 0.0f, is = 1.0f / best_d;
        double s = sym_candidate(n, flo, fhi, x, w, wx, is, &d);
        if (!(s > best * (1 + 1e-6))) break;
        best = s, best_d = d, best_is = is;
    }
    /* The integers are those of the winning candidate (scored, not kept). */
    sym_round(n, lo, hi, x, best_is, L);
    return best_d;
}

/* ---- affine grid -------------------------------------------------------- */

/* The moments of a group that do not depend on the rounding. */
typedef struct affine_moments {
    double sw, sx, sx2;
} affine_moments;

/* The moments that do (sl = sum w L, sl2 = sum w L^2, sxl = sum w x L) for
 * L = round((x - o) * is) clamped to [0, hi]; vectorized like sym_candidate. */
static inline void affine_candidate_n(int n, float hi, const float *restrict x, const float *restrict w,
                                      const float *restrict wx, float o, float is, double *sl, double *sl2,
                                      double *sxl) {
    float a[256], b[256], c[256];
    int m = n % 4 == 0 ? n / 4 : 0;
    for (int i = 0; i < m; i++) {
        float l0 = round_f(clamp_f((x[i] - o) * is, 0.0f, hi));
        float l1 = round_f(clamp_f((x[i + m] - o) * is, 0.0f, hi));
        float l2 = round_f(clamp_f((x[i + 2 * m] - o) * is, 0.0f, hi));
        float l3 = round_f(clamp_f((x[i + 3 * m] - o) * is, 0.0f, hi));
        float a0 = w[i] * l0, a1 = w[i + m] * l1, a2 = w[i + 2 * m] * l2, a3 = w[i + 3 * m] * l3;
        a[i] = (a0 + a1) + (a2 + a3);
        b[i] = (a0 * l0 + a1 * l1) + (a2 * l2 + a3 * l3);
        c[i] = (wx[i] * l0 + wx[i + m] * l1) + (wx[i + 2 * m] * l2 + wx[i + 3 * m] * l3);
    }
    int k = m;
    for (int i = 4 * m; i < n; i++, k++) {
        float l = round_f(clamp_f((x[i] - o) * is, 0.0f, hi));
        a[k] = w[i] * l, b[k] = a[k] * l, c[k] = wx[i] * l;
    }
    *sl = tree_sum(k, a), *sl2 = tree_sum(k, b), *sxl = tree_sum(k, c);
}

static void affine_candidate(int n, float hi, const float *x, const float *w, const float *wx, float o, float is,
                             double *sl, double *sl2, double *sxl) {
    if (n == 32) affine_candidate_n(32, hi, x, w, wx, o, is, sl, sl2, sxl);
    else affine_candidate_n(n, hi, x, w, wx, o, is, sl, sl2, sxl);
}

/* Weighted least squares for x ~ d*L + m; returns the error, from the
 * moments alone (no second pass). */
static double affine_fit(const affine_moments *mo, double sl, double sl2, double sxl, int nonpos, float *d, float *m) {
    double sw = mo->sw, sx = mo->sx, sx2 = mo->sx2;
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

float slm_fit_affine(int n, int hi, const float *x, const float *w, int *L, float *m, int nonpos_min, bool wide) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < n; i++) mn = x[i] < mn ? x[i] : mn, mx = x[i] > mx ? x[i] : mx;
    if (nonpos_min && mn > 0) mn = 0;
    if (!(mx - mn > FIT_EPS)) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *m = nonpos_min ? fminf(mn, 0.0f) : mn;
        return 0.0f;
    }
    float wx[256];
    affine_moments mo = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        double wi = w[i], xi = x[i];
        wx[i] = w[i] * x[i];
        mo.sw += wi, mo.sx += wi * xi, mo.sx2 += wi * xi * xi;
    }
    float fhi = (float)hi;
    double best = INFINITY, sl = 0, sl2 = 0, sxl = 0;
    float best_d = 0.0f, best_m = mn, best_o = mn, best_is = 0.0f;
    /* Scales that map the range to hi +- 1: 11 on 4-bit grids (21 gain 0.2%
     * of the error), 21 on finer ones (where the 0.2% showed in the KLD). */
    int ntry = hi <= 15 && !wide ? 5 : 10;
    for (int t = -ntry; t <= ntry; t++) {
        float is = ((float)hi + (1.0f / (float)ntry) * (float)t) / (mx - mn);
        affine_candidate(n, fhi, x, w, wx, mn, is, &sl, &sl2, &sxl);
        float d = 0.0f, mm = 0.0f;
        double err = affine_fit(&mo, sl, sl2, sxl, nonpos_min, &d, &mm);
        if (err < best) best = err, best_d = d, best_m = mm, best_o = mn, best_is = is;
    }
    for (int r = 0; r < REFINE_ROUNDS && best_d > 0.0f; r++) {
        float o = best_m, is = 1.0f / best_d;
        affine_candidate(n, fhi, x, w, wx, o, is, &sl, &sl2, &sxl);
        float d = 0.0f, mm = 0.0f;
        double err = affine_fit(&mo, sl, sl2, sxl, nonpos_min, &d, &mm);
        if (!(err < best * (1 - 1e-9))) break;
        best = err, best_d = d, best_m = mm, best_o = o, best_is = is;
    }
    for (int i = 0; i < n; i++) L[i] = (int)round_f(clamp_f((x[i] - best_o) * best_is, 0.0f, fhi));
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
