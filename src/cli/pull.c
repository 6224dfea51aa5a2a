/* pull.c - `slm pull`'s engine: one HTTP GET (following redirects) into
 * "<dest>.part", resumed with a Range request when a .part is already there,
 * then fsync, SHA-256 check and an atomic rename to the final name. A file
 * under the final name is therefore always complete and verified. */
#include "cli/pull.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/sha256.h"
#include "slm.h"

#define PULL_ERR "slm pull: "
#define DEFAULT_ENDPOINT "https://huggingface.co"
#define CONNECT_TIMEOUT_S 15L
#define LOW_SPEED_BYTES 1024L /* abort below 1 KB/s ... */
#define LOW_SPEED_TIME_S 30L  /* ... sustained this long */

/* ---- paths and names --------------------------------------------------- */

/* mkdir -p. Returns 0 or -1 with errno set. */
static int make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = saved;
        if (saved == '\0') return 0;
    }
}

static int make_parent_dirs(const char *file_path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file_path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    return make_dirs(dir);
}

int slm_pull_cache_dir(char *buf, size_t cap) {
    const char *env = getenv("SLM_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (env && *env) n = snprintf(buf, cap, "%s", env);
    else if (xdg && *xdg) n = snprintf(buf, cap, "%s/slm/models", xdg);
    else if (home && *home) n = snprintf(buf, cap, "%s/.cache/slm/models", home);
    else {
        fprintf(stderr, PULL_ERR "no cache folder: set SLM_CACHE_DIR (or HOME)\n");
        return 1;
    }
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, PULL_ERR "cache folder path is too long\n");
        return 1;
    }
    if (make_dirs(buf) != 0) {
        fprintf(stderr, PULL_ERR "cannot create cache folder %s: %s\n", buf, strerror(errno));
        return 1;
    }
    return 0;
}

int slm_pull_default_model_path(char *buf, size_t cap) {
    char dir[4096];
    if (slm_pull_cache_dir(dir, sizeof dir)) return 1;
    int n = snprintf(buf, cap, "%s/%s", dir, SLM_DEFAULT_MODEL_NAME);
    return n < 0 || (size_t)n >= cap;
}

/* A repository or file path must stay a plain relative path: no "..", no
 * ".", no empty or absolute parts, no control characters. */
static bool is_safe_path(const char *s) {
    if (!*s || *s == '/') return false;
    for (const char *seg = s; seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) return false;
        seg = end ? end + 1 : NULL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\') return false;
    return true;
}

/* Appends s to url, percent-encoding everything but unreserved characters and '/'. */
static bool url_append_path(char *url, size_t cap, const char *s) {
    size_t n = strlen(url);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = isalnum(*p) || strchr("-._~/", *p);
        if (n + (plain ? 1 : 3) >= cap) return false;
        if (plain) url[n++] = (char)*p;
        else n += (size_t)snprintf(url + n, cap - n, "%%%02X", *p);
    }
    url[n] = '\0';
    return true;
}

/* The endpoint without trailing slashes. */
static void endpoint(char *buf, size_t cap) {
    const char *e = getenv("SLM_HF_ENDPOINT");
    snprintf(buf, cap, "%s", e && *e ? e : DEFAULT_ENDPOINT);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/') buf[--n] = '\0';
}

/* ---- a download in progress --------------------------------------------- */

typedef struct transfer {
    int fd;                /* the .part file, opened for appending */
    curl_off_t resume_at;  /* bytes already in the .part when we asked */
    /* The response being received (reset at each status line: redirects). */
    long status;
    curl_off_t content_length; /* -1: not given */
    curl_off_t range_start;    /* from Content-Range; -1: none */
    curl_off_t range_total;    /* from Content-Range; -1: none or '*' */
    char etag[72];             /* ETag if it is a sha256, else "" */
    char error_message[160];   /* X-Error-Message (Hugging Face explains errors there) */
    char last_url[1024];       /* the URL of the last request (a redirect target, say) */
    /* Across the redirect chain: HF puts the LFS sha256 on the first hop. */
    char linked_etag[72];
    /* The body. */
    bool body_started;
    bool discard;         /* an error page: not written to the .part */
    curl_off_t base;      /* file offset where this response's bytes begin */
    curl_off_t received;  /* body bytes written by this response */
    char failure[256];    /* why a callback aborted the transfer */
    /* Progress display. */
    const char *label;
    bool tty;
    double start, last_draw;
} transfer;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps a header value iff it is a 64-hex sha256 (quotes and a weak W/ prefix
 * stripped), lowercased. Other ETags (git blob sha1s, S3 md5s) are ignored. */
