/* test_tokenizer_cli.c - `slm tokenize`, run as a program ($SLM_BIN). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

/* Runs a shell command; returns its exit status and its stdout in out. */
static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *slm_bin(void) {
    const char *bin = getenv("SLM_BIN");
    if (!bin || !*bin) {
        print_message("[  SKIP    ] SLM_BIN is not set\n");
        skip();
    }
    return bin;
}

static void test_tokenize_ids_and_pieces(void **state) {
    (void)state;
    char model[1024], cmd[4096], out[4096];
    SLM_REQUIRE_DATA(model, "models/stories260K.gguf");
    const char *bin = slm_bin();
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --ids 'Hello world' 2>/dev/null", bin, model);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_memory_equal(out, "[1, ", 4); /* BOS first */
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --ids --no-bos -p 'Hello world' 2>/dev/null", bin, model);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_true(out[0] == '[' && strncmp(out, "[1,", 3) != 0);
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --parse-special '</s>' 2>/dev/null", bin, model);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_string_equal(out, "1\t'<s>'\n2\t'</s>'\n");
}

static void test_tokenize_errors(void **state) {
    (void)state;
    char model[1024], cmd[4096], out[4096];
    SLM_REQUIRE_DATA(model, "models/stories260K.gguf");
    const char *bin = slm_bin();
    snprintf(cmd, sizeof cmd, "'%s' tokenize 'text' 2>&1", bin);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "missing -m"));
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m /nonexistent.gguf 'text' 2>&1", bin);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "/nonexistent.gguf"));
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --bogus 'text' 2>&1", bin, model);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "--bogus"));
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' -f /nonexistent.txt 2>&1", bin, model);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "/nonexistent.txt"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_ids_and_pieces),
        cmocka_unit_test(test_tokenize_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
