/* test_server_request.c - request bodies of /v1/completions and
 * /v1/chat/completions: accepted fields, defaults, and a clear 400
 * message for each kind of bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"
#include "testutil.h"

#define N_VOCAB 512

static bool parse(const char *body, req_kind kind, gen_request *r, char *msg) {
    return request_parse(body, strlen(body), kind, N_VOCAB, r, msg, 512);
}

/* The body must be rejected with a message containing want. */
static void expect_error(const char *body, req_kind kind, const char *want) {
    gen_request r;
    char msg[512] = "";
    if (parse(body, kind, &r, msg)) fail_msg("accepted: %s", body);
    if (!strstr(msg, want)) fail_msg("message for %s is \"%s\"; expected it to mention \"%s\"", body, msg, want);
    assert_null(r.messages);
    assert_null(r.prompt);
}

static void test_chat_fields(void **state) {
    (void)state;
    gen_request r;
    char msg[512];
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
                       "\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":5,\"min_p\":0.1,\"seed\":42,"
                       "\"stop\":[\"x\",\"yz\"],\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"repetition_penalty\":1.1,"
                       "\"logit_bias\":{\"3\":2,\"4\":-100},\"logprobs\":true,\"top_logprobs\":2,\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true},\"n\":1,\"user\":\"ignored\"}";
    assert_true(parse(body, REQ_CHAT, &r, msg));
    assert_int_equal(r.n_messages, 2);
    assert_int_equal(r.messages[0].role, CHAT_ROLE_SYSTEM);
    assert_string_equal(r.messages[1].content, "ab");
    assert_int_equal(r.max_tokens, 7);
    assert_float_equal(r.sampling.temperature, 0.5, 1e-6);
    assert_float_equal(r.sampling.top_p, 0.9, 1e-6);
    assert_int_equal(r.sampling.top_k, 5);
    assert_float_equal(r.sampling.repeat_penalty, 1.1, 1e-6);
    assert_true(r.has_seed);
    assert_int_equal(r.sampling.seed, 42);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "yz");
    assert_int_equal(r.sampling.n_logit_bias, 2);
    assert_int_equal(r.sampling.logit_bias[0].token, 3);
    assert_true(isinf(r.sampling.logit_bias[1].bias)); /* -100 bans */
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 2);
    assert_true(r.stream && r.include_usage);
    request_free(&r);
}

static void test_defaults(void **state) {
    (void)state;
    gen_request r;
    char msg[512];
    assert_true(parse("{\"prompt\":\"hi\",\"stop\":null,\"seed\":null,\"max_tokens\":null}", REQ_COMPLETION, &r, msg));
    slm_sampler_params d = slm_sampler_default_params();
    assert_string_equal(r.prompt, "hi");
    assert_int_equal(r.max_tokens, -1);
    assert_false(r.has_seed || r.stream || r.logprobs);
    assert_float_equal(r.sampling.temperature, d.temperature, 0);
    assert_int_equal(r.n_stop, 0);
    request_free(&r);
}

static void test_prompt_forms(void **state) {
    (void)state;
    gen_request r;
    char msg[512];
    assert_true(parse("{\"prompt\":[\"one\"]}", REQ_COMPLETION, &r, msg));
    assert_string_equal(r.prompt, "one");
    request_free(&r);
    assert_true(parse("{\"prompt\":[1,2,3]}", REQ_COMPLETION, &r, msg));
    assert_int_equal(r.n_prompt_ids, 3);
    assert_int_equal(r.prompt_ids[2], 3);
    request_free(&r);
    assert_true(parse("{\"prompt\":[[4,5]],\"logprobs\":3}", REQ_COMPLETION, &r, msg));
    assert_int_equal(r.n_prompt_ids, 2);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 3);
    request_free(&r);
    assert_true(parse("{\"prompt\":\"x\",\"stop\":\"\\n\",\"max_completion_tokens\":3}", REQ_COMPLETION, &r, msg));
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n");
    assert_int_equal(r.max_tokens, 3);
    request_free(&r);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("", REQ_CHAT, "invalid JSON");
    expect_error("{\"messages\": [", REQ_CHAT, "invalid JSON");
    expect_error("[]", REQ_CHAT, "JSON object");
    expect_error("{\"a\":1,\"a\":2}", REQ_CHAT, "invalid JSON");
    expect_error("{}", REQ_CHAT, "'messages' is required");
    expect_error("{\"messages\":[]}", REQ_CHAT, "non-empty");
    expect_error("{\"messages\":[1]}", REQ_CHAT, "messages[0]");
    expect_error("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", REQ_CHAT, "role");
    expect_error("{\"messages\":[{\"role\":\"user\"}]}", REQ_CHAT, "content");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", REQ_CHAT, "only text");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"\\u0000\"}]}", REQ_CHAT, "invalid JSON");
    expect_error("{\"model\":5,\"prompt\":\"x\"}", REQ_COMPLETION, "'model'");
    expect_error("{\"prompt\":\"x\",\"n\":2}", REQ_COMPLETION, "'n' is 2");
    expect_error("{\"prompt\":\"x\",\"temperature\":\"a\"}", REQ_COMPLETION, "'temperature' must be a number");
    expect_error("{\"prompt\":\"x\",\"top_p\":2}", REQ_COMPLETION, "'top_p' is 2");
    expect_error("{\"prompt\":\"x\",\"max_tokens\":0}", REQ_COMPLETION, "'max_tokens'");
    expect_error("{\"prompt\":\"x\",\"max_tokens\":2.5}", REQ_COMPLETION, "integer");
    expect_error("{\"prompt\":\"x\",\"seed\":1.5}", REQ_COMPLETION, "'seed'");
    expect_error("{\"prompt\":\"x\",\"stop\":5}", REQ_COMPLETION, "'stop'");
    expect_error("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}", REQ_COMPLETION, "at most 8");
    expect_error("{\"prompt\":\"x\",\"logit_bias\":{\"512\":1}}", REQ_COMPLETION, "not a token id");
    expect_error("{\"prompt\":\"x\",\"logit_bias\":{\"1\":500}}", REQ_COMPLETION, "outside");
    expect_error("{\"prompt\":\"x\",\"stream\":1}", REQ_COMPLETION, "'stream'");
    expect_error("{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":\"y\"}}", REQ_COMPLETION, "include_usage");
    expect_error("{\"prompt\":[\"a\",\"b\"]}", REQ_COMPLETION, "one prompt per request");
    expect_error("{\"prompt\":[1,-2]}", REQ_COMPLETION, "prompt[1]");
    expect_error("{\"prompt\":[]}", REQ_COMPLETION, "'prompt'");
    expect_error("{\"prompt\":{}}", REQ_COMPLETION, "'prompt' must be");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":3}", REQ_CHAT, "needs 'logprobs'");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":21}", REQ_CHAT,
                 "top_logprobs");
}

static void test_depth(void **state) {
    (void)state;
    char deep[200];
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"prompt\":");
    for (int i = 0; i < 40; i++) deep[n++] = '[';
    for (int i = 0; i < 40; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    expect_error(deep, REQ_COMPLETION, "nested deeper");
    assert_false(json_too_deep("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 47, 3));
    assert_true(json_too_deep("[[[[", 4, 3));
    assert_false(json_too_deep("[[[]]]", 6, 3));
    assert_false(json_too_deep("[\"\\\"[[[[\"]", 10, 1)); /* escaped quote inside a string */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_fields), cmocka_unit_test(test_defaults), cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