static void keep_sha256(char out[72], const char *value, size_t len) {
    if (len >= 2 && value[0] == 'W' && value[1] == '/') value += 2, len -= 2;
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') value++, len -= 2;
    if (len != 64) return;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)value[i])) return;
    for (size_t i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)value[i]);
    out[64] = '\0';
}

/* If line is "Name: value", returns value (trimmed into *len); else NULL. */
static const char *header_value(const char *line, size_t n, const char *name, size_t *len) {
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':') return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    *len = (size_t)(end - v);
    return v;
}

static void parse_content_range(transfer *t, const char *v, size_t len) {
    char buf[96];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), v);
    long long start = -1, last = -1, total = -1;
    if (sscanf(buf, "bytes %lld-%lld/%lld", &start, &last, &total) == 3) {
        t->range_start = start;
        t->range_total = total;
    } else if (sscanf(buf, "bytes */%lld", &total) == 1) {
        t->range_total = total;
    }
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userdata) {
    transfer *t = userdata;
    size_t n = size * nitems, len = 0;
    const char *v;
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response begins */
        const char *sp = memchr(line, ' ', n);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        t->content_length = t->range_start = t->range_total = -1;
        t->etag[0] = t->error_message[0] = '\0';
    } else if ((v = header_value(line, n, "content-length", &len))) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), v);
        t->content_length = strtoll(buf, NULL, 10);
    } else if ((v = header_value(line, n, "content-range", &len))) {
        parse_content_range(t, v, len);
    } else if ((v = header_value(line, n, "x-linked-etag", &len))) {
        keep_sha256(t->linked_etag, v, len);
    } else if ((v = header_value(line, n, "etag", &len))) {
        keep_sha256(t->etag, v, len);
    } else if ((v = header_value(line, n, "x-error-message", &len))) {
        snprintf(t->error_message, sizeof t->error_message, "%.*s", (int)len, v);
    }
    return n;
}

/* The first body byte of the final response: decide where it goes. */
static bool begin_body(transfer *t) {
    t->body_started = true;
    t->received = 0;
    if (t->status == 206) {
        if (t->range_start != t->resume_at) {
            snprintf(t->failure, sizeof t->failure, "the server resumed at byte %lld, not %lld as asked; pass --force to start over",
                     (long long)t->range_start, (long long)t->resume_at);
            return false;
        }
        t->base = t->resume_at;
    } else if (t->status == 200) {
        /* The whole file: the server ignored our Range (or we sent none). */
        if (t->resume_at > 0) {
            fprintf(stderr, "slm pull: the server does not resume downloads; starting %s from zero\n", t->label);
            if (ftruncate(t->fd, 0) != 0) {
                snprintf(t->failure, sizeof t->failure, "cannot truncate the partial download: %s", strerror(errno));
                return false;
            }
        }
        t->base = 0;
    } else {
        t->discard = true; /* an error page or an unexpected status */
    }
    t->start = t->last_draw = now_seconds();
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
    transfer *t = userdata;
    size_t n = size * nmemb;
    if (!t->body_started && !begin_body(t)) return 0;
    if (t->discard) return n;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(t->fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            snprintf(t->failure, sizeof t->failure, "cannot write the partial download: %s", strerror(errno));
            return 0;
        }
        done += (size_t)w;
    }
    t->received += (curl_off_t)n;
    return n;
}

/* ---- progress ------------------------------------------------------------- */

