/* request.c - OpenAI request bodies to gen_request (see request.h).  Fields
 * follow the OpenAI API; llama.cpp's extras (top_k, min_p,
 * repeat_penalty) are accepted too.  null counts as absent. */
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/strbuf.h"

bool json_too_deep(const char *body, size_t len, int max_depth) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return true;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return false;
}

typedef struct parser {
    char *msg;
    size_t cap;
    bool failed;
} parser;

static bool fail(parser *p, const char *fmt, ...) {
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, p->cap, fmt, ap);
        va_end(ap);
    }
    p->failed = true;
    return false;
}

/* A field or NULL when absent or null. */
static json_t *field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static bool get_number(parser *p, json_t *obj, const char *key, double lo, double hi, float *out) {
    json_t *v = field(obj, key);
    if (!v) return true;
    if (!json_is_number(v)) return fail(p, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return fail(p, "'%s' is %g, outside [%g, %g]", key, d, lo, hi);
    *out = (float)d;
    return true;
}

static bool get_int(parser *p, json_t *obj, const char *key, long long lo, long long hi, long long *out) {
    json_t *v = field(obj, key);
    if (!v) return true;
    if (!json_is_integer(v)) return fail(p, "'%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return fail(p, "'%s' is %lld, outside [%lld, %lld]", key, x, lo, hi);
    *out = x;
    return true;
}

static bool get_bool(parser *p, json_t *obj, const char *key, bool *out) {
    json_t *v = field(obj, key);
    if (!v) return true;
    if (!json_is_boolean(v)) return fail(p, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return true;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static bool parse_stop(parser *p, json_t *root, gen_request *r) {
    json_t *v = field(root, "stop");
    if (!v) return true;
    json_t *one[1] = {v};
    json_t **items = one;
    size_t n = 1;
    json_t *arr = NULL;
    if (json_is_array(v)) {
        arr = v;
        n = json_array_size(v);
        if (n > REQ_MAX_STOP) return fail(p, "'stop' has %zu strings; at most %d are allowed", n, REQ_MAX_STOP);
        items = NULL;
    } else if (!json_is_string(v)) {
        return fail(p, "'stop' must be a string or an array of strings");
    }
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    if (!r->stop) return fail(p, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = items ? items[i] : json_array_get(arr, i);
        if (!json_is_string(s)) return fail(p, "'stop[%zu]' must be a string", i);
        size_t len = json_string_length(s);
        if (len == 0) continue; /* an empty stop string would match everywhere: ignore it */
        if (len > REQ_MAX_STOP_LEN)
            return fail(p, "'stop' string %zu is %zu bytes long; at most %d are allowed", i, len, REQ_MAX_STOP_LEN);
        if (memchr(json_string_value(s), '\0', len)) return fail(p, "'stop' strings may not contain NUL");
        r->stop[r->n_stop] = dup_n(json_string_value(s), len);
        if (!r->stop[r->n_stop++]) return fail(p, "out of memory");
    }
    return true;
}

static bool parse_logit_bias(parser *p, json_t *root, int32_t n_vocab, gen_request *r) {
    json_t *v = field(root, "logit_bias");
    if (!v) return true;
    if (!json_is_object(v)) return fail(p, "'logit_bias' must be an object mapping token ids to numbers");
    size_t n = json_object_size(v);
    if (n > REQ_MAX_LOGIT_BIAS) return fail(p, "'logit_bias' has %zu entries; at most %d are allowed", n, REQ_MAX_LOGIT_BIAS);
    r->logit_bias = calloc(n ? n : 1, sizeof *r->logit_bias);
    if (!r->logit_bias) return fail(p, "out of memory");
    const char *key;
    json_t *val;
    size_t i = 0;
    json_object_foreach(v, key, val) {
        char *end = NULL;
        long id = strtol(key, &end, 10);
        if (!*key || *end || id < 0 || id >= n_vocab)
            return fail(p, "'logit_bias' key \"%.32s\" is not a token id in [0, %d)", key, n_vocab);
        if (!json_is_number(val)) return fail(p, "'logit_bias[%s]' must be a number", key);
        double b = json_number_value(val);
        if (!(b >= -100 && b <= 100)) return fail(p, "'logit_bias[%s]' is %g, outside [-100, 100]", key, b);
        r->logit_bias[i].token = (slm_token)id;
        /* -100 bans a token, as in the OpenAI API */
        r->logit_bias[i++].bias = b <= -100 ? -INFINITY : (float)b;
    }
    r->sampling.logit_bias = r->logit_bias;
    r->sampling.n_logit_bias = i;
    return true;
}

static bool parse_sampling(parser *p, json_t *root, int32_t n_vocab, gen_request *r) {
    slm_sampler_params *s = &r->sampling;
    long long top_k = s->top_k, seed = 0, max_tokens = -1, n = 1;
    bool ok = get_number(p, root, "temperature", 0, 100, &s->temperature) &&
              get_number(p, root, "top_p", 0, 1, &s->top_p) && get_int(p, root, "top_k", 0, n_vocab, &top_k) &&
              get_number(p, root, "min_p", 0, 1, &s->min_p) && get_number(p, root, "typical_p", 0, 1, &s->typical_p) &&
              get_number(p, root, "presence_penalty", -2, 2, &s->presence_penalty) &&
              get_number(p, root, "frequency_penalty", -2, 2, &s->frequency_penalty) &&
              get_number(p, root, "repetition_penalty", 0.01, 100, &s->repeat_penalty) &&
              get_number(p, root, "repeat_penalty", 0.01, 100, &s->repeat_penalty) &&
              get_int(p, root, "n", 1, 1000000, &n) && get_int(p, root, "max_tokens", 1, INT32_MAX, &max_tokens) &&
              get_int(p, root, "max_completion_tokens", 1, INT32_MAX, &max_tokens) &&
              parse_logit_bias(p, root, n_vocab, r) && parse_stop(p, root, r);
    if (!ok) return false;
    if (n > 1) return fail(p, "'n' is %lld, but this server returns one choice per request (n = 1)", n);
    json_t *sv = field(root, "seed");
    if (sv) {
        if (!json_is_integer(sv)) return fail(p, "'seed' must be an integer");
        seed = json_integer_value(sv);
        s->seed = (uint64_t)seed;
        r->has_seed = true;
    }
    s->top_k = (int32_t)top_k;
    r->max_tokens = (int32_t)max_tokens;
    return true;
}

static bool parse_logprobs(parser *p, json_t *root, gen_request *r) {
    json_t *lp = field(root, "logprobs");
    long long top = 0;
    if (r->kind == REQ_CHAT) {
        if (!get_bool(p, root, "logprobs", &r->logprobs)) return false;
        if (!get_int(p, root, "top_logprobs", 0, REQ_MAX_TOP_LOGPROBS, &top)) return false;
        if (top > 0 && !r->logprobs) return fail(p, "'top_logprobs' needs 'logprobs': true");
    } else if (lp) {
        /* completions: logprobs is the number of top alternatives (0..5) */
        if (json_is_boolean(lp)) {
            r->logprobs = json_is_true(lp);
        } else {
            if (!get_int(p, root, "logprobs", 0, 5, &top)) return false;
            r->logprobs = true;
        }
    }
    r->top_logprobs = (int)top;
    return true;
}

static bool parse_stream(parser *p, json_t *root, gen_request *r) {
    if (!get_bool(p, root, "stream", &r->stream)) return false;
    json_t *so = field(root, "stream_options");
    if (!so) return true;
    if (!json_is_object(so)) return fail(p, "'stream_options' must be an object");
    return get_bool(p, so, "include_usage", &r->include_usage);
}

/* Content is a string or an array of {"type":"text","text":...} parts,
 * which are joined. */
static char *message_content(parser *p, json_t *content, size_t i) {
    if (json_is_string(content)) return dup_n(json_string_value(content), json_string_length(content));
    if (!json_is_array(content)) {
        fail(p, "'messages[%zu].content' must be a string or an array of text parts", i);
        return NULL;
    }
    strbuf b;
    sb_init(&b);
    for (size_t k = 0; k < json_array_size(content); k++) {
        json_t *part = json_array_get(content, k);
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(text)) {
            sb_free(&b);
            fail(p, "'messages[%zu].content[%zu]' must be {\"type\": \"text\", \"text\": \"...\"} (only text is supported)",
                 i, k);
            return NULL;
        }
        sb_append(&b, json_string_value(text), json_string_length(text));
    }
    char *s = sb_take(&b);
    if (!s) fail(p, "out of memory");
    return s;
}

static bool parse_messages(parser *p, json_t *root, gen_request *r) {
    json_t *msgs = field(root, "messages");
    if (!msgs) return fail(p, "'messages' is required");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) return fail(p, "'messages' must be a non-empty array");
    size_t n = json_array_size(msgs);
    if (n > REQ_MAX_MESSAGES) return fail(p, "'messages' has %zu entries; at most %d are allowed", n, REQ_MAX_MESSAGES);
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages) return fail(p, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        if (!json_is_object(m)) return fail(p, "'messages[%zu]' must be an object", i);
        json_t *role = json_object_get(m, "role");
        if (!json_is_string(role)) return fail(p, "'messages[%zu].role' must be a string", i);
        const char *name = json_string_value(role);
        chat_role cr = CHAT_ROLE_USER;
        if (!strcmp(name, "developer")) cr = CHAT_ROLE_SYSTEM; /* OpenAI's newer name for system */
        else if (!chat_role_parse(name, &cr))
            return fail(p, "'messages[%zu].role' is \"%.32s\"; expected system, user or assistant", i, name);
        json_t *content = field(m, "content");
        if (!content) return fail(p, "'messages[%zu].content' is required", i);
        char *text = message_content(p, content, i);
        if (!text) return false;
        r->messages[i].role = cr;
        r->messages[i].content = text;
        r->n_messages = i + 1;
    }
    return true;
}

static bool parse_token_ids(parser *p, json_t *arr, int32_t n_vocab, gen_request *r) {
    size_t n = json_array_size(arr);
    if (n == 0) return fail(p, "'prompt' is an empty array of token ids");
    r->prompt_ids = malloc(n * sizeof *r->prompt_ids);
    if (!r->prompt_ids) return fail(p, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_integer(t)) return fail(p, "'prompt[%zu]' must be a token id (integer)", i);
        json_int_t id = json_integer_value(t);
        if (id < 0 || id >= n_vocab) return fail(p, "'prompt[%zu]' is %lld, not a token id in [0, %d)", i, (long long)id, n_vocab);
        r->prompt_ids[i] = (slm_token)id;
    }
    r->n_prompt_ids = n;
    return true;
}

