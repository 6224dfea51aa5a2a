/* model_path.h - which model file a command uses when the user names none. */
#ifndef SLM_CLI_MODEL_PATH_H
#define SLM_CLI_MODEL_PATH_H

#include <stddef.h>

/* Resolves the model to load into buf: `given` (-m) if not NULL, else
 * $SLM_MODEL, else the default model in the cache folder
 * ($SLM_CACHE_DIR, $XDG_CACHE_HOME/slm/models or ~/.cache/slm/models),
 * downloading it when it is missing.  Returns 0, or 1 after printing an
 * error that says how to pass a model with -m. */
int slm_resolve_model_path(const char *cmd, const char *given, char *buf, size_t cap);

#endif
