/* test_rope.c - RoPE angles and both pair layouts against values worked out
 * by hand. */
#include <math.h>

#include "model/rope.h"
#include "testutil.h"

#define EPS 1e-6

/* n_rot 4, base 100: theta_i = pos * 100^(-2i/4) = pos * {1, 0.1}. */
static void test_angles(void **state) {
    (void)state;
    float c[2], s[2];
    slm_rope_angles(3, 4, 100.0f, 1.0f, NULL, c, s);
    assert_float_equal(c[0], cos(3.0), EPS);
    assert_float_equal(s[0], sin(3.0), EPS);
    assert_float_equal(c[1], cos(0.3), EPS);
    assert_float_equal(s[1], sin(0.3), EPS);
    slm_rope_angles(0, 4, 100.0f, 1.0f, NULL, c, s);
    assert_float_equal(c[0], 1.0, 0);
    assert_float_equal(s[1], 0.0, 0);
}

/* Linear scaling divides positions by the factor; rope_freqs divide each theta_i. */
static void test_scaling(void **state) {
    (void)state;
    float c[2], s[2];
    slm_rope_angles(4, 4, 100.0f, 0.25f, NULL, c, s); /* factor 4: position 4 acts as 1 */
    assert_float_equal(s[0], sin(1.0), EPS);
    assert_float_equal(s[1], sin(0.1), EPS);
    const float freqs[2] = {2.0f, 8.0f};
    slm_rope_angles(4, 4, 100.0f, 1.0f, freqs, c, s);
    assert_float_equal(s[0], sin(2.0), EPS);
    assert_float_equal(s[1], sin(0.05), EPS);
}

/* One head of 6 with n_rot 4 (the last 2 dimensions are not rotated). */
static void test_norm_and_neox(void **state) {
    (void)state;
    const float c[2] = {0.0f, 0.6f}, s[2] = {1.0f, 0.8f}; /* 90 degrees; cos 0.6 sin 0.8 */
    float x[6] = {1, 2, 3, 4, 5, 6};
    slm_rope_apply(x, 1, 6, 4, SLM_ROPE_NORM, c, s);
    /* pairs (x0,x1) by 90deg: (-2, 1); (x2,x3): (3*.6-4*.8, 3*.8+4*.6) = (-1.4, 4.8) */
    const float norm[6] = {-2, 1, -1.4f, 4.8f, 5, 6};
    for (int i = 0; i < 6; i++) assert_float_equal(x[i], norm[i], EPS);

    float y[6] = {1, 2, 3, 4, 5, 6};
    slm_rope_apply(y, 1, 6, 4, SLM_ROPE_NEOX, c, s);
    /* pairs (y0,y2) by 90deg: (-3, 1); (y1,y3): (2*.6-4*.8, 2*.8+4*.6) = (-2, 4) */
    const float neox[6] = {-3, -2, 1, 4, 5, 6};
    for (int i = 0; i < 6; i++) assert_float_equal(y[i], neox[i], EPS);
}

/* Every head is rotated the same way. */
static void test_heads(void **state) {
    (void)state;
    const float c[1] = {0.0f}, s[1] = {1.0f};
    float x[4] = {1, 2, 3, 4};
    slm_rope_apply(x, 2, 2, 2, SLM_ROPE_NORM, c, s);
    const float want[4] = {-2, 1, -4, 3};
    for (int i = 0; i < 4; i++) assert_float_equal(x[i], want[i], EPS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_angles),
        cmocka_unit_test(test_scaling),
        cmocka_unit_test(test_norm_and_neox),
        cmocka_unit_test(test_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
