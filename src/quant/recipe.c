/* recipe.c - per-tensor type rules (facts from llama.cpp's
 * src/llama-quant.cpp, restricted to the presets slm offers). */
#include "quant/recipe.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

static const slm_ftype FTYPES[] = {
    {"F16", 1, SLM_TYPE_F16},       {"BF16", 32, SLM_TYPE_BF16},    {"Q8_0", 7, SLM_TYPE_Q8_0},
    {"Q4_0", 2, SLM_TYPE_Q4_0},     {"Q4_1", 3, SLM_TYPE_Q4_1},     {"Q5_0", 8, SLM_TYPE_Q5_0},
    {"Q5_1", 9, SLM_TYPE_Q5_1},     {"Q2_K", 10, SLM_TYPE_Q2_K},    {"Q3_K_S", 11, SLM_TYPE_Q3_K},
    {"Q3_K_M", 12, SLM_TYPE_Q3_K},  {"Q3_K_L", 13, SLM_TYPE_Q3_K},  {"Q4_K_S", 14, SLM_TYPE_Q4_K},
    {"Q4_K_M", 15, SLM_TYPE_Q4_K},  {"Q5_K_S", 16, SLM_TYPE_Q5_K},  {"Q5_K_M", 17, SLM_TYPE_Q5_K},
    {"Q6_K", 18, SLM_TYPE_Q6_K},    {"IQ4_NL", 25, SLM_TYPE_IQ4_NL}, {"IQ4_XS", 30, SLM_TYPE_IQ4_XS},
};
#define N_FTYPES (sizeof FTYPES / sizeof FTYPES[0])

