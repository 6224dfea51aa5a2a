/* synth.c - write random-weight models with real shapes (see synth.h).
 *
 * Weights follow the recipe of the shared reference models: a matrix with
 * fan-in n is N(0, (g/sqrt(n))^2) with gain g = 1, except q and k (1.2), the
 * tied embedding / output matrix (4, so the logits have a std near 4 instead
 * of being flat) and the residual writers attn_output and ffn_down (6, so the
 * current token's own embedding does not dominate the tied logits).  Norm
 * weights are 1 + 0.1 N(0,1), biases 0.1 N(0,1).
 *
 * Every tensor draws from its own PRNG stream, seeded from (seed, tensor
 * index), and is generated and written in chunks: a 5 GB model is never in
 * memory, and the bytes do not depend on the chunk size. */
#include "model/synth.h"
#include "runtime/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "types/half.h"

#define CHUNK_ELEMENTS 65536

static const slm_synth_shape SHAPES[] = {
    /* name, arch, pre, n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx, rope_base, eps, llama3_rope */
    {"tiny", "llama", "gpt-2", 64, 2, 4, 2, 128, 320, 2048, 10000.0f, 1e-5f, false},
    {"smollm2-135m", "llama", "smollm", 576, 30, 9, 3, 1536, 49152, 8192, 100000.0f, 1e-5f, false},
    {"qwen2.5-0.5b", "qwen2", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1000000.0f, 1e-6f, false},
    {"llama3.2-1b", "llama", "llama-bpe", 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0f, 1e-5f, true},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

const slm_synth_shape *slm_synth_shape_at(size_t i) { return i < N_SHAPES ? &SHAPES[i] : NULL; }

const slm_synth_shape *slm_synth_shape_find(const char *name) {
    for (size_t i = 0; name && i < N_SHAPES; i++)
        if (!strcmp(SHAPES[i].name, name)) return &SHAPES[i];
    return NULL;
}

/* ---- random numbers: splitmix64 seeds xoshiro256**, Box-Muller normals ---- */

typedef struct rng {
    slm_rng x;
    double spare;
    bool has_spare;
} rng;

/* Each tensor draws from its own stream, so its values do not depend on the
 * order or the chunk size in which tensors are written. */
static void rng_init(rng *r, uint64_t seed, uint64_t stream) {
    slm_rng_seed(&r->x, seed ^ (stream * 0xd1b54a32d192ed03ull));
    r->has_spare = false;
}

static uint64_t rng_next(rng *r) { return slm_rng_next(&r->x); }

/* Uniform in (0, 1]: never 0, so log() is finite. */
static double rng_uniform(rng *r) { return (double)((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0); }

static double rng_normal(rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double radius = sqrt(-2.0 * log(rng_uniform(r))), angle = 6.283185307179586 * rng_uniform(r);
    r->spare = radius * sin(angle);
    r->has_spare = true;
    return radius * cos(angle);
}

/* ---- llama3 RoPE scaling -------------------------------------------------- */

void slm_synth_llama3_rope_freqs(int32_t head_dim, float rope_base, float *out) {
    /* Llama 3.1's published rule: long wavelengths are slowed down by
     * `factor`, short ones kept, and the band between interpolated. */
    const double factor = 32.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_ctx = 8192.0;
    const double low_freq_wavelen = original_ctx / low_freq_factor;
    const double high_freq_wavelen = original_ctx / high_freq_factor;
    for (int32_t i = 0; i < head_dim / 2; i++) {
        double freq = pow((double)rope_base, -2.0 * i / head_dim);
        double wavelen = 2.0 * 3.141592653589793 / freq, divisor;
        if (wavelen < high_freq_wavelen) divisor = 1.0;
        else if (wavelen > low_freq_wavelen) divisor = factor;
        else {
            double smooth = (original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            divisor = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)divisor;
    }
}

/* ---- the vocabulary -------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
 * (controls, space, ...) for the code points 256, 257, ... in byte order. */
static uint32_t byte_to_codepoint(int b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) return (uint32_t)b;
    uint32_t n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
    return 256 + n;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6)); /* every code point here is < 0x800 */
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

#define TOKEN_SLOT 32  /* bytes per token text; merged tokens stay far below */
#define MERGE_SLOT 64

static const char *const SPECIALS[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
#define N_SPECIALS 3
/* Letters in English frequency order: merges are made of them. */
static const char LETTERS[] = "etaoinshrdlcumwfgypbvkjxqz";

typedef struct vocab {
    int32_t n;
    char *text;     /* n slots of TOKEN_SLOT */
    slm_str *tokens;
    int32_t *types;
    uint64_t n_merges;
    char *merge_text;
    slm_str *merges;
} vocab;

static void vocab_free(vocab *v) {
    free(v->text);
    free(v->tokens);
    free(v->types);
    free(v->merge_text);
    free(v->merges);
}

static void set_token(vocab *v, int32_t id, const char *s, size_t len, int32_t type) {
    char *slot = v->text + (size_t)id * TOKEN_SLOT;
    memcpy(slot, s, len);
    v->tokens[id] = (slm_str){slot, len};
    v->types[id] = type;
}

/* Token id = 256 + merge rank: each merged token is an earlier token plus
 * one letter ("Ġt", "th", then "Ġth", ...), breadth first by length, so
 * every merge joins two tokens that already exist. */
static void add_merge(vocab *v, int32_t left, int32_t letter) {
    int32_t id = 256 + (int32_t)v->n_merges;
    slm_str a = v->tokens[left], b = v->tokens[letter];
    char buf[TOKEN_SLOT];
    memcpy(buf, a.ptr, (size_t)a.len);
    memcpy(buf + a.len, b.ptr, (size_t)b.len);
    set_token(v, id, buf, (size_t)(a.len + b.len), SLM_TOKEN_NORMAL);
    char *m = v->merge_text + v->n_merges * MERGE_SLOT;
    memcpy(m, a.ptr, (size_t)a.len);
    m[a.len] = ' ';
    memcpy(m + a.len + 1, b.ptr, (size_t)b.len);
    v->merges[v->n_merges++] = (slm_str){m, a.len + 1 + b.len};
}

static void build_merges(vocab *v, int32_t n_merges) {
    const int n_letters = (int)strlen(LETTERS);
    int32_t first[1 + sizeof LETTERS];
    first[0] = ' '; /* "Ġ": words start with a space */
    for (int i = 0; i < n_letters; i++) first[1 + i] = LETTERS[i];
    /* Level 2: a word start or letter, then a letter. */
    for (int i = 0; i <= n_letters && (int32_t)v->n_merges < n_merges; i++)
        for (int j = 0; j < n_letters && (int32_t)v->n_merges < n_merges; j++) add_merge(v, first[i], LETTERS[j]);
    /* Longer: extend each token of the previous level by each letter. */
    int32_t level_begin = 256, level_end = 256 + (int32_t)v->n_merges;
    while ((int32_t)v->n_merges < n_merges) {
        for (int32_t t = level_begin; t < level_end && (int32_t)v->n_merges < n_merges; t++)
            for (int j = 0; j < n_letters && (int32_t)v->n_merges < n_merges; j++) add_merge(v, t, LETTERS[j]);
        level_begin = level_end;
        level_end = 256 + (int32_t)v->n_merges;
    }
}

static slm_status vocab_build(vocab *v, int32_t n_vocab, slm_error *err) {
    memset(v, 0, sizeof *v);
    if (n_vocab < 256 + N_SPECIALS) return slm_fail(err, SLM_E_INVALID, "synth: vocabulary of %d tokens is too small", n_vocab);
    int32_t n_merges = n_vocab - 256 - N_SPECIALS;
    v->n = n_vocab;
    v->text = malloc((size_t)n_vocab * TOKEN_SLOT);
    v->tokens = malloc((size_t)n_vocab * sizeof *v->tokens);
    v->types = malloc((size_t)n_vocab * sizeof *v->types);
    v->merge_text = malloc((size_t)(n_merges ? n_merges : 1) * MERGE_SLOT);
    v->merges = malloc((size_t)(n_merges ? n_merges : 1) * sizeof *v->merges);
    if (!v->text || !v->tokens || !v->types || !v->merge_text || !v->merges) {
        vocab_free(v);
        return slm_fail(err, SLM_E_NOMEM, "synth: out of memory for the vocabulary");
    }
    /* Ids 0..255: byte b is its bytes_to_unicode character. */
    for (int b = 0; b < 256; b++) {
        char buf[4];
        set_token(v, b, buf, utf8_encode(byte_to_codepoint(b), buf), SLM_TOKEN_NORMAL);
    }
    build_merges(v, n_merges);
    for (int i = 0; i < N_SPECIALS; i++)
        set_token(v, n_vocab - N_SPECIALS + i, SPECIALS[i], strlen(SPECIALS[i]), SLM_TOKEN_CONTROL);
    return SLM_OK;
}

/* ---- metadata ------------------------------------------------------------- */

static const char CHATML_TEMPLATE[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

typedef struct model_desc {
    const slm_synth_shape *sh;
    const char *arch;
    slm_type type;
    uint64_t seed;
    int32_t head_dim;
    bool qkv_bias;
} model_desc;

/* "<arch>.<suffix>" */
static const char *akey(const model_desc *d, const char *suffix, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.%s", d->arch, suffix);
    return buf;
}

static slm_status set_hparams(slm_gguf_writer *w, const model_desc *d, slm_error *err) {
    const slm_synth_shape *sh = d->sh;
    char name[128], k[96];
    snprintf(name, sizeof name, "synthetic %s (%s, random weights, seed %llu)", sh->name, d->arch,
             (unsigned long long)d->seed);
    slm_status s = slm_gguf_writer_set_str(w, "general.architecture", d->arch, err);
    if (!s) s = slm_gguf_writer_set_str(w, "general.type", "model", err);
    if (!s) s = slm_gguf_writer_set_str(w, "general.name", name, err);
    if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "block_count", k, sizeof k), (uint32_t)sh->n_layer, err);
    if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "context_length", k, sizeof k), (uint32_t)sh->n_ctx, err);
    if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "embedding_length", k, sizeof k), (uint32_t)sh->n_embd, err);
    if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "feed_forward_length", k, sizeof k), (uint32_t)sh->n_ff, err);
    if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "attention.head_count", k, sizeof k), (uint32_t)sh->n_head, err);
    if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "attention.head_count_kv", k, sizeof k), (uint32_t)sh->n_head_kv, err);
    if (!s) s = slm_gguf_writer_set_f32(w, akey(d, "rope.freq_base", k, sizeof k), sh->rope_base, err);
    if (!s) s = slm_gguf_writer_set_f32(w, akey(d, "attention.layer_norm_rms_epsilon", k, sizeof k), sh->eps, err);
    /* llama.cpp's LLAMA_FTYPE: 0 = all F32, 1 = mostly F16. */
    if (!s) s = slm_gguf_writer_set_u32(w, "general.file_type", d->type == SLM_TYPE_F16 ? 1 : 0, err);
    if (!s && !strcmp(d->arch, "llama")) {
        s = slm_gguf_writer_set_u32(w, akey(d, "vocab_size", k, sizeof k), (uint32_t)sh->n_vocab, err);
        if (!s) s = slm_gguf_writer_set_u32(w, akey(d, "rope.dimension_count", k, sizeof k), (uint32_t)d->head_dim, err);
    }
    return s;
}

