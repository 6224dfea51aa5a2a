/* cmd_chat.c - `slm chat`: a conversation in the terminal.  Each line read
 * is a user message; the whole conversation is rendered with the model's
 * chat template (server/chat_template.c, as `slm serve` does), and only the
 * tokens after the part already in the KV cache are evaluated, so a turn
 * costs its own tokens, not the conversation's.  The reply is streamed and
 * becomes the assistant's message for the next turn.
 *
 * Lines starting with '/' are commands: /reset clears the conversation
 * (the system message stays), /exit or /quit (or end of input) ends it.
 * Ctrl-C stops a reply; at the prompt it ends the chat. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/model_path.h"
#include "cli/run_options.h"
#include "server/chat_template.h"
#include "server/model_template.h"
#include "server/strbuf.h"
#include "slm.h"

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm chat [-m FILE] [--system TEXT] [options]\n\n"
            "A conversation in the terminal with the model's chat template: each line is a message,\n"
            "the reply is streamed.  /reset starts over (the system message stays), /exit, /quit or\n"
            "end of input (Ctrl-D) ends it; Ctrl-C stops a reply.\n\n"
            "  -m, --model FILE          GGUF model (without -m: $SLM_MODEL, else the default model)\n"
            "      --system TEXT         system message\n"
            "  -n, --n-predict N         at most N tokens per reply; -1 = until the end of the turn\n"
            "                            (default -1)\n"
            "      --verbose             print the template family and each turn's token counts\n"
            "  -h, --help                this help\n\n"
            "The sampling, context, thread, cache and --mmap options of `slm run` apply as well\n"
            "(slm run --help).  Replies are random unless --temp 0 or -s SEED is given.\n");
}

/* The conversation and what of it is in the KV cache. */
typedef struct chat_state {
    const slm_run_options *opt;
    slm_model *model;
    const slm_vocab *vocab;
    slm_context *ctx;
    slm_sampler *sampler;
    chat_template tmpl;
    char *eos_text; /* tmpl.eos */
    chat_message *msgs; /* contents malloc'ed, except the system message's (argv) */
    size_t n_msgs, cap_msgs;
    size_t n_fixed;   /* messages /reset keeps: the system message */
    slm_token *cache; /* the tokens in the KV cache, in order */
    size_t n_cache;
    int32_t last_row; /* the row of the last batch whose logits come next */
    uint32_t n_ctx;
} chat_state;

static bool push_message(chat_state *s, chat_role role, char *content) {
    if (s->n_msgs == s->cap_msgs) {
        size_t cap = s->cap_msgs ? 2 * s->cap_msgs : 8;
        chat_message *m = realloc(s->msgs, cap * sizeof *m);
        if (!m) return false;
        s->msgs = m;
        s->cap_msgs = cap;
    }
    s->msgs[s->n_msgs++] = (chat_message){role, content};
    return true;
}

static void drop_messages_from(chat_state *s, size_t keep) {
    while (s->n_msgs > keep) free((char *)s->msgs[--s->n_msgs].content);
}

static int load(chat_state *s, const char *path) {
    const slm_run_options *o = s->opt;
    slm_error err;
    if (slm_run_open_model("chat", o, path, &s->model, &s->ctx)) return 1;
    s->vocab = slm_model_vocab(s->model);
    s->n_ctx = slm_context_n_ctx(s->ctx);
    s->cache = malloc(((size_t)s->n_ctx + 1) * sizeof *s->cache);
    if (!s->cache) {
        fprintf(stderr, "slm chat: out of memory\n");
        return 1;
    }
    if (slm_sampler_new(&o->sampling, slm_model_n_vocab(s->model), &s->sampler, &err)) {
        fprintf(stderr, "slm chat: bad sampling settings: %s\n", err.message);
        return 1;
    }
    char *tmpl_text = NULL;
    s->tmpl = model_chat_template(s->model, &tmpl_text, &s->eos_text); /* tmpl keeps pointing at eos_text */
    free(tmpl_text);
    if (o->verbose || !s->tmpl.recognised)
        fprintf(stderr, "slm chat: %s chat template%s, context %u tokens\n", chat_family_name(s->tmpl.family),
                s->tmpl.recognised ? "" : " (the model names none that slm knows; using ChatML)", s->n_ctx);
    return 0;
}