static void format_bytes(char *buf, size_t cap, double b) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void format_duration(char *buf, size_t cap, double s) {
    long v = s < 0 ? 0 : s > 359999 ? 359999 : (long)(s + 0.5);
    if (v >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
    else snprintf(buf, cap, "%ld:%02ld", v / 60, v % 60);
}

/* The expected full size of the file, or -1. */
static curl_off_t expected_total(const transfer *t) {
    if (t->status == 206 && t->range_total >= 0) return t->range_total;
    if (t->content_length >= 0) return t->base + t->content_length;
    return -1;
}

/* "name  42% [=====>      ] 1.2 MiB / 3.0 MiB  850.0 KiB/s  ETA 0:02" */
static void draw_progress(const transfer *t) {
    double elapsed = now_seconds() - t->start;
    double speed = elapsed > 0 ? (double)t->received / elapsed : 0;
    curl_off_t done = t->base + t->received, total = expected_total(t);
    char have[32], all[32] = "?", rate[32], eta[32] = "-:--";
    format_bytes(have, sizeof have, (double)done);
    format_bytes(rate, sizeof rate, speed);
    char bar[27] = "[                        ]";
    int pct = 0;
    if (total > 0) {
        format_bytes(all, sizeof all, (double)total);
        pct = (int)(100.0 * (double)done / (double)total);
        int fill = (int)(24.0 * (double)done / (double)total);
        for (int i = 0; i < fill && i < 24; i++) bar[1 + i] = '=';
        if (fill < 24) bar[1 + fill] = '>';
        if (speed > 0) format_duration(eta, sizeof eta, (double)(total - done) / speed);
    }
    fprintf(stderr, "\r%-24.24s %3d%% %s %s / %s  %s/s  ETA %s\033[K", t->label, pct, bar, have, all, rate, eta);
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    transfer *t = userdata;
    if (!t->tty || !t->body_started || t->discard) return 0;
    double now = now_seconds();
    if (now - t->last_draw < 0.2) return 0;
    t->last_draw = now;
    draw_progress(t);
    return 0;
}

/* The last word on a transfer: the finished bar on a terminal, one line otherwise. */
static void finish_progress(const transfer *t) {
    if (!t->body_started || t->discard) return;
    if (t->tty) {
        draw_progress(t);
        fputc('\n', stderr);
        return;
    }
    double elapsed = now_seconds() - t->start;
    char got[32], rate[32], total[32];
    format_bytes(got, sizeof got, (double)t->received);
    format_bytes(rate, sizeof rate, elapsed > 0 ? (double)t->received / elapsed : 0);
    format_bytes(total, sizeof total, (double)(t->base + t->received));
    fprintf(stderr, "slm pull: %s: %s received in %.1f s (%s/s)", t->label, got, elapsed, rate);
    fprintf(stderr, t->base > 0 ? ", %s with the resumed part\n" : "\n", total);
}

/* ---- the HTTP request -------------------------------------------------------- */

static long timeout_setting(long fallback) {
    const char *s = getenv("SLM_PULL_TIMEOUT"); /* tests make it short */
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? v : fallback;
}

static void global_init_once(void) {
    static bool done = false; /* the CLI is single-threaded here */
    if (!done) curl_global_init(CURL_GLOBAL_DEFAULT);
    done = true;
}

/* Runs one GET of url into t (appending after t->resume_at). Returns the curl
 * result; errbuf gets curl's detailed message. */
static CURLcode http_get(const char *url, transfer *t, char errbuf[CURL_ERROR_SIZE]) {
    global_init_once();
    CURL *curl = curl_easy_init();
    if (!curl) return CURLE_FAILED_INIT;
    struct curl_slist *headers = NULL;
    const char *token = getenv("HF_TOKEN");
    if (token && *token) {
        char auth[4096];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth); /* curl drops it on redirects to other hosts */
    }
    char range[48];
    snprintf(range, sizeof range, "%lld-", (long long)t->resume_at);
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "slm/" SLM_VERSION);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_setting(CONNECT_TIMEOUT_S));
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, timeout_setting(LOW_SPEED_TIME_S));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    /* CURLOPT_RANGE, not RESUME_FROM: we want to see a 200 and start over ourselves. */
    if (t->resume_at > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status) t->status = status;
    char *last = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &last) == CURLE_OK && last)
        snprintf(t->last_url, sizeof t->last_url, "%s", last);
    /* An empty 200/206 body never calls on_body; settle it here. */
    if (rc == CURLE_OK && !t->body_started && !begin_body(t)) rc = CURLE_WRITE_ERROR;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/* ---- reporting failures ------------------------------------------------------ */

static bool is_connection_error(CURLcode rc) {
    return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_CONNECT ||
           rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING;
}