static slm_status set_tokenizer(slm_gguf_writer *w, const model_desc *d, slm_error *err) {
    vocab v;
    slm_status s = vocab_build(&v, d->sh->n_vocab, err);
    if (s) return s;
    uint32_t endoftext = (uint32_t)(v.n - N_SPECIALS);
    s = slm_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (!s) s = slm_gguf_writer_set_str(w, "tokenizer.ggml.pre", d->sh->pre, err);
    if (!s) s = slm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v.tokens, (uint64_t)v.n, err);
    if (!s) s = slm_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", SLM_GGUF_I32, v.types, (uint64_t)v.n, err);
    if (!s) s = slm_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", v.merges, v.n_merges, err);
    if (!s) s = slm_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", endoftext, err);
    if (!s) s = slm_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", endoftext + 2, err); /* <|im_end|> */
    if (!s) s = slm_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", endoftext, err);
    if (!s) s = slm_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", !strcmp(d->arch, "llama"), err);
    if (!s) s = slm_gguf_writer_set_str(w, "tokenizer.chat_template", CHATML_TEMPLATE, err);
    if (!s) s = slm_gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    vocab_free(&v);
    return s;
}

/* ---- tensors ---------------------------------------------------------------- */

typedef enum init_kind { INIT_MATRIX, INIT_NORM, INIT_BIAS, INIT_ROPE_FREQS } init_kind;

