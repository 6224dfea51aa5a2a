/* fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Opens the input as an in-memory GGUF file.  When it parses, every key,
 * value (recursing into nested arrays) and tensor is walked and every byte of
 * tensor data is read, so that a bad bound anywhere in the reader shows up as
 * an AddressSanitizer report.  A failure must come with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"

/* Folds bytes into a value the optimizer cannot drop. */
static volatile uint8_t sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint8_t x = 0;
    for (uint64_t i = 0; i < n; i++) x ^= b[i];
    sink ^= x;
}

static void walk_value(const slm_gguf_value *v) {
    if (v->type == SLM_GGUF_STRING) {
        touch(v->v.str.ptr, v->v.str.len);
        return;
    }
    if (v->type != SLM_GGUF_ARRAY) return; /* scalars were copied out while parsing */
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        if (v->v.arr.type == SLM_GGUF_STRING) touch(v->v.arr.strs[i].ptr, v->v.arr.strs[i].len);
        else if (v->v.arr.type == SLM_GGUF_ARRAY) walk_value(&v->v.arr.items[i]);
    }
    int es = 0;
    switch (v->v.arr.type) {
    case SLM_GGUF_U8: case SLM_GGUF_I8: case SLM_GGUF_BOOL: es = 1; break;
    case SLM_GGUF_U16: case SLM_GGUF_I16: es = 2; break;
    case SLM_GGUF_U32: case SLM_GGUF_I32: case SLM_GGUF_F32: es = 4; break;
    case SLM_GGUF_U64: case SLM_GGUF_I64: case SLM_GGUF_F64: es = 8; break;
    default: break;
    }
    if (es) touch(v->v.arr.data, v->v.arr.n * (uint64_t)es);
    if (v->v.arr.type == SLM_GGUF_BOOL) {
        const bool *b = v->v.arr.data;
        for (uint64_t i = 0; i < v->v.arr.n; i++) sink ^= (uint8_t)b[i]; /* UBSan checks 0/1 */
    }
}

static void walk(const slm_gguf *g) {
    for (uint64_t i = 0; i < slm_gguf_n_keys(g); i++) {
        const char *key = slm_gguf_key_name(g, i);
        if (slm_gguf_find_key(g, key) != (int64_t)i) abort(); /* keys are unique and indexed */
        walk_value(slm_gguf_key_value(g, i));
        int64_t iv;
        double fv;
        slm_error err;
        if (slm_gguf_get_int(g, key, &iv, &err) && !err.message[0]) abort();
        (void)slm_gguf_get_float(g, key, &fv, NULL);
    }
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (slm_gguf_find_tensor(g, t->name) != t) abort();
        if (t->offset % slm_gguf_alignment(g) != 0) abort();
        if (t->file_offset + t->n_bytes > slm_gguf_file_size(g)) abort();
        touch(t->data, t->n_bytes);
        if (slm_type_block_size(t->type) == 0) abort(); /* only valid type ids get through */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* libFuzzer hands over an exactly sized heap buffer: ASan catches any read past it. */
    slm_gguf *g = NULL;
    slm_error err;
    err.message[0] = '\0';
    slm_status s = slm_gguf_open_memory(data, size, "fuzz.gguf", &g, &err);
    if (s == SLM_OK) {
        walk(g);
        slm_gguf_close(g);
    } else if (!strstr(err.message, "fuzz.gguf") || g != NULL) {
        abort(); /* every failure names the file and leaves no handle */
    }
    return 0;
}
