/* cmd_pull.c - `slm pull [REPO FILE] [--dest DIR] [--sha256 HEX] [--force]`:
 * download a model file into the cache and print where it landed. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/pull.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm pull [REPO FILE] [--dest DIR] [--sha256 HEX] [--force]\n\n"
            "Downloads $SLM_HF_ENDPOINT/REPO/resolve/main/FILE (default endpoint https://huggingface.co)\n"
            "and prints the path of the downloaded file. Without REPO FILE: the default model,\n"
            "%s %s.\n\n"
            "  --dest DIR     folder to put the file in (default: the model cache, see below)\n"
            "  --sha256 HEX   expected SHA-256 (default: the server's X-Linked-Etag/ETag when it is one,\n"
            "                 or the pinned digest of the default model)\n"
            "  --force        download again even if the file is there; drops a partial download\n\n"
            "The file keeps FILE's last path component as its name (tinyllamas/stories260K.gguf ->\n"
            "stories260K.gguf). The cache is $SLM_CACHE_DIR, else $XDG_CACHE_HOME/slm/models,\n"
            "else ~/.cache/slm/models. An interrupted download stays in NAME.part and the next pull\n"
            "resumes it. HF_TOKEN, when set, is sent as a Bearer token (private or gated repos).\n",
            SLM_DEFAULT_MODEL_REPO, SLM_DEFAULT_MODEL_FILE);
}

static bool is_sha256_hex(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return n == 64;
}

int slm_cmd_pull(int argc, char **argv) {
    const char *positional[2] = {NULL, NULL}, *dest_dir = NULL, *sha256 = NULL;
    int n_positional = 0;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (!strcmp(a, "--dest") && i + 1 < argc) {
            dest_dir = argv[++i];
        } else if (!strcmp(a, "--sha256") && i + 1 < argc) {
            sha256 = argv[++i];
        } else if (a[0] == '-' || n_positional == 2) {
            fprintf(stderr, "slm pull: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else {
            positional[n_positional++] = a;
        }
    }
    if (n_positional == 1) {
        fprintf(stderr, "slm pull: give both REPO and FILE (or neither, for the default model)\n\n");
        usage(stderr);
        return 2;
    }
    if (sha256 && !is_sha256_hex(sha256)) {
        fprintf(stderr, "slm pull: --sha256 wants 64 hex digits, got '%s'\n", sha256);
        return 2;
    }
    const char *repo = n_positional ? positional[0] : SLM_DEFAULT_MODEL_REPO;
    const char *file = n_positional ? positional[1] : SLM_DEFAULT_MODEL_FILE;

    char dir[4096], dest[8192];
    if (dest_dir) snprintf(dir, sizeof dir, "%s", dest_dir);
    else if (slm_pull_cache_dir(dir, sizeof dir)) return 1;
    const char *slash = strrchr(file, '/');
    snprintf(dest, sizeof dest, "%s/%s", dir, slash ? slash + 1 : file);

    bool is_default = !strcmp(repo, SLM_DEFAULT_MODEL_REPO) && !strcmp(file, SLM_DEFAULT_MODEL_FILE);
    int rc;
    if (is_default && !sha256 && !force) {
        rc = slm_pull_default_model(dest);
    } else {
        slm_pull_request req = {
            .repo = repo,
            .file = file,
            .dest_path = dest,
            .sha256 = sha256 ? sha256 : is_default ? SLM_DEFAULT_MODEL_SHA256 : NULL,
            .force = force,
        };
        rc = slm_pull(&req);
    }
    if (rc != 0) return 1;
    printf("%s\n", dest);
    return 0;
}