typedef struct tensor_desc {
    char name[64];
    int64_t ne[2];
    uint32_t n_dims;
    init_kind init;
    double gain; /* matrices: std = gain / sqrt(ne[0]) */
} tensor_desc;

typedef struct tensor_list {
    tensor_desc *t;
    size_t n, cap;
} tensor_list;

static bool push(tensor_list *l, const char *name, uint32_t n_dims, int64_t ne0, int64_t ne1, init_kind init,
                 double gain) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tensor_desc *p = realloc(l->t, cap * sizeof *p);
        if (!p) return false;
        l->t = p;
        l->cap = cap;
    }
    tensor_desc *t = &l->t[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->init = init;
    t->gain = gain;
    return true;
}

/* The tensors in the order llama.cpp's converter writes them. */
static bool list_tensors(const model_desc *d, tensor_list *l) {
    const slm_synth_shape *sh = d->sh;
    int64_t e = sh->n_embd, q = (int64_t)sh->n_head * d->head_dim, kv = (int64_t)sh->n_head_kv * d->head_dim;
    bool ok = true;
    if (d->sh->llama3_rope && !strcmp(d->arch, "llama"))
        ok &= push(l, "rope_freqs.weight", 1, d->head_dim / 2, 1, INIT_ROPE_FREQS, 0);
    ok &= push(l, "token_embd.weight", 2, e, sh->n_vocab, INIT_MATRIX, 4.0); /* tied: it is also the output */
    for (int32_t i = 0; i < sh->n_layer && ok; i++) {
        char n[64];
#define BLK(suffix) (snprintf(n, sizeof n, "blk.%d." suffix, (int)i), n)
        ok &= push(l, BLK("attn_norm.weight"), 1, e, 1, INIT_NORM, 0);
        ok &= push(l, BLK("attn_q.weight"), 2, e, q, INIT_MATRIX, 1.2);
        ok &= push(l, BLK("attn_k.weight"), 2, e, kv, INIT_MATRIX, 1.2);
        ok &= push(l, BLK("attn_v.weight"), 2, e, kv, INIT_MATRIX, 1.0);
        if (d->qkv_bias) {
            ok &= push(l, BLK("attn_q.bias"), 1, q, 1, INIT_BIAS, 0);
            ok &= push(l, BLK("attn_k.bias"), 1, kv, 1, INIT_BIAS, 0);
            ok &= push(l, BLK("attn_v.bias"), 1, kv, 1, INIT_BIAS, 0);
        }
        ok &= push(l, BLK("attn_output.weight"), 2, q, e, INIT_MATRIX, 6.0);
        ok &= push(l, BLK("ffn_norm.weight"), 1, e, 1, INIT_NORM, 0);
        ok &= push(l, BLK("ffn_gate.weight"), 2, e, sh->n_ff, INIT_MATRIX, 1.0);
        ok &= push(l, BLK("ffn_up.weight"), 2, e, sh->n_ff, INIT_MATRIX, 1.0);
        ok &= push(l, BLK("ffn_down.weight"), 2, sh->n_ff, e, INIT_MATRIX, 6.0);
#undef BLK
    }
    ok &= push(l, "output_norm.weight", 1, e, 1, INIT_NORM, 0);
    return ok;
}

