/*
 * slm.h - public API of libslm, a local-first inference engine for small
 * language models stored in GGUF files.
 *
 * Conventions
 *   - Every fallible call returns an slm_status and fills an slm_error (which
 *     may be NULL) with a message that names the file, key or tensor and the
 *     byte offset involved.  The library never prints and never exits.
 *   - Handles are opaque.  Strings returned by the library stay valid for the
 *     lifetime of the handle they came from.
 *   - There is no global mutable state: two models or contexts can be used
 *     from two threads at once.
 */
#ifndef SLM_H
#define SLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLM_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum slm_status {
    SLM_OK = 0,
    SLM_E_IO,          /* a file could not be opened, read or written */
    SLM_E_FORMAT,      /* malformed input (GGUF, JSON, ...) */
    SLM_E_NOMEM,       /* out of memory */
    SLM_E_TYPE,        /* a value has another type than the one asked for */
    SLM_E_NOT_FOUND,   /* key, tensor or token not present */
    SLM_E_UNSUPPORTED, /* valid input that this build cannot compute */
    SLM_E_INVALID,     /* invalid argument */
    SLM_E_CONTEXT,     /* the context (KV cache) is full */
    SLM_E_CANCELLED,   /* the caller cancelled the operation */
    SLM_E_NETWORK,     /* a download failed */
} slm_status;

typedef struct slm_error {
    slm_status status;
    char message[512];
} slm_error;

/* A short constant name for a status ("ok", "io", "format", ...). */
const char *slm_status_name(slm_status status);

/* ------------------------------------------------------------------------ */
/* Tensor types (the ggml type ids stored in GGUF files)                     */
/* ------------------------------------------------------------------------ */

typedef enum slm_type {
    SLM_TYPE_F32 = 0,
    SLM_TYPE_F16 = 1,
    SLM_TYPE_Q4_0 = 2,
    SLM_TYPE_Q4_1 = 3,
    /* 4 and 5 (Q4_2, Q4_3) were removed from ggml */
    SLM_TYPE_Q5_0 = 6,
    SLM_TYPE_Q5_1 = 7,
    SLM_TYPE_Q8_0 = 8,
    SLM_TYPE_Q8_1 = 9,
    SLM_TYPE_Q2_K = 10,
    SLM_TYPE_Q3_K = 11,
    SLM_TYPE_Q4_K = 12,
    SLM_TYPE_Q5_K = 13,
    SLM_TYPE_Q6_K = 14,
    SLM_TYPE_Q8_K = 15,
    SLM_TYPE_IQ2_XXS = 16,
    SLM_TYPE_IQ2_XS = 17,
    SLM_TYPE_IQ3_XXS = 18,
    SLM_TYPE_IQ1_S = 19,
    SLM_TYPE_IQ4_NL = 20,
    SLM_TYPE_IQ3_S = 21,
    SLM_TYPE_IQ2_S = 22,
    SLM_TYPE_IQ4_XS = 23,
    SLM_TYPE_I8 = 24,
    SLM_TYPE_I16 = 25,
    SLM_TYPE_I32 = 26,
    SLM_TYPE_I64 = 27,
    SLM_TYPE_F64 = 28,
    SLM_TYPE_IQ1_M = 29,
    SLM_TYPE_BF16 = 30,
    /* 31..33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) were removed from ggml */
    SLM_TYPE_TQ1_0 = 34,
    SLM_TYPE_TQ2_0 = 35,
    /* 36..38 (IQ4_NL_4_4, ...) were removed from ggml */
    SLM_TYPE_MXFP4 = 39,
    SLM_TYPE_COUNT = 40,
} slm_type;

/* True when id names a ggml type that exists (has a known block layout). */
bool slm_type_valid(uint32_t id);
/* "F32", "Q4_K", ...; "?" for an invalid id. */
const char *slm_type_name(slm_type type);
/* Elements per block (1 for plain types) and bytes per block. 0 if invalid. */
uint32_t slm_type_block_size(slm_type type);
uint32_t slm_type_block_bytes(slm_type type);
/* True when this build can dequantize / compute with the type. */
bool slm_type_computable(slm_type type);
/* Parse a type name (case-insensitive); returns false if unknown. */
bool slm_type_from_name(const char *name, slm_type *out);

/* ------------------------------------------------------------------------ */
/* GGUF reading                                                              */
/* ------------------------------------------------------------------------ */

