/* test_chat_template.c - chat formats against real templates: each case
 * detects the family from a shipped template file and renders the
 * conversations of ../shared/reference/templates/renders.json, which must
 * equal what llama.cpp's Jinja engine produced (its leading BOS removed). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/chat_template.h"
#include "testutil.h"

typedef struct render_case {
    const char *file;
    chat_family family;
    const char *conversations; /* space-separated names that must match exactly */
} render_case;

/* Conversations left out differ only by a default system prompt or a
 * reasoning preamble that those templates add on their own. */
static const render_case CASES[] = {
    {"Qwen-Qwen3-0.6B.jinja", CHAT_CHATML, "system_user multi_turn user_only"},
    {"LFM2.5-Instruct.jinja", CHAT_CHATML, "system_user multi_turn user_only"},
    {"Qwen-Qwen2.5-7B-Instruct.jinja", CHAT_CHATML, "system_user"},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", CHAT_LLAMA31, "system_user multi_turn user_only"},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", CHAT_LLAMA31, "system_user multi_turn user_only"},
    {"google-gemma-2-2b-it.jinja", CHAT_GEMMA, "system_user multi_turn user_only"},
    {"microsoft-Phi-3.5-mini-instruct.jinja", CHAT_PHI3, "system_user multi_turn user_only"},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", CHAT_MISTRAL_NEMO, "system_user multi_turn user_only"},
    {"Mistral-Small-3.2-24B-Instruct-2506.jinja", CHAT_MISTRAL_V7, "system_user"},
    {"unsloth-mistral-Devstral-Small-2507.jinja", CHAT_MISTRAL_V7, "system_user"},
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", CHAT_DEEPSEEK, "system_user multi_turn user_only"},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", CHAT_DEEPSEEK, "system_user multi_turn user_only"},
};

static json_t *load_renders(void) {
    char path[1024];
    SLM_REQUIRE_DATA(path, "reference/templates/renders.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fail_msg("%s: %s", path, jerr.text);
    return root;
}

static size_t to_messages(json_t *conv, chat_message *out, size_t cap) {
    json_t *msgs = json_object_get(conv, "messages");
    size_t n = json_array_size(msgs);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        assert_true(chat_role_parse(json_string_value(json_object_get(m, "role")), &out[i].role));
        out[i].content = json_string_value(json_object_get(m, "content"));
    }
    return n;
}

static struct tm render_day(json_t *root) {
    struct tm tm = {0};
    const char *day = json_string_value(json_object_get(root, "rendered_on"));
    assert_non_null(day);
    assert_int_equal(sscanf(day, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return tm;
}

static void test_real_templates(void **state) {
    (void)state;
    json_t *root = load_renders();
    struct tm today = render_day(root);
    char dir[1024];
    SLM_REQUIRE_DATA(dir, "reference/templates");
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, CASES[c].file);
        char *tmpl = slm_test_read_file(path, NULL);
        assert_non_null(tmpl);
        chat_template t = chat_template_detect(tmpl, "</s>");
        free(tmpl);
        if (!t.recognised || t.family != CASES[c].family)
            fail_msg("%s: detected %s, expected %s", CASES[c].file, chat_family_name(t.family),
                     chat_family_name(CASES[c].family));
        json_t *renders = json_object_get(json_object_get(root, "renders"), CASES[c].file);
        assert_non_null(renders);
        char names[128];
        snprintf(names, sizeof names, "%s", CASES[c].conversations);
        for (char *save = NULL, *name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
            chat_message msgs[8];
            size_t n = to_messages(json_object_get(json_object_get(root, "conversations"), name), msgs, 8);
            char *got = chat_render(&t, msgs, n, &today);
            const char *want = json_string_value(json_object_get(renders, name));
            assert_non_null(got);
            assert_non_null(want);
            if (strcmp(got, want)) fail_msg("%s / %s:\n got: %s\nwant: %s", CASES[c].file, name, got, want);
            free(got);
        }
    }
    json_decref(root);
}

/* Templates nobody recognises fall back to ChatML, flagged for the warning. */
static void test_fallback(void **state) {
    (void)state;
    chat_template none = chat_template_detect(NULL, NULL);
    assert_false(none.recognised);
    assert_int_equal(none.family, CHAT_CHATML);
    chat_template odd = chat_template_detect("{{ messages[0].content }}", "</s>");
    assert_false(odd.recognised);
    chat_message m[] = {{CHAT_ROLE_SYSTEM, "S"}, {CHAT_ROLE_USER, "U"}};
    char *got = chat_render(&odd, m, 2, NULL);
    assert_string_equal(got, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    free(got);
}

/* Families without a reference render here, written from their templates. */
static void test_llama2_zephyr_mistral(void **state) {
    (void)state;
    chat_message m[] = {{CHAT_ROLE_SYSTEM, "S"}, {CHAT_ROLE_USER, "Hi"}, {CHAT_ROLE_ASSISTANT, "Yo"},
                        {CHAT_ROLE_USER, "Joke"}};
    chat_template l2 = chat_template_detect("{% if x %}<<SYS>>\\n{% endif %}[INST]", "</s>");
    assert_int_equal(l2.family, CHAT_LLAMA2);
    char *got = chat_render(&l2, m, 4, NULL);
    assert_string_equal(got, "[INST] <<SYS>>\nS\n<</SYS>>\n\nHi [/INST] Yo </s><s>[INST] Joke [/INST]");
    free(got);
    chat_template z = chat_template_detect("{{ '<|user|>\\n' + message['content'] + eos_token }}<|assistant|>", "</s>");
    assert_int_equal(z.family, CHAT_ZEPHYR);
    got = chat_render(&z, m, 4, NULL);
    assert_string_equal(got, "<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\nYo</s>\n<|user|>\nJoke</s>\n<|assistant|>\n");
    free(got);
    chat_template mi = chat_template_detect("{{ '[INST] ' + content + '[/INST]' }}", "</s>");
    assert_int_equal(mi.family, CHAT_MISTRAL);
    got = chat_render(&mi, m, 4, NULL);
    assert_string_equal(got, "[INST] Hi[/INST] Yo</s>[INST] S\n\nJoke[/INST]");
    free(got);
    chat_template l3 = chat_template_detect("<|start_header_id|>", NULL);
    assert_int_equal(l3.family, CHAT_LLAMA3);
    got = chat_render(&l3, m + 1, 1, NULL);
    assert_string_equal(got, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(got);
}

static void test_roles(void **state) {
    (void)state;
    chat_role r = CHAT_ROLE_SYSTEM;
    assert_true(chat_role_parse("assistant", &r));
    assert_int_equal(r, CHAT_ROLE_ASSISTANT);
    assert_false(chat_role_parse("tool", &r));
    assert_false(chat_role_parse("User", &r));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_templates),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_llama2_zephyr_mistral),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
