/* cmd_info.c - `slm info FILE [--json]`: what a GGUF file holds.
 *
 * Prints the header facts, every metadata key (long strings and arrays
 * abbreviated), the tensor table, totals, an architecture summary from the
 * `<arch>.*` keys, and which tensor types this build cannot compute.  With
 * --json the same facts come as one JSON document (strings in full there,
 * arrays still abbreviated: a vocabulary can have 150k entries). */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "slm.h"

#define ARRAY_HEAD 5       /* array elements shown */
#define STRING_SHOWN 64    /* bytes of a string shown before "..." */

/* ---- facts computed once ---------------------------------------------------- */

typedef struct totals {
    uint64_t n_params, tensor_bytes;
    uint64_t n_of_type[SLM_TYPE_COUNT];
} totals;

static totals compute_totals(const slm_gguf *g) {
    totals t;
    memset(&t, 0, sizeof t);
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *x = slm_gguf_tensor_at(g, i);
        t.n_params += x->n_elements;
        t.tensor_bytes += x->n_bytes;
        t.n_of_type[x->type]++;
    }
    return t;
}

static double bits_per_weight(const totals *t) {
    return t->n_params ? (double)t->tensor_bytes * 8.0 / (double)t->n_params : 0.0;
}

/* The architecture summary: label, JSON name, key suffix after "<arch>.". */
static const struct arch_field {
    const char *label, *json, *suffix;
} ARCH_FIELDS[] = {
    {"embedding length", "n_embd", "embedding_length"},
    {"layers", "n_layer", "block_count"},
    {"heads", "n_head", "attention.head_count"},
    {"kv heads", "n_head_kv", "attention.head_count_kv"},
    {"head dim", "head_dim", "attention.key_length"},
    {"feed forward", "n_ff", "feed_forward_length"},
    {"vocab size", "n_vocab", "vocab_size"},
    {"context length", "n_ctx_train", "context_length"},
    {"rope base", "rope_freq_base", "rope.freq_base"},
};
#define N_ARCH_FIELDS (sizeof ARCH_FIELDS / sizeof ARCH_FIELDS[0])

/* The string value of a key as a C string (NULL if absent or not a string). */
static const char *get_cstr(const slm_gguf *g, const char *key, char *buf, size_t cap) {
    const slm_gguf_value *v = slm_gguf_get(g, key);
    if (!v || v->type != SLM_GGUF_STRING) return NULL;
    size_t n = v->v.str.len < cap - 1 ? (size_t)v->v.str.len : cap - 1;
    memcpy(buf, v->v.str.ptr, n);
    buf[n] = '\0';
    return buf;
}

/* An architecture field: the stored value, or one derived from other keys
 * (head dim = n_embd / n_head, vocab size = number of tokens). */
typedef struct field_value {
    const slm_gguf_value *stored;
    int64_t derived;
    bool has_derived;
} field_value;

static field_value arch_field(const slm_gguf *g, const char *arch, const struct arch_field *f) {
    field_value fv = {NULL, 0, false};
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, f->suffix);
    if ((fv.stored = slm_gguf_get(g, key))) return fv;
    int64_t a = 0, b = 0;
    if (!strcmp(f->json, "head_dim")) {
        char ke[160], kh[160];
        snprintf(ke, sizeof ke, "%s.embedding_length", arch);
        snprintf(kh, sizeof kh, "%s.attention.head_count", arch);
        if (!slm_gguf_get_int(g, ke, &a, NULL) && !slm_gguf_get_int(g, kh, &b, NULL) && b > 0) {
            fv.derived = a / b;
            fv.has_derived = true;
        }
    } else if (!strcmp(f->json, "n_vocab")) {
        const slm_gguf_value *tok = slm_gguf_get(g, "tokenizer.ggml.tokens");
        if (tok && tok->type == SLM_GGUF_ARRAY) {
            fv.derived = (int64_t)tok->v.arr.n;
            fv.has_derived = true;
        }
    }
    return fv;
}

/* ---- text output -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n || (len == 2 && p[0] < 0xC2)) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* A quoted string with control characters and invalid bytes escaped,
 * shortened to about `shown` bytes. */