static slm_type storage_type(const model_desc *d, const tensor_desc *t) {
    return t->init == INIT_MATRIX ? d->type : SLM_TYPE_F32;
}

static void generate(const tensor_desc *t, rng *r, float *out, size_t n) {
    double std = t->init == INIT_MATRIX ? t->gain / sqrt((double)t->ne[0]) : 0.1;
    for (size_t i = 0; i < n; i++) {
        double z = rng_normal(r);
        out[i] = (float)(t->init == INIT_NORM ? 1.0 + std * z : std * z);
    }
}

static slm_status write_tensor(slm_gguf_writer *w, const model_desc *d, const tensor_desc *t, uint64_t stream,
                               float *buf, uint16_t *half, slm_error *err) {
    uint64_t total = (uint64_t)t->ne[0] * (uint64_t)t->ne[1];
    if (t->init == INIT_ROPE_FREQS) {
        slm_synth_llama3_rope_freqs(d->head_dim, d->sh->rope_base, buf);
        return slm_gguf_writer_write(w, buf, (size_t)total * sizeof(float), err);
    }
    rng r = {0};
    rng_init(&r, d->seed, stream);
    bool f16 = storage_type(d, t) == SLM_TYPE_F16;
    for (uint64_t done = 0; done < total;) {
        size_t n = total - done < CHUNK_ELEMENTS ? (size_t)(total - done) : CHUNK_ELEMENTS;
        generate(t, &r, buf, n);
        slm_status s;
        if (f16) {
            for (size_t i = 0; i < n; i++) half[i] = slm_f32_to_f16(buf[i]);
            s = slm_gguf_writer_write(w, half, n * sizeof *half, err);
        } else {
            s = slm_gguf_writer_write(w, buf, n * sizeof *buf, err);
        }
        if (s) return s;
        done += n;
    }
    return SLM_OK;
}

