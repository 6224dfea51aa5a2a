/* test_server_format.c - stop strings (also split across tokens), OpenAI
 * response and chunk shapes, error bodies, SSE frames and lossy UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "server/oai_format.h"
#include "server/stop.h"
#include "testutil.h"

static void test_stop_found(void **state) {
    (void)state;
    char *stops[] = {"world", "\n\n"};
    stop_result r = stop_scan(stops, 2, "hello world!", 12, 0);
    assert_true(r.found);
    assert_int_equal(r.at, 6);
    r = stop_scan(stops, 2, "a\n\nb world", 10, 0);
    assert_true(r.found);
    assert_int_equal(r.at, 1); /* the earliest of several */
}

/* "wor" may become "world": it is held back until a later token decides. */
static void test_stop_split_across_tokens(void **state) {
    (void)state;
    char *stops[] = {"world"};
    const char *text = "hello world";
    stop_result r = stop_scan(stops, 1, text, 9, 6); /* "hello wor" after the token "wor" */
    assert_false(r.found);
    assert_int_equal(r.safe, 6);
    r = stop_scan(stops, 1, text, 11, 9); /* then "ld" */
    assert_true(r.found);
    assert_int_equal(r.at, 6);
    r = stop_scan(stops, 1, "hello worm", 10, 9); /* not a stop after all: all released */
    assert_false(r.found);
    assert_int_equal(r.safe, 10);
}

/* Matches lying wholly in the text already scanned are not reported again,
 * but one that starts there and ends in the new text is. */
static void test_stop_from(void **state) {
    (void)state;
    char *stops[] = {"abc"};
    stop_result r = stop_scan(stops, 1, "xxabcx", 6, 6);
    assert_false(r.found);
    r = stop_scan(stops, 1, "xxabc", 5, 4);
    assert_true(r.found);
    assert_int_equal(r.at, 2);
    r = stop_scan(NULL, 0, "anything", 8, 0);
    assert_false(r.found);
    assert_int_equal(r.safe, 8);
}

static json_t *parse(const strbuf *b, size_t skip) {
    json_error_t e;
    json_t *j = json_loadb(b->data + skip, b->len - skip - 2, 0, &e);
    if (!j) fail_msg("bad JSON in SSE frame: %s", e.text);
    return j;
}

static void test_shapes(void **state) {
    (void)state;
    oai_meta m = {REQ_CHAT, "chatcmpl-1", 1700000000, "model.gguf"};
    oai_usage u = {10, 5, 3};
    json_t *r = oai_response(&m, "Hi", 2, "stop", &u, NULL);
    json_t *choice = json_array_get(json_object_get(r, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(json_object_get(choice, "message"), "content")), "Hi");
    assert_string_equal(json_string_value(json_object_get(json_object_get(choice, "message"), "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "stop");
    assert_true(json_is_null(json_object_get(choice, "logprobs")));
    json_t *usage = json_object_get(r, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 15);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(usage, "prompt_tokens_details"), "cached_tokens")), 3);
    json_decref(r);

    oai_meta mc = {REQ_COMPLETION, "cmpl-1", 1, "m"};
    r = oai_response(&mc, "abc", 3, "length", &u, NULL);
    choice = json_array_get(json_object_get(r, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "text_completion");
    assert_string_equal(json_string_value(json_object_get(choice, "text")), "abc");
    json_decref(r);
}

static void test_chunks_and_sse(void **state) {
    (void)state;
    oai_meta m = {REQ_CHAT, "chatcmpl-2", 1, "m"};
    strbuf b;
    sb_init(&b);
    json_t *c = oai_chunk(&m, "", 0, true, NULL, NULL);
    sse_event(&b, c);
    json_decref(c);
    assert_memory_equal(b.data, "data: {", 7);
    assert_memory_equal(b.data + b.len - 2, "\n\n", 2);
    json_t *j = parse(&b, 6);
    json_t *delta = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
    assert_string_equal(json_string_value(json_object_get(delta, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion.chunk");
    json_decref(j);

    c = oai_chunk(&m, NULL, 0, false, "length", NULL);
    json_t *choice = json_array_get(json_object_get(c, "choices"), 0);
    assert_int_equal(json_object_size(json_object_get(choice, "delta")), 0);
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "length");
    json_decref(c);

    oai_usage u = {1, 2, 0};
    c = oai_usage_chunk(&m, &u);
    assert_int_equal(json_array_size(json_object_get(c, "choices")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "usage"), "completion_tokens")), 2);
    json_decref(c);
    assert_string_equal(SSE_DONE, "data: [DONE]\n\n");
    sb_free(&b);
}

static void test_error_body(void **state) {
    (void)state;
    json_t *e = oai_error("bad \xff thing", "invalid_request_error", "invalid_request");
    json_t *err = json_object_get(e, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "bad \xef\xbf\xbd thing");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "invalid_request");
    json_decref(e);
    e = oai_error("x", "server_error", NULL);
    assert_true(json_is_null(json_object_get(json_object_get(e, "error"), "code")));
    json_decref(e);
}

/* Half a UTF-8 character (one byte-fallback token) becomes U+FFFD. */
static void test_lossy(void **state) {
    (void)state;
    json_t *s = json_string_lossy("a\xe2\x82", 3);
    assert_string_equal(json_string_value(s), "a\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(s);
    s = json_string_lossy("\xe2\x82\xac", 3);
    assert_string_equal(json_string_value(s), "\xe2\x82\xac");
    json_decref(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_found), cmocka_unit_test(test_stop_split_across_tokens),
        cmocka_unit_test(test_stop_from), cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_chunks_and_sse), cmocka_unit_test(test_error_body), cmocka_unit_test(test_lossy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
