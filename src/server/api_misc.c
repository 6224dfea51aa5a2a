/* api_misc.c - the small endpoints: /health, /v1/models, /props, /metrics,
 * /tokenize and /detokenize. */
#include <stdlib.h>
#include <string.h>

#include "server/oai_format.h"
#include "server/request.h"
#include "server/server.h"

enum MHD_Result api_health(server *s, struct MHD_Connection *c) {
    bool ready = atomic_load(&s->ready);
    return reply_json(s, c, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ok" : "loading model"));
}

enum MHD_Result api_models(server *s, struct MHD_Connection *c) {
    json_t *model = json_pack("{s:s, s:s, s:I, s:s, s:{s:i, s:I, s:I, s:i}}", "id", s->cfg.alias, "object", "model",
                              "created", (json_int_t)s->started, "owned_by", "slm", "meta", "n_ctx_train",
                              slm_model_n_ctx_train(s->model), "n_params", (json_int_t)slm_model_n_params(s->model),
                              "size", (json_int_t)slm_model_size_bytes(s->model), "n_vocab",
                              slm_model_n_vocab(s->model));
    return reply_json(s, c, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", model));
}

enum MHD_Result api_props(server *s, struct MHD_Connection *c) {
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:f, s:b, s:s, s:b, s:I, s:i}",
                          "version", SLM_VERSION, "model", s->cfg.alias, "model_path", s->cfg.model_path, "arch",
                          slm_model_arch(s->model), "n_ctx", (int)slm_context_n_ctx(s->ctx), "n_ctx_train",
                          slm_model_n_ctx_train(s->model), "parallel", s->cfg.parallel, "n_threads", s->cfg.n_threads,
                          "max_queue", s->cfg.max_queue, "max_body", (json_int_t)s->cfg.max_body, "timeout",
                          s->cfg.timeout_s, "api_key_required", s->cfg.api_key != NULL, "chat_template",
                          chat_family_name(s->tmpl.family), "chat_template_recognised", s->tmpl.recognised,
                          "n_params", (json_int_t)slm_model_n_params(s->model), "n_vocab",
                          slm_model_n_vocab(s->model));
    return reply_json(s, c, 200, p);
}

enum MHD_Result api_metrics(server *s, struct MHD_Connection *c) {
    strbuf b;
    sb_init(&b);
    metrics_render(&s->metrics, &b);
    char *text = sb_take(&b);
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    add_common_headers(s, r);
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    metrics_response(&s->metrics, 200);
    return ok;
}

/* A JSON object body, or NULL after replying 400. */
static json_t *parse_object(server *s, struct MHD_Connection *c, const char *body, size_t len, enum MHD_Result *r) {
    if (json_too_deep(body, len, REQ_MAX_DEPTH)) {
        *r = reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request", "JSON nested deeper than %d levels",
                         REQ_MAX_DEPTH);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        *r = reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request", "%s",
                         root ? "the request body must be a JSON object" : jerr.text);
        json_decref(root);
        return NULL;
    }
    return root;
}

static bool opt_bool(json_t *root, const char *key, bool dflt, bool *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    *out = json_is_true(v);
    return json_is_boolean(v);
}

enum MHD_Result api_tokenize(server *s, struct MHD_Connection *c, const char *body, size_t len) {
    enum MHD_Result r = MHD_NO;
    json_t *root = parse_object(s, c, body, len, &r);
    if (!root) return r;
    json_t *content = json_object_get(root, "content");
    bool add_special = false, parse_special = true, with_pieces = false;
    if (!json_is_string(content) || !opt_bool(root, "add_special", false, &add_special) ||
        !opt_bool(root, "parse_special", true, &parse_special) || !opt_bool(root, "with_pieces", false, &with_pieces)) {
        json_decref(root);
        return reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request",
                           "expected {\"content\": string, \"add_special\"?: bool, \"parse_special\"?: bool, "
                           "\"with_pieces\"?: bool}");
    }
    slm_token *toks = NULL;
    size_t n = 0;
    slm_error err = {0};
    slm_status st = slm_tokenize(s->vocab, json_string_value(content), json_string_length(content), add_special,
                                 parse_special, &toks, &n, &err);
    json_decref(root);
    if (st != SLM_OK) return reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request", "%s", err.message);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!with_pieces) {
            json_array_append_new(arr, json_integer(toks[i]));
            continue;
        }
        /* a piece longer than the stack buffer is fetched again whole */
        char small[256], *buf = small;
        size_t len_piece = slm_token_to_piece(s->vocab, toks[i], true, small, sizeof small);
        if (len_piece > sizeof small && (buf = malloc(len_piece)) != NULL)
            slm_token_to_piece(s->vocab, toks[i], true, buf, len_piece);
        if (!buf) {
            free(toks);
            json_decref(arr);
            return reply_error(s, c, 500, NULL, "server_error", "out_of_memory", "out of memory");
        }
        json_array_append_new(arr, json_pack("{s:i, s:o}", "id", toks[i], "piece", json_string_lossy(buf, len_piece)));
        if (buf != small) free(buf);
    }
    free(toks);
    return reply_json(s, c, 200, json_pack("{s:o}", "tokens", arr));
}

enum MHD_Result api_detokenize(server *s, struct MHD_Connection *c, const char *body, size_t len) {
    enum MHD_Result r = MHD_NO;
    json_t *root = parse_object(s, c, body, len, &r);
    if (!root) return r;
    json_t *tokens = json_object_get(root, "tokens");
    if (!json_is_array(tokens)) {
        json_decref(root);
        return reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request", "expected {\"tokens\": [ids]}");
    }
    int32_t n_vocab = slm_model_n_vocab(s->model);
    strbuf text;
    sb_init(&text);
    slm_detok d;
    slm_detok_init(&d, slm_vocab_type(s->vocab) == SLM_VOCAB_SPM);
    for (size_t i = 0; i < json_array_size(tokens); i++) {
        json_t *t = json_array_get(tokens, i);
        json_int_t id = json_is_integer(t) ? json_integer_value(t) : -1;
        if (id < 0 || id >= n_vocab) {
            json_decref(root);
            sb_free(&text);
            return reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request",
                               "tokens[%zu] is not a token id in [0, %d)", i, n_vocab);
        }
        sb_append_token(&text, &d, s->vocab, (slm_token)id);
    }
    char tail[16]; /* more than the at most 3 bytes a detokenizer holds back */
    size_t k = slm_detok_flush(&d, tail, sizeof tail);
    sb_append(&text, tail, k);
    json_decref(root);
    if (text.oom) {
        sb_free(&text);
        return reply_error(s, c, 500, NULL, "server_error", "internal_error", "out of memory");
    }
    json_t *out = json_pack("{s:o}", "content", json_string_lossy(text.data ? text.data : "", text.len));
    sb_free(&text);
    return reply_json(s, c, 200, out);
}