const slm_ftype *slm_ftype_find(const char *name) {
    for (size_t i = 0; i < N_FTYPES; i++) {
        const char *a = FTYPES[i].name, *b = name;
        while (*a && *b && *a == toupper((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return &FTYPES[i];
    }
    return NULL;
}

const char *slm_ftype_names(void) {
    return "F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, "
           "Q5_K_M, Q6_K, IQ4_NL, IQ4_XS";
}

static bool is_ftype(const slm_recipe *r, const char *name) { return !strcmp(r->ftype->name, name); }

static bool contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static bool ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

typedef enum category { C_OTHER, C_OUTPUT, C_TOKEN_EMBD, C_ATTN_V, C_ATTN_K, C_ATTN_Q, C_ATTN_OUTPUT, C_FFN_DOWN } category;

static category category_of(const char *name) {
    if (!strcmp(name, "output.weight")) return C_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) return C_TOKEN_EMBD;
    if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight"))
        return C_ATTN_V;
    if (contains(name, "attn_k.weight")) return C_ATTN_K;
    if (contains(name, "attn_q.weight")) return C_ATTN_Q;
    if (contains(name, "attn_output.weight")) return C_ATTN_OUTPUT;
    if (contains(name, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}

static int64_t int_key(const slm_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v = dflt;
    if (slm_gguf_get_int(g, key, &v, NULL) != SLM_OK) v = dflt;
    return v;
}

void slm_recipe_init(slm_recipe *r, const slm_gguf *g) {
    slm_str arch_s = {0};
    char arch[128] = "";
    if (slm_gguf_get_str(g, "general.architecture", &arch_s, NULL) == SLM_OK && arch_s.len < sizeof arch) {
        memcpy(arch, arch_s.ptr, arch_s.len);
        arch[arch_s.len] = '\0';
    }
    r->n_layer = (int)int_key(g, arch, "block_count", 0);
    int64_t n_head = int_key(g, arch, "attention.head_count", 1);
    int64_t n_kv = int_key(g, arch, "attention.head_count_kv", n_head);
    r->n_gqa = n_kv > 0 ? (int)(n_head / n_kv) : 1;
    r->n_expert = (int)int_key(g, arch, "expert_count", 0);
    r->tied = slm_gguf_find_tensor(g, "output.weight") == NULL;
    r->n_attn_v = 0;
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++)
        if (category_of(slm_gguf_tensor_at(g, i)->name) == C_ATTN_V) r->n_attn_v++;
    r->i_attn_v = r->i_ffn_down = 0;
}

bool slm_recipe_quantizable(const slm_gguf_tensor *t) {
    const char *n = t->name;
    if (t->n_dims < 2 || !ends_with(n, "weight")) return false;
    static const char *const KEEP[] = {"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
                                       "position_embd", "token_types", "ssm_conv1d", "attn_rel_b.weight"};
    for (size_t i = 0; i < sizeof KEEP / sizeof KEEP[0]; i++)
        if (contains(n, KEEP[i])) return false;
    return true;
}

static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int layer_of(const slm_recipe *r, const char *name, int counter) {
    int il = counter;
    if (r->n_expert > 1 && sscanf(name, "blk.%d.", &il) != 1) il = counter;
    return il;
}

static slm_type rule_attn_v(slm_recipe *r, slm_type t) {
    if (is_ftype(r, "Q2_K")) t = r->n_gqa >= 4 ? SLM_TYPE_Q4_K : SLM_TYPE_Q3_K;
    else if (is_ftype(r, "Q3_K_M")) t = r->i_attn_v < 2 ? SLM_TYPE_Q5_K : SLM_TYPE_Q4_K;
    else if (is_ftype(r, "Q3_K_L")) t = SLM_TYPE_Q5_K;
    else if ((is_ftype(r, "IQ4_NL") || is_ftype(r, "IQ4_XS")) && r->n_gqa >= 4) t = SLM_TYPE_Q5_K;
    else if ((is_ftype(r, "Q4_K_M") || is_ftype(r, "Q5_K_M")) && use_more_bits(r->i_attn_v, r->n_attn_v))
        t = SLM_TYPE_Q6_K;
    else if (is_ftype(r, "Q4_K_S") && r->i_attn_v < 4) t = SLM_TYPE_Q5_K;
    if (r->n_expert == 8) t = SLM_TYPE_Q8_0;
    r->i_attn_v++;
    return t;
}

static slm_type rule_ffn_down(slm_recipe *r, const char *name, slm_type t) {
    int il = layer_of(r, name, r->i_ffn_down), n = r->n_layer;
    if (is_ftype(r, "Q2_K")) t = SLM_TYPE_Q3_K;
    else if (is_ftype(r, "Q3_K_M")) t = il < n / 16 ? SLM_TYPE_Q5_K : SLM_TYPE_Q4_K;
    else if (is_ftype(r, "Q3_K_L")) t = SLM_TYPE_Q5_K;
    else if (is_ftype(r, "Q4_K_M")) {
        if (use_more_bits(il, n)) t = SLM_TYPE_Q6_K;
    } else if (il < n / 8 && (is_ftype(r, "IQ4_NL") || is_ftype(r, "IQ4_XS")) && !r->has_imatrix) t = SLM_TYPE_Q5_K;
    else if (is_ftype(r, "Q5_K_M") && use_more_bits(il, n)) t = SLM_TYPE_Q6_K;
    else if (is_ftype(r, "Q4_K_S") && il < n / 8) t = SLM_TYPE_Q5_K;
    else if ((is_ftype(r, "Q4_0") || is_ftype(r, "Q5_0")) && r->has_imatrix && il < n / 8)
        t = is_ftype(r, "Q4_0") ? SLM_TYPE_Q4_1 : SLM_TYPE_Q5_1;
    r->i_ffn_down++;
    return t;
}

static slm_type rule_attn_output(const slm_recipe *r, slm_type t) {
    if (r->n_expert == 8) {
        static const char *const BUMP[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"};
        for (size_t i = 0; i < sizeof BUMP / sizeof BUMP[0]; i++)
            if (is_ftype(r, BUMP[i])) return SLM_TYPE_Q5_K;
        return t;
    }
    if (is_ftype(r, "Q2_K")) return SLM_TYPE_Q3_K;
    if (is_ftype(r, "Q3_K_M")) return SLM_TYPE_Q4_K;
    if (is_ftype(r, "Q3_K_L")) return SLM_TYPE_Q5_K;
    return t;
}

/* The mixture rules for one tensor (llama_tensor_get_type_impl). */
static slm_type mixture_type(slm_recipe *r, const slm_gguf_tensor *t, category c) {
    slm_type ty = r->ftype->base;
    if (c == C_OUTPUT || (r->tied && c == C_TOKEN_EMBD)) {
        if (r->output_type != SLM_TYPE_COUNT) return r->output_type;
        if (t->ne[0] % slm_type_block_size(ty) != 0) return SLM_TYPE_Q8_0;
        return ty == SLM_TYPE_Q8_0 ? ty : SLM_TYPE_Q6_K;
    }
    if (c == C_TOKEN_EMBD) return r->embd_type != SLM_TYPE_COUNT ? r->embd_type : ty;
    if (c == C_ATTN_V) return rule_attn_v(r, ty);
    if (c == C_ATTN_K) return r->n_expert == 8 ? SLM_TYPE_Q8_0 : ty;
    if (c == C_FFN_DOWN) return rule_ffn_down(r, t->name, ty);
    if (c == C_ATTN_OUTPUT) return rule_attn_output(r, ty);
    return ty;
}

/* A compatible type when rows do not divide the block size. */
static slm_type fallback_type(const slm_gguf_tensor *t, slm_type ty, bool *fallback) {
    if (t->ne[0] % slm_type_block_size(ty) == 0) return ty;
    *fallback = true;
    slm_type f = SLM_TYPE_F16;
    switch (ty) {
    case SLM_TYPE_IQ4_XS: f = SLM_TYPE_IQ4_NL; break;
    case SLM_TYPE_Q2_K:
    case SLM_TYPE_Q3_K: f = SLM_TYPE_Q4_0; break;
    case SLM_TYPE_Q4_K: f = SLM_TYPE_Q5_0; break;
    case SLM_TYPE_Q5_K: f = SLM_TYPE_Q5_1; break;
    case SLM_TYPE_Q6_K: f = SLM_TYPE_Q8_0; break;
    default: break;
    }
    return t->ne[0] % slm_type_block_size(f) == 0 ? f : SLM_TYPE_F16;
}

static bool override_type(const slm_recipe *r, const char *name, slm_type *out) {
    for (size_t i = 0; i < r->n_overrides; i++) {
        regex_t re;
        if (regcomp(&re, r->overrides[i].pattern, REG_EXTENDED | REG_NOSUB) != 0) continue;
        bool hit = regexec(&re, name, 0, NULL, 0) == 0;
        regfree(&re);
        if (hit) {
            *out = r->overrides[i].type;
            return true;
        }
    }
    return false;
}

slm_type slm_recipe_type(slm_recipe *r, const slm_gguf_tensor *t, bool *fallback) {
    *fallback = false;
    category c = category_of(t->name);
    slm_type ty = r->ftype->base;
    if (c == C_TOKEN_EMBD && r->embd_type != SLM_TYPE_COUNT) ty = r->embd_type;
    else if (c == C_OUTPUT && r->output_type != SLM_TYPE_COUNT) ty = r->output_type;
    else if (ty == SLM_TYPE_F16 || ty == SLM_TYPE_BF16) return ty; /* float presets: no mixture */
    else if (!override_type(r, t->name, &ty) && !r->pure) ty = mixture_type(r, t, c);
    return fallback_type(t, ty, fallback);
}
