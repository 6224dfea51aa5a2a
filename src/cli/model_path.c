/* model_path.c - default-model resolution: -m, then $SLM_MODEL, then the
 * cached stories260K (fetched on first use), so that a bare `slm run` works. */
#include "cli/model_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli/pull.h"

static int copy_path(const char *cmd, const char *path, char *buf, size_t cap) {
    if ((size_t)snprintf(buf, cap, "%s", path) >= cap) {
        fprintf(stderr, "slm %s: model path too long: %s\n", cmd, path);
        return 1;
    }
    return 0;
}

int slm_resolve_model_path(const char *cmd, const char *given, char *buf, size_t cap) {
    if (given) return copy_path(cmd, given, buf, cap);
    const char *env = getenv("SLM_MODEL");
    if (env && *env) return copy_path(cmd, env, buf, cap);
    if (slm_pull_default_model_path(buf, cap) != 0) {
        fprintf(stderr, "slm %s: no model given and no cache folder for the default one; pass -m FILE.gguf "
                        "or set SLM_MODEL\n", cmd);
        return 1;
    }
    struct stat st;
    if (stat(buf, &st) == 0) return 0;
    fprintf(stderr, "slm %s: no model given (-m FILE.gguf or $SLM_MODEL); fetching the default model %s into %s\n",
            cmd, SLM_DEFAULT_MODEL_NAME, buf);
    if (slm_pull_default_model(buf) != 0) {
        fprintf(stderr, "slm %s: could not download the default model (no network?). Pass a local model with "
                        "-m FILE.gguf, or set SLM_MODEL=FILE.gguf\n", cmd);
        return 1;
    }
    return 0;
}