static void report_http_error(const slm_pull_request *req, const transfer *t, const char *host, const char *url) {
    long s = t->status;
    const char *token = getenv("HF_TOKEN");
    if (s == 401 || s == 403) {
        if (token && *token)
            fprintf(stderr, PULL_ERR "HTTP %ld: %s refused access to %s with the HF_TOKEN that was sent; check that the "
                                     "token is valid and has access to this repository (gated models need their "
                                     "license accepted on the website)\n", s, host, req->repo);
        else
            fprintf(stderr, PULL_ERR "HTTP %ld: %s refused access to %s; the repository may be private or gated: set "
                                     "HF_TOKEN to a Hugging Face access token with read access\n", s, host, req->repo);
    } else if (s == 404) {
        fprintf(stderr, PULL_ERR "HTTP 404: %s not found: no file '%s' in repository '%s' (check both names)\n", url,
                req->file, req->repo);
    } else {
        fprintf(stderr, PULL_ERR "HTTP %ld from %s\n", s, url);
    }
    if (t->error_message[0]) fprintf(stderr, PULL_ERR "the server says: %s\n", t->error_message);
}

/* ---- the whole pull -------------------------------------------------------------- */

/* Opens (creating) and locks the .part; t->resume_at = its size. -1 on error. */
static int open_part(const char *part, bool fresh, transfer *t) {
    int fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, PULL_ERR "cannot open %s: %s\n", part, strerror(errno));
        return -1;
    }
    /* Two pulls appending to one .part would interleave their bytes. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, PULL_ERR "%s is being downloaded by another slm pull\n", part);
        close(fd);
        return -1;
    }
    struct stat st;
    if ((fresh && ftruncate(fd, 0) != 0) || fstat(fd, &st) != 0) {
        fprintf(stderr, PULL_ERR "cannot use %s: %s\n", part, strerror(errno));
        close(fd);
        return -1;
    }
    t->fd = fd;
    t->resume_at = st.st_size;
    return 0;
}

/* Transfers until the .part holds the whole file (retrying once from zero if
 * the server rejects our range). Returns 0, or 1 after printing an error. */
static int download(const slm_pull_request *req, const char *url, const char *host, const char *part, transfer *t) {
    for (int attempt = 0;; attempt++) {
        if (t->resume_at > 0)
            fprintf(stderr, "slm pull: resuming %s at byte %lld\n", t->label, (long long)t->resume_at);
        t->body_started = t->discard = false;
        t->failure[0] = t->last_url[0] = '\0';
        t->status = 0;
        t->base = t->resume_at;
        t->received = 0;
        char errbuf[CURL_ERROR_SIZE];
        CURLcode rc = http_get(url, t, errbuf);
        finish_progress(t);
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        if (t->status == 416 && t->resume_at > 0) {
            /* Range not satisfiable: the .part is already whole, or it is not ours. */
            if (t->range_total == t->resume_at) return 0;
            if (attempt == 0 && ftruncate(t->fd, 0) == 0) {
                t->resume_at = 0;
                continue;
            }
        }
        bool redirected = t->status >= 300 && t->status < 400;
        if (rc != CURLE_OK && !t->body_started && is_connection_error(rc) && (t->status == 0 || redirected)) {
            /* No answer at all, or none from the server we were redirected to. */
            fprintf(stderr, PULL_ERR "cannot reach %s: %s; download the file yourself and pass -m PATH\n"
                                     "  (the file: %s)\n", redirected && t->last_url[0] ? t->last_url : host, why, url);
            return 1;
        }
        if (t->status != 200 && t->status != 206) {
            if (t->status == 0) fprintf(stderr, PULL_ERR "%s: %s\n", url, why);
            else report_http_error(req, t, host, url);
            return 1;
        }
        if (t->failure[0]) {
            fprintf(stderr, PULL_ERR "%s\n", t->failure);
            return 1;
        }
        curl_off_t total = expected_total(t), have = t->base + t->received;
        if (rc != CURLE_OK || (total >= 0 && have != total)) {
            char got[32], want[32] = "?";
            format_bytes(got, sizeof got, (double)have);
            if (total >= 0) format_bytes(want, sizeof want, (double)total);
            fprintf(stderr, PULL_ERR "the transfer ended early (%s of %s: %s); the partial download is kept in %s: "
                                     "run the same command again to resume\n", got, want,
                    rc != CURLE_OK ? why : "connection closed", part);
            return 1;
        }
        return 0;
    }
}

