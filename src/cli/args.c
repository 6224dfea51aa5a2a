/* args.c - option parsing helpers shared by the subcommands. */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the name that arg starts with if it is one of names, followed
 * by the end of arg or by '=' (when allow_eq); 0 when none matches. */
static size_t match_name(const char *arg, const char *names, bool allow_eq) {
    const char *p = names;
    while (*p) {
        const char *end = strchr(p, '|');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (strncmp(arg, p, len) == 0 && (arg[len] == '\0' || (allow_eq && arg[len] == '=')))
            return len;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

bool slm_arg_is(const char *arg, const char *names) {
    return match_name(arg, names, false) > 0;
}

bool slm_arg_load_mode(const char *arg, slm_load_mode *mode) {
    if (!strcmp(arg, "--mmap")) *mode = SLM_LOAD_MMAP;
    else if (!strcmp(arg, "--no-mmap")) *mode = SLM_LOAD_COPY;
    else return false;
    return true;
}

int slm_arg_value(const char *cmd, int argc, char **argv, int *i, const char *names, const char **value) {
    const char *arg = argv[*i];
    size_t len = match_name(arg, names, strncmp(arg, "--", 2) == 0);
    if (!len) return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "slm %s: %s needs a value\n", cmd, arg);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

bool slm_arg_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno == ERANGE) {
        fprintf(stderr, "slm %s: %s: expected a whole number, got '%s'\n", cmd, opt, s);
        return false;
    }
    if (v < min || v > max) {
        fprintf(stderr, "slm %s: %s: %ld is out of range [%ld, %ld]\n", cmd, opt, v, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool slm_arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno == ERANGE) {
        fprintf(stderr, "slm %s: %s: expected a non-negative whole number, got '%s'\n", cmd, opt, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool slm_arg_float(const char *cmd, const char *opt, const char *s, double min, double max, float *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || isnan(v)) {
        fprintf(stderr, "slm %s: %s: expected a number, got '%s'\n", cmd, opt, s);
        return false;
    }
    if (v < min || v > max) {
        fprintf(stderr, "slm %s: %s: %g is out of range [%g, %g]\n", cmd, opt, v, min, max);
        return false;
    }
    *out = (float)v;
    return true;
}

char *slm_read_file(const char *cmd, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "slm %s: cannot open %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) free(buf);
            buf = grown;
        }
    }
    bool failed = !buf || ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "slm %s: cannot read %s\n", cmd, path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

slm_token *slm_tokenize_file(const char *cmd, const slm_vocab *v, const char *path, size_t *n) {
    size_t len = 0;
    char *text = slm_read_file(cmd, path, &len);
    if (!text) return NULL;
    slm_token *t = NULL;
    slm_error err;
    if (slm_tokenize(v, text, len, true, false, &t, n, &err) != SLM_OK) {
        fprintf(stderr, "slm %s: %s: %s\n", cmd, path, err.message);
        t = NULL;
    }
    free(text);
    return t;
}