/* Renders and tokenizes the conversation; NULL (after printing) on error. */
static slm_token *render(chat_state *s, size_t *n) {
    time_t now = time(NULL);
    struct tm today;
    localtime_r(&now, &today);
    char *text = chat_render(&s->tmpl, s->msgs, s->n_msgs, &today);
    if (!text) {
        fprintf(stderr, "slm chat: out of memory\n");
        return NULL;
    }
    slm_token *toks = NULL;
    slm_error err;
    slm_status st = slm_tokenize(s->vocab, text, strlen(text), true, true, &toks, n, &err);
    free(text);
    if (st) {
        fprintf(stderr, "slm chat: cannot tokenize the conversation: %s\n", err.message);
        return NULL;
    }
    return toks;
}

/* Makes the KV cache hold toks[0..n): keeps the common prefix with what it
 * holds, evaluates the rest (at least the last token, for fresh logits). */
static int feed(chat_state *s, const slm_token *toks, size_t n) {
    if (n == 0) {
        fprintf(stderr, "slm chat: the conversation rendered to no tokens\n");
        return 1;
    }
    size_t keep = 0;
    while (keep < s->n_cache && keep < n && s->cache[keep] == toks[keep]) keep++;
    if (keep == n) keep = n - 1;
    slm_kv_truncate(s->ctx, 0, (int32_t)keep);
    s->n_cache = keep;
    slm_batch b = {(int32_t)(n - keep), toks + keep, NULL, NULL, NULL};
    slm_error err;
    if (slm_decode(s->ctx, &b, &err)) {
        fprintf(stderr, "slm chat: evaluating the conversation failed: %s\n", err.message);
        return 1;
    }
    for (size_t i = keep; i < n; i++) slm_sampler_accept(s->sampler, toks[i]);
    memcpy(s->cache + keep, toks + keep, (n - keep) * sizeof *toks);
    s->last_row = (int32_t)(n - keep - 1);
    if (s->opt->verbose) fprintf(stderr, "slm chat: %zu tokens in the conversation, %zu evaluated\n", n, n - keep);
    s->n_cache = n;
    return 0;
}

/* Appends the text token t completes (t < 0: what the detokenizer still
 * holds) to the reply, and prints it. */
static void take_token(const slm_vocab *v, slm_detok *d, slm_token t, strbuf *b) {
    size_t before = b->len;
    if (t >= 0) {
        sb_append_token(b, d, v, t);
    } else {
        char tail[16]; /* more than the at most 3 bytes a detokenizer holds back */
        sb_append(b, tail, slm_detok_flush(d, tail, sizeof tail));
    }
    if (b->oom) return;
    fwrite(b->data + before, 1, b->len - before, stdout);
    fflush(stdout);
}

/* Samples the reply after the evaluated conversation; returns it (malloc'ed,
 * possibly empty) or NULL on error.  The last sampled token is fed unless it
 * ends the turn, so the KV cache holds everything printed. */
static char *reply(chat_state *s) {
    const slm_run_options *o = s->opt;
    slm_detok d;
    slm_detok_init(&d, false);
    size_t n_gen = 0;
    strbuf b;
    sb_init(&b);
    int32_t last = s->last_row;
    slm_error err;
    while ((o->n_predict < 0 || n_gen < (size_t)o->n_predict) && !interrupted) {
        const float *logits = slm_get_logits(s->ctx, last);
        slm_token t = logits ? slm_sampler_sample(s->sampler, logits) : -1;
        if (t < 0 || slm_vocab_is_eog(s->vocab, t)) break;
        slm_sampler_accept(s->sampler, t);
        n_gen++;
        take_token(s->vocab, &d, t, &b);
        if (b.oom) goto oom;
        if (s->n_cache >= s->n_ctx) {
            fprintf(stderr, "\nslm chat: the context is full (%u tokens); /reset to start over or raise -c\n", s->n_ctx);
            break;
        }
        slm_batch one = {1, &t, NULL, NULL, NULL};
        if (slm_decode(s->ctx, &one, &err)) {
            fprintf(stderr, "\nslm chat: decoding failed: %s\n", err.message);
            sb_free(&b);
            return NULL;
        }
        s->cache[s->n_cache++] = t;
        last = 0;
    }
    take_token(s->vocab, &d, -1, &b);
    char *text = sb_take(&b);
    if (!text) goto oom;
    putchar('\n');
    fflush(stdout);
    return text;
oom:
    fprintf(stderr, "\nslm chat: out of memory\n");
    sb_free(&b);
    return NULL;
}

