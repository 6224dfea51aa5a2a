/* test_gguf_read.c - the GGUF reader on the real files in the shared data. */
#include <string.h>

#include "testutil.h"

static void test_stories260k(void **state) {
    (void)state;
    char path[4096];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    assert_int_equal(slm_gguf_version(g), 3);
    assert_int_equal(slm_gguf_n_keys(g), 19);
    assert_int_equal(slm_gguf_n_tensors(g), 48);
    assert_int_equal(slm_gguf_data_offset(g), 14176);
    assert_int_equal(slm_gguf_alignment(g), 32);
    uint32_t n;
    SLM_ASSERT_OK(slm_gguf_get_u32(g, "llama.block_count", &n, &err), &err);
    assert_int_equal(n, 5);
    slm_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