static void print_str(FILE *out, slm_str s, size_t shown) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = (size_t)s.len, i = 0;
    fputc('"', out);
    while (i < n && i < shown) {
        size_t len = utf8_len(p + i, n - i);
        if (p[i] == '\n') fputs("\\n", out);
        else if (p[i] == '\t') fputs("\\t", out);
        else if (p[i] == '\r') fputs("\\r", out);
        else if (p[i] == '"' || p[i] == '\\') fprintf(out, "\\%c", p[i]);
        else if (len == 0 || p[i] < 0x20 || p[i] == 0x7f) fprintf(out, "\\x%02x", p[i]);
        else {
            fwrite(p + i, 1, len, out);
            i += len;
            continue;
        }
        i++;
    }
    fputc('"', out);
    if (i < n) fprintf(out, "... (%" PRIu64 " bytes)", s.len);
}

/* The shortest %g form that reads back as the same float (1e-05, not
 * 9.99999975e-06). */
static void print_shortest(FILE *out, double x, int max_digits, bool is_f32) {
    char buf[40];
    for (int digits = 6; digits <= max_digits; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (is_f32 ? strtof(buf, NULL) == (float)x : strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

static void print_scalar(FILE *out, slm_gguf_type t, const void *p) {
    switch (t) {
    case SLM_GGUF_U8: fprintf(out, "%u", *(const uint8_t *)p); break;
    case SLM_GGUF_I8: fprintf(out, "%d", *(const int8_t *)p); break;
    case SLM_GGUF_U16: fprintf(out, "%u", *(const uint16_t *)p); break;
    case SLM_GGUF_I16: fprintf(out, "%d", *(const int16_t *)p); break;
    case SLM_GGUF_U32: fprintf(out, "%" PRIu32, *(const uint32_t *)p); break;
    case SLM_GGUF_I32: fprintf(out, "%" PRId32, *(const int32_t *)p); break;
    case SLM_GGUF_U64: fprintf(out, "%" PRIu64, *(const uint64_t *)p); break;
    case SLM_GGUF_I64: fprintf(out, "%" PRId64, *(const int64_t *)p); break;
    case SLM_GGUF_F32: print_shortest(out, *(const float *)p, 9, true); break;
    case SLM_GGUF_F64: print_shortest(out, *(const double *)p, 17, false); break;
    case SLM_GGUF_BOOL: fputs(*(const uint8_t *)p ? "true" : "false", out); break;
    default: break;
    }
}

static size_t scalar_bytes(slm_gguf_type t) {
    switch (t) {
    case SLM_GGUF_U16: case SLM_GGUF_I16: return 2;
    case SLM_GGUF_U32: case SLM_GGUF_I32: case SLM_GGUF_F32: return 4;
    case SLM_GGUF_U64: case SLM_GGUF_I64: case SLM_GGUF_F64: return 8;
    default: return 1;
    }
}

static void print_value(FILE *out, const slm_gguf_value *v);

static void print_array(FILE *out, const slm_gguf_value *v) {
    slm_gguf_type et = v->v.arr.type;
    uint64_t n = v->v.arr.n;
    fprintf(out, "[%s x %" PRIu64 "]", slm_gguf_type_name(et), n);
    for (uint64_t i = 0; i < n && i < ARRAY_HEAD; i++) {
        fputs(i ? ", " : " ", out);
        if (et == SLM_GGUF_STRING) print_str(out, v->v.arr.strs[i], 24);
        else if (et == SLM_GGUF_ARRAY) print_value(out, &v->v.arr.items[i]);
        else print_scalar(out, et, (const uint8_t *)v->v.arr.data + i * scalar_bytes(et));
    }
    if (n > ARRAY_HEAD) fprintf(out, ", ... (%" PRIu64 " total)", n);
}

static void print_value(FILE *out, const slm_gguf_value *v) {
    if (v->type == SLM_GGUF_STRING) print_str(out, v->v.str, STRING_SHOWN);
    else if (v->type == SLM_GGUF_ARRAY) {
        fputc('(', out);
        print_array(out, v);
        fputc(')', out);
    } else if (v->type == SLM_GGUF_BOOL) fputs(v->v.b ? "true" : "false", out);
    else print_scalar(out, v->type, &v->v);
}

static void human_bytes(uint64_t n, char *buf, size_t cap) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)n;
    int u = 0;
    while (x >= 1024 && u < 4) x /= 1024, u++;
    snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", x, units[u]);
}

static void human_count(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000) snprintf(buf, cap, "%.2f B", n / 1e9);
    else if (n >= 1000000) snprintf(buf, cap, "%.2f M", n / 1e6);
    else if (n >= 1000) snprintf(buf, cap, "%.2f K", n / 1e3);
    else snprintf(buf, cap, "%" PRIu64, n);
}