/* One user message: render, evaluate, reply.  1 on an error that ends the
 * chat; a conversation that outgrows the context only loses the message. */
static int turn(chat_state *s, char *line) {
    if (!push_message(s, CHAT_ROLE_USER, line)) {
        free(line);
        fprintf(stderr, "slm chat: out of memory\n");
        return 1;
    }
    size_t n = 0;
    slm_token *toks = render(s, &n);
    if (!toks) return 1;
    if (n >= s->n_ctx) {
        fprintf(stderr, "slm chat: the conversation would be %zu tokens, more than the context of %u; the message "
                        "was not sent (/reset to start over, or raise -c)\n", n, s->n_ctx);
        drop_messages_from(s, s->n_msgs - 1);
        free(toks);
        return 0;
    }
    int rc = feed(s, toks, n);
    free(toks);
    if (rc) return 1;
    interrupted = 0;
    char *text = reply(s);
    if (!text) return 1;
    if (interrupted) fprintf(stderr, "slm chat: (reply stopped)\n");
    interrupted = 0;
    if (!push_message(s, CHAT_ROLE_ASSISTANT, text)) {
        free(text);
        return 1;
    }
    return 0;
}

static int chat_loop(chat_state *s) {
    const bool tty = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        if (tty) fputs("> ", stdout), fflush(stdout);
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0 || interrupted) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        if (got == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            drop_messages_from(s, s->n_fixed);
            slm_kv_truncate(s->ctx, 0, 0);
            slm_sampler_reset(s->sampler);
            s->n_cache = 0;
            fprintf(stderr, "slm chat: conversation cleared\n");
            continue;
        }
        if (line[0] == '/') {
            fprintf(stderr, "slm chat: unknown command %s (/reset, /exit)\n", line);
            continue;
        }
        char *msg = strdup(line);
        if (!msg || turn(s, msg)) {
            if (!msg) fprintf(stderr, "slm chat: out of memory\n");
            rc = 1;
            break;
        }
    }
    free(line);
    return rc;
}

static void cleanup(chat_state *s) {
    drop_messages_from(s, s->n_fixed);
    free(s->msgs);
    free(s->cache);
    free(s->eos_text);
    slm_sampler_free(s->sampler);
    slm_context_free(s->ctx);
    slm_model_free(s->model);
}

/* --system TEXT is chat's own; everything else is `slm run`'s parser. */
static int parse(int argc, char **argv, slm_run_options *o, const char **system) {
    char **rest = malloc((size_t)argc * sizeof *rest);
    if (!rest) return 1;
    int n = 0;
    *system = NULL;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
            free(rest);
            usage(stdout);
            return -1;
        }
        if (i > 0 && !strncmp(argv[i], "--system=", 9)) *system = argv[i] + 9;
        else if (i > 0 && !strcmp(argv[i], "--system")) {
            if (i + 1 >= argc) {
                free(rest);
                fprintf(stderr, "slm chat: --system needs a value\n");
                return 1;
            }
            *system = argv[++i];
        } else rest[n++] = argv[i];
    }
    slm_run_parse r = slm_run_parse_options(n, rest, o);
    free(rest);
    if (r != SLM_RUN_PARSE_OK) return 1;
    const char *bad = o->prompt || o->prompt_file ? "-p/-f (the conversation comes from standard input; --system "
                                                     "sets a system message)"
                      : o->prompt_ids             ? "--prompt-ids"
                      : o->dump_logits            ? "--dump-logits"
                      : o->output_ids             ? "--output-ids"
                                                  : NULL;
    if (bad) {
        fprintf(stderr, "slm chat: %s is an option of slm run, not of slm chat\n", bad);
        return 1;
    }
    return 0;
}

int slm_cmd_chat(int argc, char **argv) {
    slm_run_options o;
    const char *system = NULL;
    int p = parse(argc, argv, &o, &system);
    if (p) return p < 0 ? 0 : 2;
    if (!o.seed_given) o.sampling.seed = slm_run_random_seed();
    char path[4096];
    if (slm_resolve_model_path("chat", o.model, path, sizeof path)) return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    chat_state s;
    memset(&s, 0, sizeof s);
    s.opt = &o;
    int rc = load(&s, path);
    if (rc == 0 && system && !push_message(&s, CHAT_ROLE_SYSTEM, (char *)system)) rc = 1;
    s.n_fixed = s.n_msgs;
    if (rc == 0) rc = chat_loop(&s);
    cleanup(&s);
    return rc;
}
