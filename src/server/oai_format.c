/* oai_format.c - response bodies in the shapes of the OpenAI API (see
 * oai_format.h). */
#include "server/oai_format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/utf8.h"

json_t *oai_error(const char *message, const char *type, const char *code) {
    return json_pack("{s:{s:o, s:s, s:s?}}", "error", "message", json_string_lossy(message, strlen(message)),
                     "type", type, "code", code);
}

json_t *oai_usage_json(const oai_usage *u) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", u->prompt_tokens, "completion_tokens",
                     u->completion_tokens, "total_tokens", u->prompt_tokens + u->completion_tokens,
                     "prompt_tokens_details", "cached_tokens", u->cached_tokens);
}

json_t *json_string_lossy(const char *s, size_t n) {
    strbuf b;
    sb_init(&b);
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t k = slm_utf8_decode(s + i, n - i, &cp);
        if (k == 0 || cp == 0) {
            sb_puts(&b, cp == 0 && k ? "\\u0000" : "\xef\xbf\xbd");
            i += k ? k : 1;
        } else {
            sb_append(&b, s + i, k);
            i += k;
        }
    }
    json_t *j = b.oom ? NULL : json_stringn(b.data ? b.data : "", b.len);
    sb_free(&b);
    return j;
}

/* -inf (a banned token) is not JSON: report the most negative float. */
static json_t *logprob_value(float lp) { return json_real(isfinite(lp) ? lp : -3.4e38); }

static size_t piece(const slm_vocab *v, slm_token t, char *buf, size_t cap) {
    size_t n = slm_token_to_piece(v, t, true, buf, cap);
    return n < cap ? n : cap;
}

static json_t *bytes_array(const char *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

static json_t *chat_token_entry(const slm_vocab *v, slm_token t, float lp) {
    char buf[256];
    size_t n = piece(v, t, buf, sizeof buf);
    return json_pack("{s:o, s:o, s:o}", "token", json_string_lossy(buf, n), "logprob", logprob_value(lp), "bytes",
                     bytes_array(buf, n));
}

static json_t *chat_logprobs(const slm_vocab *v, const token_logprob *lp, size_t n) {
    json_t *content = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = chat_token_entry(v, lp[i].token, lp[i].logprob);
        json_t *top = json_array();
        for (int k = 0; k < lp[i].n_top; k++)
            json_array_append_new(top, chat_token_entry(v, lp[i].top[k], lp[i].top_logprob[k]));
        json_object_set_new(e, "top_logprobs", top);
        json_array_append_new(content, e);
    }
    return json_pack("{s:o, s:n}", "content", content, "refusal");
}

/* The legacy completions shape: parallel arrays. */
static json_t *completion_logprobs(const slm_vocab *v, const token_logprob *lp, size_t n, size_t *text_offset) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offsets = json_array();
    for (size_t i = 0; i < n; i++) {
        char buf[256];
        size_t len = piece(v, lp[i].token, buf, sizeof buf);
        json_array_append_new(tokens, json_string_lossy(buf, len));
        json_array_append_new(lps, logprob_value(lp[i].logprob));
        json_array_append_new(offsets, json_integer((json_int_t)*text_offset));
        *text_offset += len;
        json_t *top = json_object();
        for (int k = 0; k < lp[i].n_top; k++) {
            size_t tl = piece(v, lp[i].top[k], buf, sizeof buf);
            json_t *key = json_string_lossy(buf, tl);
            if (key) json_object_set_new(top, json_string_value(key), logprob_value(lp[i].top_logprob[k]));
            json_decref(key);
        }
        json_array_append_new(tops, top);
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offsets);
}

json_t *oai_logprobs(req_kind kind, const slm_vocab *v, const token_logprob *lp, size_t n, size_t *text_offset) {
    return kind == REQ_CHAT ? chat_logprobs(v, lp, n) : completion_logprobs(v, lp, n, text_offset);
}

static json_t *envelope(const oai_meta *m, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", m->id, "object", object, "created", (json_int_t)m->created,
                     "model", m->model, "system_fingerprint", "slm-" SLM_VERSION);
}

static json_t *or_null(json_t *j) { return j ? j : json_null(); }

json_t *oai_response(const oai_meta *m, const char *text, size_t len, const char *finish, const oai_usage *u,
                     json_t *logprobs) {
    json_t *r = envelope(m, m->kind == REQ_CHAT ? "chat.completion" : "text_completion");
    json_t *choice;
    if (m->kind == REQ_CHAT)
        choice = json_pack("{s:i, s:{s:s, s:o, s:n}, s:o, s:s}", "index", 0, "message", "role", "assistant",
                           "content", json_string_lossy(text, len), "refusal", "logprobs", or_null(logprobs),
                           "finish_reason", finish);
    else
        choice = json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "text", json_string_lossy(text, len), "logprobs",
                           or_null(logprobs), "finish_reason", finish);
    json_object_set_new(r, "choices", json_pack("[o]", choice));
    json_object_set_new(r, "usage", oai_usage_json(u));
    return r;
}

json_t *oai_chunk(const oai_meta *m, const char *text, size_t len, bool with_role, const char *finish,
                  json_t *logprobs) {
    json_t *r = envelope(m, m->kind == REQ_CHAT ? "chat.completion.chunk" : "text_completion");
    json_t *choice = json_pack("{s:i, s:o, s:o}", "index", 0, "logprobs", or_null(logprobs), "finish_reason",
                               finish ? json_string(finish) : json_null());
    if (m->kind == REQ_CHAT) {
        json_t *delta = json_object();
        if (with_role) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", json_string_lossy(text, len));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", json_string_lossy(text ? text : "", text ? len : 0));
    }
    json_object_set_new(r, "choices", json_pack("[o]", choice));
    return r;
}

json_t *oai_usage_chunk(const oai_meta *m, const oai_usage *u) {
    json_t *r = envelope(m, m->kind == REQ_CHAT ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(r, "choices", json_array());
    json_object_set_new(r, "usage", oai_usage_json(u));
    return r;
}

void sse_event(strbuf *b, const json_t *obj) {
    char *s = json_dumps(obj, JSON_COMPACT);
    if (!s) {
        b->oom = true;
        return;
    }
    sb_puts(b, "data: ");
    sb_puts(b, s);
    sb_puts(b, "\n\n");
    free(s);
}
