/* oai_format.h - OpenAI-shaped JSON responses, streaming chunks, errors and
 * Server-Sent Events frames.  Pure functions of their arguments. */
#ifndef SLM_SERVER_OAI_FORMAT_H
#define SLM_SERVER_OAI_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/request.h"
#include "server/strbuf.h"
#include "slm.h"

/* The log-probability of one generated token and its best alternatives
 * (log-softmax of the model's raw logits, before sampling changes them). */
typedef struct token_logprob {
    slm_token token;
    float logprob;
    int n_top;
    slm_token top[REQ_MAX_TOP_LOGPROBS];
    float top_logprob[REQ_MAX_TOP_LOGPROBS];
} token_logprob;

typedef struct oai_usage {
    int prompt_tokens;
    int completion_tokens;
    int cached_tokens;
} oai_usage;

/* Everything a response or chunk repeats. */
typedef struct oai_meta {
    req_kind kind;
    const char *id;
    long long created;
    const char *model;
} oai_meta;

/* {"error": {"message", "type", "code"}} */
json_t *oai_error(const char *message, const char *type, const char *code);
json_t *oai_usage_json(const oai_usage *u);
/* The logprobs object of a choice for n tokens; *text_offset (completions'
 * text_offset) advances by the tokens' text. */
json_t *oai_logprobs(req_kind kind, const slm_vocab *v, const token_logprob *lp, size_t n, size_t *text_offset);
/* A whole (non-streamed) response; logprobs is stolen (NULL = null). */
json_t *oai_response(const oai_meta *m, const char *text, size_t len, const char *finish, const oai_usage *u,
                     json_t *logprobs);
/* A streamed chunk: text delta (NULL = none), the chat role on the first
 * chunk, finish reason on the last (NULL = none); logprobs stolen. */
json_t *oai_chunk(const oai_meta *m, const char *text, size_t len, bool with_role, const char *finish,
                  json_t *logprobs);
/* The last chunk of stream_options.include_usage: no choices, usage. */
json_t *oai_usage_chunk(const oai_meta *m, const oai_usage *u);

/* "data: <compact json>\n\n" (json not freed). */
void sse_event(strbuf *b, const json_t *obj);
#define SSE_DONE "data: [DONE]\n\n"

/* A JSON string from bytes that may hold invalid UTF-8 (a token that is
 * half a character): each bad byte becomes U+FFFD. */
json_t *json_string_lossy(const char *s, size_t n);

#endif