/* Metadata value types, as numbered in the GGUF format. */
typedef enum slm_gguf_type {
    SLM_GGUF_U8 = 0,
    SLM_GGUF_I8 = 1,
    SLM_GGUF_U16 = 2,
    SLM_GGUF_I16 = 3,
    SLM_GGUF_U32 = 4,
    SLM_GGUF_I32 = 5,
    SLM_GGUF_F32 = 6,
    SLM_GGUF_BOOL = 7,
    SLM_GGUF_STRING = 8,
    SLM_GGUF_ARRAY = 9,
    SLM_GGUF_U64 = 10,
    SLM_GGUF_I64 = 11,
    SLM_GGUF_F64 = 12,
    SLM_GGUF_TYPE_COUNT = 13,
} slm_gguf_type;

const char *slm_gguf_type_name(slm_gguf_type type);

/* A string inside a GGUF file: NOT NUL-terminated; may contain any byte. */
typedef struct slm_str {
    const char *ptr;
    uint64_t len;
} slm_str;

/* A metadata value.  Array elements of a numeric type are copied into an
 * aligned native-endian buffer (arr.data); string elements are views
 * (arr.strs); nested arrays are values of type SLM_GGUF_ARRAY (arr.items). */
typedef struct slm_gguf_value {
    slm_gguf_type type;
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
        bool b;
        slm_str str;
        struct {
            slm_gguf_type type; /* element type */
            uint64_t n;         /* element count */
            const void *data;   /* numeric/bool elements (bool: 1 byte each) */
            const slm_str *strs;
            const struct slm_gguf_value *items;
        } arr;
    } v;
} slm_gguf_value;

typedef struct slm_gguf_tensor {
    const char *name;     /* NUL-terminated copy of the name */
    slm_type type;
    uint32_t n_dims;      /* 1..4 */
    int64_t ne[4];        /* elements per dimension, ne[0] contiguous; unused = 1 */
    uint64_t n_elements;
    uint64_t offset;      /* relative to the start of the tensor data section */
    uint64_t file_offset; /* absolute offset in the file */
    uint64_t n_bytes;
    const void *data;     /* points into the mapping / buffer */
} slm_gguf_tensor;

typedef struct slm_gguf slm_gguf;

/* How a file's bytes come into memory. */
typedef enum slm_load_mode {
    SLM_LOAD_AUTO = 0, /* COPY where the kernel offers transparent huge pages, the file fills
                          at least one (2 MiB) and fits twice in the memory available; else MMAP */
    SLM_LOAD_MMAP = 1, /* map the file: pages shared with the page cache, loaded on first
                          use and dropped again under memory pressure */
    SLM_LOAD_COPY = 2, /* read the whole file into private memory in huge pages: faster
                          generation (weights stream with fewer TLB misses), slower start
                          (the whole file is read at once), and the memory cannot be
                          dropped under pressure, only swapped */
} slm_load_mode;

/* Opens and fully validates a GGUF file.  The file is mapped with mmap
 * (or read into memory when it cannot be mapped). */
slm_status slm_gguf_open(const char *path, slm_gguf **out, slm_error *err);
/* Same, choosing how a regular file is loaded (pipes and devices are always read). */
slm_status slm_gguf_open_with(const char *path, slm_load_mode mode, slm_gguf **out, slm_error *err);
/* Same on a caller-owned buffer, which must outlive the handle.  `name` is
 * used in error messages. */
slm_status slm_gguf_open_memory(const void *data, size_t size, const char *name,
                                slm_gguf **out, slm_error *err);
void slm_gguf_close(slm_gguf *g);

const char *slm_gguf_path(const slm_gguf *g);
uint32_t slm_gguf_version(const slm_gguf *g);
uint64_t slm_gguf_file_size(const slm_gguf *g);
uint32_t slm_gguf_alignment(const slm_gguf *g);
uint64_t slm_gguf_data_offset(const slm_gguf *g);
bool slm_gguf_is_mapped(const slm_gguf *g);
bool slm_gguf_is_copied(const slm_gguf *g); /* loaded with SLM_LOAD_COPY */

uint64_t slm_gguf_n_keys(const slm_gguf *g);
const char *slm_gguf_key_name(const slm_gguf *g, uint64_t i);
const slm_gguf_value *slm_gguf_key_value(const slm_gguf *g, uint64_t i);
/* Index of a key, or -1. */
int64_t slm_gguf_find_key(const slm_gguf *g, const char *key);
/* NULL when absent. */
const slm_gguf_value *slm_gguf_get(const slm_gguf *g, const char *key);

/* Typed lookups: SLM_E_NOT_FOUND when the key is absent, SLM_E_TYPE when it
 * has another type (the message names both types); *out is untouched then. */
