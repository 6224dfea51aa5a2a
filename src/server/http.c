/* http.c - the libmicrohttpd side of `slm serve`: request bodies, limits,
 * authentication, CORS, routing and JSON replies.  MHD runs one thread per
 * connection, so a handler may wait for its generation job. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server/oai_format.h"
#include "server/server.h"

/* 413; MHD renamed its constant between versions */
#define HTTP_TOO_LARGE 413

struct conn_ctx {
    bool replied; /* a response was queued before the body was read */
    char *body;
    size_t len, cap;
    bool too_large;
};

void add_common_headers(server *s, struct MHD_Response *r) {
    if (s->cfg.cors) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", s->cfg.cors);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

static enum MHD_Result queue(server *s, struct MHD_Connection *c, unsigned status, struct MHD_Response *r) {
    if (!r) return MHD_NO;
    add_common_headers(s, r);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    metrics_response(&s->metrics, status);
    return ok;
}

/* A response owning text (freed also when it cannot be made). */
static struct MHD_Response *text_response(const char *type, char *text, size_t len) {
    struct MHD_Response *r = text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", type);
    return r;
}

static struct MHD_Response *json_response(json_t *json) {
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    return text_response("application/json", text, text ? strlen(text) : 0);
}

enum MHD_Result reply_json(server *s, struct MHD_Connection *c, unsigned status, json_t *json) {
    return queue(s, c, status, json_response(json));
}

enum MHD_Result reply_error(server *s, struct MHD_Connection *c, unsigned status, const error_headers *h,
                            const char *type, const char *code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct MHD_Response *r = json_response(oai_error(msg, type, code));
    if (r && h && h->retry_after_s) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", h->retry_after_s);
        MHD_add_response_header(r, "Retry-After", secs);
    }
    if (r && h && h->allow) MHD_add_response_header(r, "Allow", h->allow);
    return queue(s, c, status, r);
}

bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info) return true;
    struct pollfd p = {info->connect_fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
    char byte;
    ssize_t n = recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Compares every byte whatever the first difference, so the time taken
 * says nothing about how much of the key was right. */
static bool key_matches(const char *given, const char *key) {
    size_t lg = strlen(given), lk = strlen(key);
    unsigned char diff = (unsigned char)(lg != lk);
    for (size_t i = 0; i < lk; i++) diff |= (unsigned char)(key[i] ^ given[i < lg ? i : 0] ^ (i < lg ? 0 : 1));
    return diff == 0;
}

static bool authorized(server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key) return true;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7)) return false;
    return key_matches(auth + 7, s->cfg.api_key);
}

typedef enum route_id {
    R_HEALTH, R_MODELS, R_PROPS, R_METRICS, R_COMPLETIONS, R_CHAT, R_TOKENIZE, R_DETOKENIZE, R_NONE
} route_id;

typedef struct route {
    const char *path;
    const char *method;
    route_id id;
} route;

static const route ROUTES[] = {
    {"/health", "GET", R_HEALTH},           {"/v1/health", "GET", R_HEALTH},
    {"/v1/models", "GET", R_MODELS},        {"/props", "GET", R_PROPS},
    {"/metrics", "GET", R_METRICS},         {"/v1/completions", "POST", R_COMPLETIONS},
    {"/v1/chat/completions", "POST", R_CHAT}, {"/tokenize", "POST", R_TOKENIZE},
    {"/detokenize", "POST", R_DETOKENIZE},
};

static const route *find_route(const char *url) {
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (!strcmp(url, ROUTES[i].path)) return &ROUTES[i];
    return NULL;
}

static enum MHD_Result preflight(server *s, struct MHD_Connection *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    return queue(s, c, MHD_HTTP_NO_CONTENT, r);
}

