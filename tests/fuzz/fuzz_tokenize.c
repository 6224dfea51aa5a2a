/* fuzz_tokenize.c - libFuzzer target for the tokenizers on untrusted text.
 *
 * Prompt text comes from HTTP clients and files, so every byte string must
 * tokenize without a crash: invalid UTF-8, NULs, lone special-token
 * markers, long runs.  The vocabularies are the real ones of the shared test
 * data (SPM, byte-level BPE with several pre-tokenizer regexes, WordPiece):
 * SLM_TEST_DATA (default ../shared, the repository's sibling, as for the
 * unit tests).  Without them the target refuses to start rather than fuzz
 * nothing.
 *
 * Input: byte 0 picks the vocabulary, byte 1 the flags (add_special,
 * parse_special), the rest is the text.  Every token is also turned back
 * into text through the streaming detokenizer and the server's string
 * buffer, as the server does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/strbuf.h"
#include "slm.h"

static const char *const FILES[] = {
    "models/vocab/ggml-vocab-llama-spm.gguf", "models/vocab/ggml-vocab-gpt-2.gguf",
    "models/vocab/ggml-vocab-phi-3.gguf",     "models/vocab/ggml-vocab-starcoder.gguf",
    "models/vocab/ggml-vocab-mpt.gguf",       "models/vocab/ggml-vocab-bert-bge.gguf",
    "models/vocab/ggml-vocab-gpt-neox.gguf",  "models/vocab/ggml-vocab-baichuan.gguf",
};
#define N_FILES (sizeof FILES / sizeof FILES[0])

static slm_vocab *vocabs[N_FILES];
static size_t n_vocabs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("SLM_TEST_DATA");
    if (!dir || !*dir) dir = "../shared";
    for (size_t i = 0; i < N_FILES; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
        slm_error err;
        slm_gguf *g = NULL;
        if (slm_gguf_open(path, &g, &err) != SLM_OK) continue;
        slm_vocab *v = NULL;
        if (slm_vocab_load(g, &v, &err) == SLM_OK) vocabs[n_vocabs++] = v;
        else fprintf(stderr, "fuzz_tokenize: %s: %s (left out)\n", path, err.message);
        slm_gguf_close(g);
    }
    if (n_vocabs == 0) {
        fprintf(stderr, "fuzz_tokenize: no vocabulary under %s/models/vocab (set SLM_TEST_DATA)\n", dir);
        abort();
    }
    return 0;
}

/* The tokens back to text through the server's own path (strbuf.c's
 * sb_append_token grows its buffer to the size slm_detok_push asks for). */
static void detokenize(const slm_vocab *v, const slm_token *ids, size_t n) {
    strbuf text;
    sb_init(&text);
    slm_detok d;
    slm_detok_init(&d, true);
    for (size_t i = 0; i < n; i++) sb_append_token(&text, &d, v, ids[i]);
    char tail[4];
    size_t k = slm_detok_flush(&d, tail, sizeof tail);
    if (k > sizeof tail) abort(); /* 4 bytes always do */
    sb_append(&text, tail, k);
    sb_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const slm_vocab *v = vocabs[data[0] % n_vocabs];
    bool add_special = data[1] & 1, parse_special = data[1] & 2;
    slm_token *ids = NULL;
    size_t n = 0;
    slm_error err;
    if (slm_tokenize(v, (const char *)data + 2, size - 2, add_special, parse_special, &ids, &n, &err) != SLM_OK) {
        if (!err.message[0]) abort(); /* a refusal must say why */
        return 0;
    }
    int32_t n_tokens = slm_vocab_n_tokens(v);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_tokens) abort();
    detokenize(v, ids, n);
    free(ids);
    return 0;
}