slm_status slm_gguf_get_u8(const slm_gguf *g, const char *key, uint8_t *out, slm_error *err);
slm_status slm_gguf_get_i8(const slm_gguf *g, const char *key, int8_t *out, slm_error *err);
slm_status slm_gguf_get_u16(const slm_gguf *g, const char *key, uint16_t *out, slm_error *err);
slm_status slm_gguf_get_i16(const slm_gguf *g, const char *key, int16_t *out, slm_error *err);
slm_status slm_gguf_get_u32(const slm_gguf *g, const char *key, uint32_t *out, slm_error *err);
slm_status slm_gguf_get_i32(const slm_gguf *g, const char *key, int32_t *out, slm_error *err);
slm_status slm_gguf_get_u64(const slm_gguf *g, const char *key, uint64_t *out, slm_error *err);
slm_status slm_gguf_get_i64(const slm_gguf *g, const char *key, int64_t *out, slm_error *err);
slm_status slm_gguf_get_f32(const slm_gguf *g, const char *key, float *out, slm_error *err);
slm_status slm_gguf_get_f64(const slm_gguf *g, const char *key, double *out, slm_error *err);
slm_status slm_gguf_get_bool(const slm_gguf *g, const char *key, bool *out, slm_error *err);
slm_status slm_gguf_get_str(const slm_gguf *g, const char *key, slm_str *out, slm_error *err);
/* Any integer type whose value fits in int64 (files disagree on u32/i32/u64). */
slm_status slm_gguf_get_int(const slm_gguf *g, const char *key, int64_t *out, slm_error *err);
/* F32 or F64. */
slm_status slm_gguf_get_float(const slm_gguf *g, const char *key, double *out, slm_error *err);
/* An array whose elements have type elem_type. */
slm_status slm_gguf_get_arr(const slm_gguf *g, const char *key, slm_gguf_type elem_type,
                            const slm_gguf_value **out, slm_error *err);

uint64_t slm_gguf_n_tensors(const slm_gguf *g);
const slm_gguf_tensor *slm_gguf_tensor_at(const slm_gguf *g, uint64_t i);
/* NULL when absent. */
const slm_gguf_tensor *slm_gguf_find_tensor(const slm_gguf *g, const char *name);

/* True when a string view equals a C string. */
bool slm_str_eq(slm_str s, const char *cstr);

/* ------------------------------------------------------------------------ */
/* GGUF writing                                                              */
/* ------------------------------------------------------------------------ */

/* Usage: create, set metadata, add tensor infos, then write each tensor's
 * data in the order the infos were added (in as many chunks as you like),
 * then finish.  Output goes to "<path>.tmp" and is renamed to path by
 * slm_gguf_writer_finish, so a failed or interrupted write never leaves a
 * broken file at path.  slm_gguf_writer_free without finish removes the
 * temporary file. */
typedef struct slm_gguf_writer slm_gguf_writer;

slm_status slm_gguf_writer_new(const char *path, slm_gguf_writer **out, slm_error *err);
void slm_gguf_writer_free(slm_gguf_writer *w);
/* Alignment of tensor data (power of two, default 32).  Also writes the
 * general.alignment key when it differs from 32. */
slm_status slm_gguf_writer_set_alignment(slm_gguf_writer *w, uint32_t alignment, slm_error *err);

/* Sets (or replaces) a key.  The value, including arrays and strings, is copied. */
slm_status slm_gguf_writer_set(slm_gguf_writer *w, const char *key, const slm_gguf_value *value,
                               slm_error *err);
slm_status slm_gguf_writer_set_u32(slm_gguf_writer *w, const char *key, uint32_t v, slm_error *err);
slm_status slm_gguf_writer_set_i32(slm_gguf_writer *w, const char *key, int32_t v, slm_error *err);
slm_status slm_gguf_writer_set_u64(slm_gguf_writer *w, const char *key, uint64_t v, slm_error *err);
slm_status slm_gguf_writer_set_f32(slm_gguf_writer *w, const char *key, float v, slm_error *err);
slm_status slm_gguf_writer_set_bool(slm_gguf_writer *w, const char *key, bool v, slm_error *err);
slm_status slm_gguf_writer_set_str(slm_gguf_writer *w, const char *key, const char *v, slm_error *err);
/* Numeric array: n elements of elem_type, native endian. */
slm_status slm_gguf_writer_set_arr(slm_gguf_writer *w, const char *key, slm_gguf_type elem_type,
                                   const void *data, uint64_t n, slm_error *err);
slm_status slm_gguf_writer_set_arr_str(slm_gguf_writer *w, const char *key, const slm_str *strs,
                                       uint64_t n, slm_error *err);