static enum MHD_Result dispatch(server *s, struct MHD_Connection *c, const char *url, const char *method,
                                conn_ctx *cc) {
    if (!strcmp(method, "OPTIONS")) return preflight(s, c);
    const route *rt = find_route(url);
    if (!rt)
        return reply_error(s, c, MHD_HTTP_NOT_FOUND, NULL, "not_found_error", "not_found", "no route %.200s %.200s",
                           method, url);
    if (strcmp(method, rt->method) && !(rt->id == R_HEALTH && !strcmp(method, "HEAD")))
        return reply_error(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, &(error_headers){.allow = rt->method},
                           "invalid_request_error", "method_not_allowed", "%s does not accept %.32s; use %s", rt->path,
                           method, rt->method);
    if (rt->id != R_HEALTH && !authorized(s, c))
        return reply_error(s, c, MHD_HTTP_UNAUTHORIZED, NULL, "authentication_error", "invalid_api_key",
                           "missing or wrong API key (send 'Authorization: Bearer KEY')");
    if (cc->too_large)
        return reply_error(s, c, HTTP_TOO_LARGE, NULL, "invalid_request_error", "request_too_large",
                           "the request body is larger than --max-body (%zu bytes)", s->cfg.max_body);
    if (rt->id == R_HEALTH) return api_health(s, c);
    if (!atomic_load(&s->ready))
        return reply_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, &(error_headers){.retry_after_s = RETRY_AFTER_S},
                           "server_error", "model_loading", "the model is still loading");
    const char *body = cc->body ? cc->body : "";
    switch (rt->id) {
    case R_MODELS: return api_models(s, c);
    case R_PROPS: return api_props(s, c);
    case R_METRICS: return api_metrics(s, c);
    case R_COMPLETIONS: return api_generate(s, c, REQ_COMPLETION, body, cc->len);
    case R_CHAT: return api_generate(s, c, REQ_CHAT, body, cc->len);
    case R_TOKENIZE: return api_tokenize(s, c, body, cc->len);
    case R_DETOKENIZE: return api_detokenize(s, c, body, cc->len);
    default: return MHD_NO;
    }
}

static bool body_append(server *s, conn_ctx *cc, const char *data, size_t n) {
    if (cc->too_large || cc->len + n > s->cfg.max_body) {
        cc->too_large = true;
        return true;
    }
    if (cc->len + n + 1 > cc->cap) {
        size_t cap = cc->cap ? cc->cap : 4096;
        while (cap < cc->len + n + 1) cap *= 2;
        char *b = realloc(cc->body, cap);
        if (!b) return false;
        cc->body = b;
        cc->cap = cap;
    }
    memcpy(cc->body + cc->len, data, n);
    cc->len += n;
    cc->body[cc->len] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    server *s = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        *con_cls = cc;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
        /* A body somewhat over the limit is read and thrown away, then
         * answered with 413: answering while the client is still sending
         * makes MHD close the connection, and the client may see the reset
         * instead of the answer.  A body far over the limit is answered at
         * once rather than read. */
        if (announced > s->cfg.max_body) cc->too_large = true;
        if (announced / 16 > s->cfg.max_body) {
            cc->replied = true;
            return reply_error(s, c, HTTP_TOO_LARGE, NULL, "invalid_request_error", "request_too_large",
                               "the request body (%s bytes) is larger than --max-body (%zu bytes)", cl,
                               s->cfg.max_body);
        }
        return MHD_YES;
    }
    if (cc->replied) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!body_append(s, cc, upload, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, url, method, cc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    conn_ctx *cc = *con_cls;
    if (!cc) return;
    free(cc->body);
    free(cc);
    *con_cls = NULL;
}

bool server_listen(server *s, char *err, size_t cap) {
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (inet_pton(AF_INET, s->cfg.host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->cfg.port);
    } else if (inet_pton(AF_INET6, s->cfg.host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, cap, "--host %s is not an IPv4 or IPv6 address", s->cfg.host);
        return false;
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)120, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, cap, "cannot listen on %s port %d (in use, or not an address of this machine?)", s->cfg.host,
                 s->cfg.port);
        return false;
    }
    return true;
}