/* A string, a one-element array of strings, token ids, or a one-element
 * array of token id arrays.  Several prompts would mean several choices,
 * which this server does not return (like n > 1). */
static bool parse_prompt(parser *p, json_t *root, int32_t n_vocab, gen_request *r) {
    json_t *v = field(root, "prompt");
    if (!v) return fail(p, "'prompt' is required");
    if (json_is_array(v) && json_array_size(v) > 0 && !json_is_integer(json_array_get(v, 0))) {
        if (json_array_size(v) > 1)
            return fail(p, "'prompt' holds %zu prompts; send one prompt per request", json_array_size(v));
        v = json_array_get(v, 0);
    }
    if (json_is_string(v)) {
        r->prompt = dup_n(json_string_value(v), json_string_length(v));
        return r->prompt ? true : fail(p, "out of memory");
    }
    if (json_is_array(v)) return parse_token_ids(p, v, n_vocab, r);
    return fail(p, "'prompt' must be a string, an array of token ids, or an array holding one of these");
}

bool request_parse(const char *body, size_t len, req_kind kind, int32_t n_vocab, gen_request *out, char *msg,
                   size_t cap) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->max_tokens = -1;
    out->sampling = slm_sampler_default_params();
    parser p = {msg, cap, false};
    if (json_too_deep(body, len, REQ_MAX_DEPTH)) return fail(&p, "JSON nested deeper than %d levels", REQ_MAX_DEPTH);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return fail(&p, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    bool ok = json_is_object(root) || fail(&p, "the request body must be a JSON object");
    json_t *model = ok ? field(root, "model") : NULL;
    if (ok && model && !json_is_string(model)) ok = fail(&p, "'model' must be a string");
    ok = ok && (kind == REQ_CHAT ? parse_messages(&p, root, out) : parse_prompt(&p, root, n_vocab, out));
    ok = ok && parse_sampling(&p, root, n_vocab, out) && parse_logprobs(&p, root, out) && parse_stream(&p, root, out);
    json_decref(root);
    if (!ok) request_free(out);
    return ok;
}

void request_free(gen_request *r) {
    free(r->prompt);
    free(r->prompt_ids);
    for (size_t i = 0; i < r->n_messages; i++) free((char *)r->messages[i].content);
    free(r->messages);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->logit_bias);
    req_kind kind = r->kind;
    memset(r, 0, sizeof *r);
    r->kind = kind;
}