slm_status slm_gguf_writer_remove(slm_gguf_writer *w, const char *key);

slm_status slm_gguf_writer_add_tensor(slm_gguf_writer *w, const char *name, slm_type type,
                                      uint32_t n_dims, const int64_t *ne, slm_error *err);
/* Appends bytes of the next tensor's data; a tensor is complete when exactly
 * its byte size has been written. */
slm_status slm_gguf_writer_write(slm_gguf_writer *w, const void *data, size_t n, slm_error *err);
slm_status slm_gguf_writer_finish(slm_gguf_writer *w, slm_error *err);

/* ------------------------------------------------------------------------ */
/* Vocabulary and tokenization                                               */
/* ------------------------------------------------------------------------ */

typedef int32_t slm_token;
typedef struct slm_vocab slm_vocab;

typedef enum slm_vocab_kind {
    SLM_VOCAB_NONE = 0,
    SLM_VOCAB_SPM,  /* tokenizer.ggml.model = llama */
    SLM_VOCAB_BPE,  /* gpt2 */
    SLM_VOCAB_WPM,  /* bert */
} slm_vocab_kind;

/* Token attributes (tokenizer.ggml.token_type). */
typedef enum slm_token_type {
    SLM_TOKEN_UNDEFINED = 0,
    SLM_TOKEN_NORMAL = 1,
    SLM_TOKEN_UNKNOWN = 2,
    SLM_TOKEN_CONTROL = 3,
    SLM_TOKEN_USER_DEFINED = 4,
    SLM_TOKEN_UNUSED = 5,
    SLM_TOKEN_BYTE = 6,
} slm_token_type;

slm_status slm_vocab_load(const slm_gguf *g, slm_vocab **out, slm_error *err);
void slm_vocab_free(slm_vocab *v);

slm_vocab_kind slm_vocab_type(const slm_vocab *v);
int32_t slm_vocab_n_tokens(const slm_vocab *v);
/* -1 when the vocabulary has no such token. */
slm_token slm_vocab_bos(const slm_vocab *v);
slm_token slm_vocab_eos(const slm_vocab *v);
slm_token slm_vocab_eot(const slm_vocab *v);
bool slm_vocab_add_bos(const slm_vocab *v);
bool slm_vocab_add_eos(const slm_vocab *v);
/* End of generation: EOS, EOT and the other end tokens the vocabulary names. */
bool slm_vocab_is_eog(const slm_vocab *v, slm_token t);
/* The raw vocabulary entry (e.g. "▁the", "<0x0A>", "Ġthe"). */
slm_str slm_vocab_token_text(const slm_vocab *v, slm_token t);
slm_token_type slm_vocab_token_type(const slm_vocab *v, slm_token t);

/* Tokenizes len bytes of text into a malloc'ed array (*out, *n_out).
 * add_special: add BOS/EOS as the vocabulary asks.  parse_special: match
 * control/user-defined tokens written in the text (chat templates); user
 * text must be tokenized without it. */
slm_status slm_tokenize(const slm_vocab *v, const char *text, size_t len, bool add_special,
                        bool parse_special, slm_token **out, size_t *n_out, slm_error *err);

/* The bytes a token stands for (SPM "▁" becomes a space, byte tokens become
 * their byte, byte-level BPE is decoded).  Control tokens give "" unless
 * special is true.  Returns the number of bytes the piece has; at most cap
 * bytes are written. */
size_t slm_token_to_piece(const slm_vocab *v, slm_token t, bool special, char *buf, size_t cap);

/* Streaming detokenizer: holds back an incomplete UTF-8 sequence until the
 * token that completes it arrives. */
typedef struct slm_detok {
    char pending[16];
    size_t n_pending;
    bool at_start;  /* strip the SPM leading space of the first piece */
} slm_detok;
void slm_detok_init(slm_detok *d, bool strip_leading_space);
/* Writes the complete UTF-8 text produced by token t to out (cap bytes);
 * returns the number of bytes written (<= cap).  Nothing is ever cut: when
 * out is too small, nothing is written, d is left unchanged and the return
 * value is the cap needed (> cap), so call again with the same token and a
 * buffer that large (the bytes pending, at most 3, plus the length of the
 * token's piece). */
size_t slm_detok_push(slm_detok *d, const slm_vocab *v, slm_token t, char *out, size_t cap);
/* Whatever is still pending (an invalid or cut sequence), at the end: the
 * number of bytes written, or, when cap is too small (never with 4 bytes
 * or more), the number needed (> cap) with d unchanged. */