static slm_status write_tensors(slm_gguf_writer *w, const model_desc *d, slm_error *err) {
    tensor_list l = {0};
    float *buf = malloc(CHUNK_ELEMENTS * sizeof *buf);
    uint16_t *half = malloc(CHUNK_ELEMENTS * sizeof *half);
    slm_status s = SLM_OK;
    if (!buf || !half || !list_tensors(d, &l)) s = slm_fail(err, SLM_E_NOMEM, "synth: out of memory");
    for (size_t i = 0; i < l.n && !s; i++)
        s = slm_gguf_writer_add_tensor(w, l.t[i].name, storage_type(d, &l.t[i]), l.t[i].n_dims, l.t[i].ne, err);
    for (size_t i = 0; i < l.n && !s; i++) s = write_tensor(w, d, &l.t[i], (uint64_t)i, buf, half, err);
    free(l.t);
    free(buf);
    free(half);
    return s;
}

slm_status slm_synth_write(const slm_synth_params *p, const char *path, slm_error *err) {
    const slm_synth_shape *sh = p->shape;
    if (!sh) return slm_fail(err, SLM_E_INVALID, "synth: no shape given");
    model_desc d = {sh, p->arch ? p->arch : sh->arch, p->type, p->seed, sh->n_embd / sh->n_head, false};
    if (strcmp(d.arch, "llama") && strcmp(d.arch, "qwen2"))
        return slm_fail(err, SLM_E_INVALID, "synth: unknown architecture '%s' (llama, qwen2)", d.arch);
    if (d.type != SLM_TYPE_F32 && d.type != SLM_TYPE_F16)
        return slm_fail(err, SLM_E_INVALID, "synth: weight type %s is not supported (F32, F16)", slm_type_name(d.type));
    d.qkv_bias = !strcmp(d.arch, "qwen2");
    slm_gguf_writer *w;
    slm_status s = slm_gguf_writer_new(path, &w, err);
    if (s) return s;
    s = set_hparams(w, &d, err);
    if (!s) s = set_tokenizer(w, &d, err);
    if (!s) s = write_tensors(w, &d, err);
    if (!s) s = slm_gguf_writer_finish(w, err);
    slm_gguf_writer_free(w);
    return s;
}