static void print_tensors(const slm_gguf *g) {
    printf("\ntensors (%" PRIu64 "):\n  %5s  %-32s %-7s %-24s %12s %12s\n", slm_gguf_n_tensors(g), "#", "name",
           "type", "shape (ne)", "bytes", "offset");
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        char shape[96];
        int len = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims; d++)
            len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        snprintf(shape + len, sizeof shape - (size_t)len, "]");
        printf("  %5" PRIu64 "  %-32s %-7s %-24s %12" PRIu64 " %12" PRIu64 "\n", i, t->name, slm_type_name(t->type),
               shape, t->n_bytes, t->file_offset);
    }
}

static void print_arch(const slm_gguf *g) {
    char arch[64], tok[64], pre[64];
    if (!get_cstr(g, "general.architecture", arch, sizeof arch)) return;
    printf("\narchitecture:\n  %-18s %s\n", "arch", arch);
    for (size_t i = 0; i < N_ARCH_FIELDS; i++) {
        field_value fv = arch_field(g, arch, &ARCH_FIELDS[i]);
        if (!fv.stored && !fv.has_derived) continue;
        printf("  %-18s ", ARCH_FIELDS[i].label);
        if (fv.stored) print_value(stdout, fv.stored);
        else printf("%" PRId64, fv.derived);
        putchar('\n');
    }
    if (get_cstr(g, "tokenizer.ggml.model", tok, sizeof tok)) {
        printf("  %-18s %s", "tokenizer", tok);
        if (get_cstr(g, "tokenizer.ggml.pre", pre, sizeof pre)) printf(" (pre: %s)", pre);
        putchar('\n');
    }
}

/* One line per tensor type this build cannot compute. */
static bool print_unsupported(const totals *t) {
    bool all_ok = true;
    for (int ty = 0; ty < SLM_TYPE_COUNT; ty++) {
        if (!t->n_of_type[ty] || slm_type_computable((slm_type)ty)) continue;
        printf("unsupported: %" PRIu64 " tensor%s of type %s, which this build cannot compute: the model cannot run\n",
               t->n_of_type[ty], t->n_of_type[ty] == 1 ? "" : "s", slm_type_name((slm_type)ty));
        all_ok = false;
    }
    return all_ok;
}

static void print_text(const slm_gguf *g) {
    totals t = compute_totals(g);
    char a[32], b[32];
    human_bytes(slm_gguf_file_size(g), a, sizeof a);
    printf("file:          %s\n", slm_gguf_path(g));
    printf("GGUF version:  %u\n", slm_gguf_version(g));
    printf("file size:     %" PRIu64 " bytes (%s)\n", slm_gguf_file_size(g), a);
    printf("alignment:     %u\n", slm_gguf_alignment(g));
    printf("data offset:   %" PRIu64 "\n", slm_gguf_data_offset(g));
    printf("keys:          %" PRIu64 "\n", slm_gguf_n_keys(g));
    printf("tensors:       %" PRIu64 "\n", slm_gguf_n_tensors(g));
    printf("\nmetadata (%" PRIu64 " keys):\n", slm_gguf_n_keys(g));
    for (uint64_t i = 0; i < slm_gguf_n_keys(g); i++) {
        const slm_gguf_value *v = slm_gguf_key_value(g, i);
        printf("  %-44s %-7s ", slm_gguf_key_name(g, i), slm_gguf_type_name(v->type));
        if (v->type == SLM_GGUF_ARRAY) print_array(stdout, v);
        else print_value(stdout, v);
        putchar('\n');
    }
    print_tensors(g);
    human_count(t.n_params, a, sizeof a);
    human_bytes(t.tensor_bytes, b, sizeof b);
    printf("\ntotals:\n  %-18s %" PRIu64 " (%s)\n", "parameters", t.n_params, a);
    printf("  %-18s %" PRIu64 " bytes (%s)\n", "tensor data", t.tensor_bytes, b);
    human_bytes(slm_gguf_file_size(g), a, sizeof a);
    printf("  %-18s %" PRIu64 " bytes (%s)\n", "file size", slm_gguf_file_size(g), a);
    printf("  %-18s %.2f\n", "bits per weight", bits_per_weight(&t));
    print_arch(g);
    putchar('\n');
    if (print_unsupported(&t)) printf("all tensor types can be computed by this build\n");
}