/* fsync the file, check its digest, rename it into place. 0, or 1 after an error. */
static int verify_and_commit(const slm_pull_request *req, const transfer *t, const char *part) {
    if (fsync(t->fd) != 0) {
        fprintf(stderr, PULL_ERR "cannot flush %s to disk: %s\n", part, strerror(errno));
        return 1;
    }
    char actual[65];
    if (slm_sha256_file(part, actual) != 0) {
        fprintf(stderr, PULL_ERR "cannot read back %s: %s\n", part, strerror(errno));
        return 1;
    }
    const char *expected = req->sha256 ? req->sha256 : t->linked_etag[0] ? t->linked_etag : t->etag[0] ? t->etag : NULL;
    if (!expected) {
        fprintf(stderr, "slm pull: warning: no sha256 to check %s against (pass --sha256 HEX); its sha256 is %s\n",
                t->label, actual);
    } else if (strcasecmp(expected, actual) != 0) {
        unlink(part);
        fprintf(stderr, PULL_ERR "sha256 mismatch for %s: expected %s, got %s; the download was deleted\n",
                req->file, expected, actual);
        return 1;
    }
    if (rename(part, req->dest_path) != 0) {
        fprintf(stderr, PULL_ERR "cannot rename %s to %s: %s\n", part, req->dest_path, strerror(errno));
        return 1;
    }
    /* Make the rename itself durable. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", req->dest_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* dest_path exists and --force was not given: keep it if it checks out. */
static int check_existing(const slm_pull_request *req) {
    if (req->sha256) {
        char actual[65];
        if (slm_sha256_file(req->dest_path, actual) != 0) {
            fprintf(stderr, PULL_ERR "cannot read %s: %s\n", req->dest_path, strerror(errno));
            return 1;
        }
        if (strcasecmp(actual, req->sha256) != 0) {
            fprintf(stderr, PULL_ERR "%s exists but its sha256 is %s, not %s; pass --force to download it again\n",
                    req->dest_path, actual, req->sha256);
            return 1;
        }
    }
    fprintf(stderr, "slm pull: %s is already there (--force downloads it again)\n", req->dest_path);
    return 0;
}

int slm_pull(const slm_pull_request *req) {
    if (!is_safe_path(req->repo) || !is_safe_path(req->file)) {
        fprintf(stderr, PULL_ERR "refusing repository '%s' / file '%s': use plain relative names (no '..', no "
                                 "leading '/')\n", req->repo, req->file);
        return 1;
    }
    struct stat st;
    if (!req->force && stat(req->dest_path, &st) == 0) return check_existing(req);

    char host[1024], url[8192];
    endpoint(host, sizeof host);
    snprintf(url, sizeof url, "%s/", host);
    if (!url_append_path(url, sizeof url, req->repo) || !url_append_path(url, sizeof url, "/resolve/main/") ||
        !url_append_path(url, sizeof url, req->file)) {
        fprintf(stderr, PULL_ERR "repository or file name too long\n");
        return 1;
    }
    char part[4096 + 8];
    snprintf(part, sizeof part, "%s.part", req->dest_path);
    if (make_parent_dirs(req->dest_path) != 0) {
        fprintf(stderr, PULL_ERR "cannot create the folder of %s: %s\n", req->dest_path, strerror(errno));
        return 1;
    }

    transfer t;
    memset(&t, 0, sizeof t);
    const char *slash = strrchr(req->dest_path, '/');
    t.label = slash ? slash + 1 : req->dest_path;
    t.tty = isatty(STDERR_FILENO);
    if (open_part(part, req->force, &t) != 0) return 1;
    int rc = download(req, url, host, part, &t);
    if (rc == 0) rc = verify_and_commit(req, &t, part);
    /* A failure before the first byte leaves nothing worth resuming. */
    if (rc != 0 && fstat(t.fd, &st) == 0 && st.st_size == 0) unlink(part);
    close(t.fd);
    return rc;
}

int slm_pull_default_model(const char *dest_path) {
    slm_pull_request req = {
        .repo = SLM_DEFAULT_MODEL_REPO,
        .file = SLM_DEFAULT_MODEL_FILE,
        .dest_path = dest_path,
        .sha256 = SLM_DEFAULT_MODEL_SHA256,
        .force = false,
    };
    return slm_pull(&req);
}
