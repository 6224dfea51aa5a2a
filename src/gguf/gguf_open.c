/* gguf_open.c - getting a GGUF file into memory (mmap, or read() for pipes
 * and other files that cannot be mapped) and releasing it.  Parsing is in
 * gguf_read.c. */
#include "gguf/gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

static bool host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static slm_status new_handle(const char *name, slm_gguf **out, slm_error *err) {
    if (!host_is_little_endian())
        return slm_fail(err, SLM_E_UNSUPPORTED, "%s: GGUF reading needs a little-endian host", name);
    slm_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(name))) {
        free(g);
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", name);
    }
    *out = g;
    return SLM_OK;
}

static slm_status finish_open(slm_gguf *g, slm_gguf **out, slm_error *err) {
    slm_status s = slm_gguf_parse(g, err);
    if (s) {
        slm_gguf_close(g);
        return s;
    }
    *out = g;
    return SLM_OK;
}

slm_status slm_gguf_open_memory(const void *data, size_t size, const char *name, slm_gguf **out,
                                slm_error *err) {
    slm_gguf *g = NULL;
    *out = NULL;
    slm_status s = new_handle(name ? name : "<memory>", &g, err);
    if (s) return s;
    g->base = data;
    g->size = size;
    return finish_open(g, out, err);
}

/* Reads a stream that cannot be mapped (a pipe, a device).  It stops early
 * when the first bytes are not the GGUF magic, so that a file like
 * /dev/zero fails at once instead of filling the memory. */
static slm_status read_all(int fd, const char *path, uint8_t **buf, uint64_t *size, slm_error *err) {
    size_t cap = (size_t)1 << 16, len = 0;
    uint8_t *p = malloc(cap);
    if (!p) return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", path);
    for (;;) {
        if (len == cap) {
            uint8_t *q = cap <= SIZE_MAX / 2 ? realloc(p, cap * 2) : NULL;
            if (!q) {
                free(p);
                return slm_fail(err, SLM_E_NOMEM, "%s: out of memory after reading %zu bytes", path, len);
            }
            p = q;
            cap *= 2;
        }
        ssize_t r = read(fd, p + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(p);
            return slm_fail(err, SLM_E_IO, "%s: read failed after %zu bytes: %s", path, len, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len >= 4 && memcmp(p, "GGUF", 4) != 0) break; /* the parser reports the bad magic */
    }
    *buf = p;
    *size = len;
    return SLM_OK;
}

/* Maps a regular file, or reads anything else into memory. */
static slm_status load(int fd, const struct stat *st, slm_gguf *g, slm_error *err) {
    if (S_ISREG(st->st_mode) && st->st_size > 0) {
        if ((uint64_t)st->st_size > SIZE_MAX)
            return slm_fail(err, SLM_E_IO, "%s: file of %lld bytes is too large for this machine", g->path,
                            (long long)st->st_size);
        void *map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            g->base = map;
            g->size = (uint64_t)st->st_size;
            g->mapped = true;
            return SLM_OK;
        }
    }
    uint8_t *buf = NULL;
    slm_status s = read_all(fd, g->path, &buf, &g->size, err);
    if (s) return s;
    g->owned = buf;
    g->base = buf;
    return SLM_OK;
}

slm_status slm_gguf_open(const char *path, slm_gguf **out, slm_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return slm_fail(err, SLM_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return slm_fail(err, SLM_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return slm_fail(err, SLM_E_IO, "%s: is a directory, not a GGUF file", path);
    }
    slm_gguf *g = NULL;
    slm_status s = new_handle(path, &g, err);
    if (!s) s = load(fd, &st, g, err);
    close(fd);
    if (s) {
        slm_gguf_close(g);
        return s;
    }
    return finish_open(g, out, err);
}

void slm_gguf_close(slm_gguf *g) {
    if (!g) return;
    if (g->mapped) munmap((void *)g->base, (size_t)g->size);
    free(g->owned);
    for (size_t i = 0; i < g->n_allocs; i++) free(g->allocs[i]);
    free(g->allocs);
    free(g->path);
    free(g);
}