size_t slm_detok_flush(slm_detok *d, char *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* Models and contexts                                                       */
/* ------------------------------------------------------------------------ */

typedef struct slm_model slm_model;
typedef struct slm_context slm_context;

/* Loads with SLM_LOAD_AUTO. */
slm_status slm_model_load(const char *path, slm_model **out, slm_error *err);
slm_status slm_model_load_with(const char *path, slm_load_mode mode, slm_model **out, slm_error *err);
void slm_model_free(slm_model *m);

const slm_vocab *slm_model_vocab(const slm_model *m);
const slm_gguf *slm_model_gguf(const slm_model *m);
const char *slm_model_arch(const slm_model *m);
int32_t slm_model_n_vocab(const slm_model *m);
int32_t slm_model_n_ctx_train(const slm_model *m);
int32_t slm_model_n_embd(const slm_model *m);
int32_t slm_model_n_layer(const slm_model *m);
uint64_t slm_model_n_params(const slm_model *m);
uint64_t slm_model_size_bytes(const slm_model *m);

typedef enum slm_cache_type {
    SLM_CACHE_F16 = 0,
    SLM_CACHE_F32 = 1,
} slm_cache_type;

typedef struct slm_context_params {
    uint32_t n_ctx;      /* KV cache positions per sequence; 0 = min(train ctx, 4096) */
    uint32_t n_seq;      /* sequences (server slots); default 1 */
    uint32_t n_threads;  /* 0 = number of physical cores */
    slm_cache_type cache_type_k;
    slm_cache_type cache_type_v;
} slm_context_params;

slm_context_params slm_context_default_params(void);
slm_status slm_context_new(const slm_model *m, const slm_context_params *p, slm_context **out,
                           slm_error *err);
void slm_context_free(slm_context *c);
uint32_t slm_context_n_ctx(const slm_context *c);

/* A batch of tokens to evaluate.  pos[i] is the position of tokens[i] in
 * sequence seq[i] (NULL seq = all in sequence 0; NULL pos = continue each
 * sequence).  logits[i] asks for the logits after token i (NULL = only the
 * last token). */
typedef struct slm_batch {
    int32_t n_tokens;
    const slm_token *tokens;
    const int32_t *pos;
    const int32_t *seq;
    const bool *logits;
} slm_batch;

/* Runs the model on a batch, appending to the KV cache.  SLM_E_CONTEXT when a
 * sequence would exceed n_ctx (nothing is evaluated then). */
slm_status slm_decode(slm_context *c, const slm_batch *batch, slm_error *err);
/* Logits for the i-th token of the last batch (NULL if not requested). */
const float *slm_get_logits(const slm_context *c, int32_t i);
/* Number of positions sequence seq holds in the KV cache. */
int32_t slm_kv_seq_len(const slm_context *c, int32_t seq);
/* Drops positions >= pos of sequence seq (0 = clear it). */
void slm_kv_truncate(slm_context *c, int32_t seq, int32_t pos);

/* ------------------------------------------------------------------------ */
/* Sampling                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct slm_logit_bias {
    slm_token token;
    float bias; /* added to the logit; -INFINITY bans the token */
} slm_logit_bias;

typedef struct slm_sampler_params {
    float temperature;       /* <= 0: greedy (argmax, lowest id on ties) */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float typical_p;         /* >= 1: off */
    float repeat_penalty;    /* 1: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    int32_t repeat_last_n;   /* window for the penalties; -1 = whole context */
    uint64_t seed;
    const slm_logit_bias *logit_bias;
    size_t n_logit_bias;
} slm_sampler_params;

typedef struct slm_sampler slm_sampler;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, typical_p 1, penalties
 * off (repeat_last_n 64), seed 0x5eed (fixed: pick a random seed yourself). */
slm_sampler_params slm_sampler_default_params(void);
slm_status slm_sampler_new(const slm_sampler_params *p, int32_t n_vocab, slm_sampler **out,
                           slm_error *err);
void slm_sampler_free(slm_sampler *s);
/* Picks a token from the logits (not modified).  Deterministic for a given
 * seed, parameter set and history.  -1 when the bias bans every token (or
 * s or logits is NULL).
 * Chain order: logit bias, penalties, then greedy argmax if temperature <= 0,
 * else top-k, typical-p, top-p, min-p, temperature, softmax, draw. */
slm_token slm_sampler_sample(slm_sampler *s, const float *logits);
/* Records a token in the penalty history (prompt tokens and sampled ones). */
void slm_sampler_accept(slm_sampler *s, slm_token t);
/* Clears the history and restarts the random stream from the seed. */
void slm_sampler_reset(slm_sampler *s);

#ifdef __cplusplus
}
#endif

#endif /* SLM_H */
