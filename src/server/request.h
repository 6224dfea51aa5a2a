/* request.h - parsing and validating the JSON body of /v1/completions and
 * /v1/chat/completions into a gen_request.  Pure functions (no model, no
 * HTTP): every problem becomes a 400 message naming the field. */
#ifndef SLM_SERVER_REQUEST_H
#define SLM_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "server/chat_template.h"
#include "slm.h"

/* Bounds on what a request may hold (besides --max-body). */
#define REQ_MAX_DEPTH 32        /* nesting of JSON arrays/objects */
#define REQ_MAX_STOP 8          /* stop strings */
#define REQ_MAX_STOP_LEN 256    /* bytes per stop string */
#define REQ_MAX_MESSAGES 4096
#define REQ_MAX_LOGIT_BIAS 1024
#define REQ_MAX_TOP_LOGPROBS 20

typedef enum req_kind { REQ_COMPLETION, REQ_CHAT } req_kind;

typedef struct gen_request {
    req_kind kind;
    /* completions: a text prompt or token ids (exactly one is set) */
    char *prompt;
    slm_token *prompt_ids;
    size_t n_prompt_ids;
    /* chat: messages (contents owned) */
    chat_message *messages;
    size_t n_messages;

    int32_t max_tokens; /* -1: until end of generation or a full context */
    slm_sampler_params sampling;
    bool has_seed;
    slm_logit_bias *logit_bias; /* sampling.logit_bias points here */
    char **stop;
    size_t n_stop;
    bool logprobs;
    int top_logprobs;
    bool stream;
    bool include_usage;
} gen_request;

/* True when body nests arrays/objects deeper than max_depth (scanned
 * without recursion, before any parser sees it). */
bool json_too_deep(const char *body, size_t len, int max_depth);

/* Parses body into *out.  On failure returns false with a message for the
 * client in msg; *out is then empty.  n_vocab bounds token ids. */
bool request_parse(const char *body, size_t len, req_kind kind, int32_t n_vocab, gen_request *out, char *msg,
                   size_t cap);
void request_free(gen_request *r);

#endif
