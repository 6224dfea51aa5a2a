/* pull.h - downloading model files from Hugging Face (or a mirror) with
 * libcurl: resumable, verified by SHA-256, atomically renamed into place. */
#ifndef SLM_CLI_PULL_H
#define SLM_CLI_PULL_H

#include <stdbool.h>
#include <stddef.h>

/* The default model: tiny, so that `slm run` works out of the box. */
#define SLM_DEFAULT_MODEL_REPO "ggml-org/models"
#define SLM_DEFAULT_MODEL_FILE "tinyllamas/stories260K.gguf"
#define SLM_DEFAULT_MODEL_NAME "stories260K.gguf"
#define SLM_DEFAULT_MODEL_SHA256 "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"
#define SLM_DEFAULT_MODEL_SIZE 1185376

typedef struct slm_pull_request {
    const char *repo;      /* "owner/name" */
    const char *file;      /* path of the file inside the repository */
    const char *dest_path; /* where the verified file ends up */
    const char *sha256;    /* expected digest (64 hex), or NULL: use the server's, if it gives one */
    bool force;            /* download again even when dest_path exists; drops a partial download */
} slm_pull_request;

/* Downloads $SLM_HF_ENDPOINT/REPO/resolve/main/FILE (endpoint default
 * https://huggingface.co; sends `Authorization: Bearer $HF_TOKEN` when set).
 * Bytes go to "<dest_path>.part", which a later call resumes with a Range
 * request; only a complete, verified file is renamed to dest_path. Progress
 * and errors go to stderr; nothing to stdout. Returns 0 on success, 1 after
 * printing an error. */
int slm_pull(const slm_pull_request *req);

/* Fetches the default model into dest_path, verified against the pinned
 * SHA-256. Returns 0 on success (also when it is already there), non-zero
 * after printing an error. */
int slm_pull_default_model(const char *dest_path);

/* The model cache folder, created if needed: $SLM_CACHE_DIR, else
 * $XDG_CACHE_HOME/slm/models, else ~/.cache/slm/models. Returns 0, or 1 after
 * printing an error. */
int slm_pull_cache_dir(char *buf, size_t cap);

/* "<cache dir>/stories260K.gguf" (the folder is created). Returns 0 or 1. */
int slm_pull_default_model_path(char *buf, size_t cap);

#endif
