/* testutil.h - helpers shared by the cmocka unit tests. */
#ifndef SLM_TESTUTIL_H
#define SLM_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "slm.h"

/* The shared test data folder: $SLM_TEST_DATA, default ../shared next to the
 * source tree. */
const char *slm_test_data_dir(void);
/* True when running in CI (CI=true): missing shared data is then a failure. */
bool slm_test_in_ci(void);
/* Writes "<data dir>/<rel>" into buf; true if that file exists. */
bool slm_test_find(char *buf, size_t cap, const char *rel);

/* Locates a shared file or skips the test (fails in CI). */
#define SLM_REQUIRE_DATA(buf, rel)                                                        \
    do {                                                                                  \
        if (!slm_test_find((buf), sizeof(buf), (rel))) {                                  \
            if (slm_test_in_ci()) fail_msg("missing test data %s (CI=true)", (buf));      \
            print_message("[  SKIP    ] %s not found (set SLM_TEST_DATA)\n", (buf));      \
            skip();                                                                       \
        }                                                                                 \
    } while (0)

/* A fresh temporary directory (removed by slm_test_rmtree). */
char *slm_test_tmpdir(void);
void slm_test_rmtree(const char *path);
/* Reads a whole file into a malloc'ed, NUL-terminated buffer. */
char *slm_test_read_file(const char *path, size_t *len);
bool slm_test_write_file(const char *path, const void *data, size_t len);

/* Asserts s == SLM_OK, printing the error message otherwise. */
#define SLM_ASSERT_OK(call, errp)                                                         \
    do {                                                                                  \
        slm_status st__ = (call);                                                         \
        if (st__ != SLM_OK) fail_msg("%s failed: %s", #call, (errp)->message);            \
    } while (0)

#endif