/* ---- JSON output -------------------------------------------------------------- */

/* jansson needs valid UTF-8: invalid bytes become U+FFFD. */
static json_t *json_str(slm_str s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = (size_t)s.len, o = 0;
    char *buf = malloc(n * 3 + 1);
    if (!buf) return json_null();
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(p + i, n - i);
        if (len) {
            memcpy(buf + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j ? j : json_null();
}

static json_t *json_cstr(const char *s) { return json_str((slm_str){s, strlen(s)}); }

/* Doubles that JSON cannot hold (inf, nan) become strings. */
static json_t *json_num(double x) {
    if (isfinite(x)) return json_real(x);
    return json_string(isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

static json_t *json_scalar(slm_gguf_type t, const void *p) {
    switch (t) {
    case SLM_GGUF_U8: return json_integer(*(const uint8_t *)p);
    case SLM_GGUF_I8: return json_integer(*(const int8_t *)p);
    case SLM_GGUF_U16: return json_integer(*(const uint16_t *)p);
    case SLM_GGUF_I16: return json_integer(*(const int16_t *)p);
    case SLM_GGUF_U32: return json_integer(*(const uint32_t *)p);
    case SLM_GGUF_I32: return json_integer(*(const int32_t *)p);
    case SLM_GGUF_I64: return json_integer(*(const int64_t *)p);
    case SLM_GGUF_U64: {
        uint64_t u = *(const uint64_t *)p;
        if (u <= (uint64_t)INT64_MAX) return json_integer((json_int_t)u);
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRIu64, u);
        return json_string(buf);
    }
    case SLM_GGUF_F32: return json_num(*(const float *)p);
    case SLM_GGUF_F64: return json_num(*(const double *)p);
    case SLM_GGUF_BOOL: return json_boolean(*(const uint8_t *)p);
    default: return json_null();
    }
}

static json_t *json_value(const slm_gguf_value *v);

/* {"element_type": "string", "count": 512, "head": [the first elements]} */
static json_t *json_abbrev_array(const slm_gguf_value *v) {
    slm_gguf_type et = v->v.arr.type;
    json_t *head = json_array();
    for (uint64_t i = 0; i < v->v.arr.n && i < ARRAY_HEAD; i++) {
        json_t *x = et == SLM_GGUF_STRING  ? json_str(v->v.arr.strs[i])
                    : et == SLM_GGUF_ARRAY ? json_value(&v->v.arr.items[i])
                                           : json_scalar(et, (const uint8_t *)v->v.arr.data + i * scalar_bytes(et));
        json_array_append_new(head, x);
    }
    return json_pack("{s:s, s:I, s:o}", "element_type", slm_gguf_type_name(et), "count", (json_int_t)v->v.arr.n,
                     "head", head);
}

static json_t *json_value(const slm_gguf_value *v) {
    if (v->type == SLM_GGUF_STRING) return json_str(v->v.str);
    if (v->type == SLM_GGUF_ARRAY) return json_abbrev_array(v);
    if (v->type == SLM_GGUF_BOOL) return json_boolean(v->v.b);
    return json_scalar(v->type, &v->v);
}

static json_t *json_metadata(const slm_gguf *g) {
    json_t *md = json_object();
    for (uint64_t i = 0; i < slm_gguf_n_keys(g); i++) {
        const slm_gguf_value *v = slm_gguf_key_value(g, i);
        json_t *key = json_cstr(slm_gguf_key_name(g, i)); /* keys need not be UTF-8 */
        json_object_set_new(md, json_string_value(key) ? json_string_value(key) : "?",
                            json_pack("{s:s, s:o}", "type", slm_gguf_type_name(v->type), "value", json_value(v)));
        json_decref(key);
    }
    return md;
}

static json_t *json_tensors(const slm_gguf *g) {
    json_t *arr = json_array();
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        json_t *shape = json_array();
        for (uint32_t d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->ne[d]));
        json_array_append_new(arr, json_pack("{s:o, s:s, s:o, s:I, s:I, s:I}", "name", json_cstr(t->name), "type",
                                             slm_type_name(t->type), "shape", shape, "n_elements",
                                             (json_int_t)t->n_elements, "bytes", (json_int_t)t->n_bytes, "offset",
                                             (json_int_t)t->file_offset));
    }
    return arr;
}

static json_t *json_arch(const slm_gguf *g) {
    char arch[64], tok[64], pre[64];
    if (!get_cstr(g, "general.architecture", arch, sizeof arch)) return json_null();
    json_t *a = json_pack("{s:o}", "arch", json_cstr(arch));
    for (size_t i = 0; i < N_ARCH_FIELDS; i++) {
        field_value fv = arch_field(g, arch, &ARCH_FIELDS[i]);
        if (fv.stored) json_object_set_new(a, ARCH_FIELDS[i].json, json_value(fv.stored));
        else if (fv.has_derived) json_object_set_new(a, ARCH_FIELDS[i].json, json_integer(fv.derived));
    }
    if (get_cstr(g, "tokenizer.ggml.model", tok, sizeof tok)) json_object_set_new(a, "tokenizer", json_cstr(tok));
    if (get_cstr(g, "tokenizer.ggml.pre", pre, sizeof pre)) json_object_set_new(a, "tokenizer_pre", json_cstr(pre));
    return a;
}

static int print_json(const slm_gguf *g) {
    totals t = compute_totals(g);
    json_t *unsupported = json_array();
    for (int ty = 0; ty < SLM_TYPE_COUNT; ty++)
        if (t.n_of_type[ty] && !slm_type_computable((slm_type)ty))
            json_array_append_new(unsupported, json_pack("{s:s, s:I}", "type", slm_type_name((slm_type)ty),
                                                         "n_tensors", (json_int_t)t.n_of_type[ty]));
    json_t *doc = json_pack(
        "{s:o, s:i, s:I, s:i, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:f}, s:o, s:o, s:b}", "file",
        json_cstr(slm_gguf_path(g)), "version", (int)slm_gguf_version(g), "file_size", (json_int_t)slm_gguf_file_size(g),
        "alignment", (int)slm_gguf_alignment(g), "data_offset", (json_int_t)slm_gguf_data_offset(g), "n_keys",
        (json_int_t)slm_gguf_n_keys(g), "n_tensors", (json_int_t)slm_gguf_n_tensors(g), "metadata", json_metadata(g),
        "tensors", json_tensors(g), "totals", "n_params", (json_int_t)t.n_params, "tensor_bytes",
        (json_int_t)t.tensor_bytes, "file_size", (json_int_t)slm_gguf_file_size(g), "bits_per_weight",
        bits_per_weight(&t), "architecture", json_arch(g), "unsupported_types", unsupported, "can_run",
        json_array_size(unsupported) == 0);
    if (!doc) {
        fprintf(stderr, "slm info: cannot build the JSON document\n");
        return 1;
    }
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
    putchar('\n');
    json_decref(doc);
    return rc;
}

/* ---- the command ---------------------------------------------------------------- */

static void info_usage(FILE *out) {
    fprintf(out, "usage: slm info FILE [--json]\n\n"
                 "Shows a GGUF file's header, metadata, tensors, totals and architecture.\n"
                 "  --json   print everything as one JSON document\n");
}

int slm_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            info_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "slm info: unknown option '%s'\n", argv[i]);
            info_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "slm info: one FILE only\n");
            return 2;
        } else path = argv[i];
    }
    if (!path) {
        info_usage(stderr);
        return 2;
    }
    slm_gguf *g;
    slm_error err;
    if (slm_gguf_open(path, &g, &err)) {
        fprintf(stderr, "slm info: %s\n", err.message);
        return 1;
    }
    int rc = 0;
    if (json) rc = print_json(g);
    else print_text(g);
    slm_gguf_close(g);
    return rc;
}
