/* cmd_serve.c - `slm serve -m FILE [options]`: an OpenAI-compatible HTTP
 * API over a local model (see docs/SERVER.md).  Options are parsed here;
 * the server itself lives in src/server. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "server/server.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm serve -m FILE [options]\n\n"
            "  -m, --model FILE       GGUF model to serve\n"
            "      --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 = every interface)\n"
            "      --port N           port (default 8080; 0 = any free port, printed at start)\n"
            "  -np, --parallel N      requests decoded together, each in its own slot (default 4)\n"
            "  -c, --ctx-size N       context (KV cache positions) per slot (default: the model's, at most 4096)\n"
            "  -t, --threads N        compute threads (default: one per core)\n"
            "      --api-key KEY      require 'Authorization: Bearer KEY'\n"
            "      --api-key-file F   read the key from the first line of a file\n"
            "      --max-queue N      requests that may wait for a slot; more get 503 (default 64)\n"
            "      --max-body BYTES   largest request body; larger gets 413 (default 1048576)\n"
            "      --timeout S        stop a request after S seconds, fractions allowed (default 0 = never)\n"
            "      --alias NAME       model name shown in /v1/models and responses (default: file name)\n"
            "      --cors ORIGIN      send Access-Control-Allow-Origin: ORIGIN\n"
            "      --mmap             map the model file instead of copying it into huge pages: faster start,\n"
            "                         pages the kernel may drop; generation ~5-10 %% slower\n"
            "      --no-mmap          always copy the model file into memory (default: copy when the kernel\n"
            "                         offers huge pages and memory allows, else map)\n");
}

static bool parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi) {
        fprintf(stderr, "slm serve: %s wants an integer in [%ld, %ld], not '%s'\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "slm serve: cannot open --api-key-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[1024] = "";
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || !line[0]) {
        fprintf(stderr, "slm serve: --api-key-file %s holds no key on its first line\n", path);
        return NULL;
    }
    return strdup(line);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* 0 = go on, 1 = error, 2 = --help was printed. */
static int parse_args(int argc, char **argv, server_config *c, char **key_owned) {
    *c = (server_config){.host = "127.0.0.1", .port = 8080, .parallel = 4, .max_queue = 64, .max_body = 1 << 20};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        float f = 0;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 2;
        if (slm_arg_load_mode(a, &c->load_mode)) continue;
        if (!v && a[0] == '-') {
            fprintf(stderr, "slm serve: unknown option or missing value: %s\n", a);
            return 1;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) c->model_path = v;
        else if (!strcmp(a, "--host")) c->host = v;
        else if (!strcmp(a, "--port")) ok = parse_long(a, v, 0, 65535, &n) && ((c->port = (int)n), true);
        else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) ok = parse_long(a, v, 1, 256, &n) && ((c->parallel = (int)n), true);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) ok = parse_long(a, v, 0, 1 << 24, &n) && ((c->n_ctx = (int)n), true);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = parse_long(a, v, 0, 1024, &n) && ((c->n_threads = (int)n), true);
        else if (!strcmp(a, "--api-key")) c->api_key = v;
        else if (!strcmp(a, "--api-key-file")) ok = (c->api_key = *key_owned = read_key_file(v)) != NULL;
        else if (!strcmp(a, "--max-queue")) ok = parse_long(a, v, 0, 1 << 20, &n) && ((c->max_queue = (int)n), true);
        else if (!strcmp(a, "--max-body")) ok = parse_long(a, v, 1, 1L << 30, &n) && ((c->max_body = (size_t)n), true);
        else if (!strcmp(a, "--timeout")) ok = slm_arg_float("serve", a, v, 0, 1e9, &f) && ((c->timeout_s = f), true);
        else if (!strcmp(a, "--alias")) c->alias = v;
        else if (!strcmp(a, "--cors")) c->cors = v;
        else {
            fprintf(stderr, "slm serve: unknown option: %s\n", a);
            usage(stderr);
            return 1;
        }
        if (!ok) return 1;
    }
    if (!c->model_path) {
        fprintf(stderr, "slm serve: missing -m FILE\n");
        usage(stderr);
        return 1;
    }
    if (c->api_key && !c->api_key[0]) {
        fprintf(stderr, "slm serve: the API key is empty\n");
        return 1;
    }
    if (!c->alias) c->alias = base_name(c->model_path);
    return 0;
}

static bool is_loopback(const char *host) {
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

int slm_cmd_serve(int argc, char **argv) {
    static server s; /* large, and MHD's threads point to it until shutdown */
    char *key_owned = NULL;
    int rc = parse_args(argc, argv, &s.cfg, &key_owned);
    if (rc) return rc == 2 ? 0 : 2;
    if (!is_loopback(s.cfg.host) && !s.cfg.api_key)
        fprintf(stderr, "slm serve: warning: listening on %s without --api-key: anyone who can reach this "
                        "machine can use the model\n", s.cfg.host);
    /* Signals are taken by sigwait below, not by whichever thread runs. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    metrics_init(&s.metrics, s.cfg.parallel);
    s.started = (long long)time(NULL);
    char err[600];
    if (!server_listen(&s, err, sizeof err)) {
        fprintf(stderr, "slm serve: %s\n", err);
        free(key_owned);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? di->port : s.cfg.port;
    fprintf(stderr, "slm serve: listening on http://%s:%d (loading %s)\n", s.cfg.host, port, s.cfg.model_path);
    if (!server_load(&s, err, sizeof err)) {
        fprintf(stderr, "slm serve: %s\n", err);
        server_shutdown(&s);
        metrics_destroy(&s.metrics);
        free(key_owned);
        return 1;
    }
    fprintf(stderr, "slm serve: ready: model %s, %d slots of %u tokens, chat template %s%s\n", s.cfg.alias,
            s.cfg.parallel, slm_context_n_ctx(s.ctx), chat_family_name(s.tmpl.family),
            s.tmpl.recognised ? "" : " (fallback)");
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "slm serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_shutdown(&s);
    metrics_destroy(&s.metrics);
    free(key_owned);
    return 0;
}
