/* cmocka.h - a stand-in for the few cmocka calls test_kernels.c makes, for
 * the aarch64 cross build (scripts/test-arm64), where no arm64 cmocka is
 * installed.  Same names and meaning; a failed check ends the test with a
 * message and the run with exit status 1. */
#ifndef SLM_ARM64_CMOCKA_H
#define SLM_ARM64_CMOCKA_H

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

struct CMUnitTest {
    const char *name;
    void (*fn)(void **state);
};

static jmp_buf cm_fail_jump;

#define cmocka_unit_test(f) {#f, f}
#define fail_msg(...)                                                   \
    do {                                                                \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                 \
        fprintf(stderr, __VA_ARGS__);                                   \
        fputc('\n', stderr);                                            \
        longjmp(cm_fail_jump, 1);                                       \
    } while (0)
#define assert_true(c) \
    do {               \
        if (!(c)) fail_msg("assertion failed: %s", #c); \
    } while (0)
#define assert_non_null(p) assert_true((p) != NULL)
#define assert_int_equal(a, b) assert_true((long long)(a) == (long long)(b))
#define assert_memory_equal(a, b, n) assert_true(memcmp((a), (b), (n)) == 0)

static int cm_run(const struct CMUnitTest *t, size_t n, int (*setup)(void **), int (*teardown)(void **)) {
    void *state = NULL;
    int failed = 0;
    if (setup && setup(&state) != 0) return 1;
    for (size_t i = 0; i < n; i++) {
        printf("[ RUN      ] %s\n", t[i].name);
        if (setjmp(cm_fail_jump) == 0) {
            t[i].fn(&state);
            printf("[       OK ] %s\n", t[i].name);
        } else {
            printf("[  FAILED  ] %s\n", t[i].name);
            failed++;
        }
    }
    if (teardown) teardown(&state);
    printf("%s: %zu test(s), %d failed\n", failed ? "FAILED" : "PASSED", n, failed);
    return failed ? 1 : 0;
}
#define cmocka_run_group_tests(tests, setup, teardown) cm_run(tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif
