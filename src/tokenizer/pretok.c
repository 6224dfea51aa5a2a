/* pretok.c - BPE pre-tokenizer regexes (which list each tokenizer.ggml.pre
 * name selects follows llama.cpp's llama-vocab.cpp) and the PCRE2 splitter.
 *
 * A list of regexes is applied in order: each one cuts every piece left by
 * the previous ones into its matches and the unmatched gaps between them, so
 * no byte is ever dropped. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/pretok.h"

/* GPT-2's regex, without its final "|\s+" (the gaps it would match survive
 * as unmatched pieces anyway). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
/* Llama 3 / Qwen 2: the contractions spelled out instead of (?i:...), which
 * under Unicode case folding would also accept e.g. U+017F for 's'. */
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                           \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+" \
                    "|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                        \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+" \
                    "|\\s+(?!\\S)|\\s+"
/* CJK ideographs (U+4E00..U+9FA5), U+0800..U+4E00 and Hangul syllables. */
#define RE_DEEPSEEK_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM's explicit list of cased letters. */
#define RE_DEEPSEEK_LETTERS                                                                   \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-" \
    "\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}" \
    "\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}" \
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-" \
    "\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}" \
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-" \
    "\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-" \
    "\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-" \
    "\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}" \
    "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}" \
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-" \
    "\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-" \
    "\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}" \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-" \
    "\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}" \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}" \
    "\\x{1E900}-\\x{1E943}"
/* " ?" then anything but whitespace and sentence punctuation (Bloom, Poro):
 * … 。 ， 、 । ۔ ، written as escapes. */
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
/* Tekken and GPT-4o: PCRE2 runs the original tokenizer.json patterns with
 * their \p{Lu}/\p{Ll} classes directly. */
#define RE_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define RE_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define RE_TEKKEN                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "+" RE_LOWER \
    "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                            \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+" RE_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER \
    "+" RE_LOWER "*" RE_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+"           \
    "|\\s+(?!\\S)|\\s+"

static const char *const LIST_DEFAULT[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"};
static const char *const LIST_GPT2[] = {RE_GPT2};
static const char *const LIST_LLAMA3[] = {RE_LLAMA3};
static const char *const LIST_QWEN2[] = {RE_QWEN2};
static const char *const LIST_FALCON[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"};
static const char *const LIST_STARCODER[] = {"\\p{N}", RE_GPT2};
static const char *const LIST_DEEPSEEK_LLM[] = {
    "[\\r\\n]",
    "\\s?[" RE_DEEPSEEK_LETTERS "]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    RE_DEEPSEEK_CJK,
    "\\p{N}+",
};
static const char *const LIST_DEEPSEEK_CODER[] = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DEEPSEEK_CJK,
                                                  "\\p{N}"};
static const char *const LIST_DEEPSEEK3[] = {
    "\\p{N}{1,3}",
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
     "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
};
static const char *const LIST_PORO[] = {RE_PORO};
static const char *const LIST_VIKING[] = {RE_PORO, "\\p{N}"};
static const char *const LIST_TEKKEN[] = {RE_TEKKEN};
static const char *const LIST_GPT4O[] = {RE_GPT4O};

#define LIST(l) l, sizeof l / sizeof l[0]

typedef struct pretok_name {
    const char *name;
    const char *const *regexes;
    size_t n_regexes;
    bool ignore_merges;
    bool add_bos;
} pretok_name;

static const pretok_name NAMES[] = {
    {"", LIST(LIST_DEFAULT), false, false},
    {"default", LIST(LIST_DEFAULT), false, false},
    {"llama3", LIST(LIST_LLAMA3), true, true},
    {"llama-v3", LIST(LIST_LLAMA3), true, true},
    {"llama-bpe", LIST(LIST_LLAMA3), true, true},
    {"falcon3", LIST(LIST_LLAMA3), true, true},
    {"falcon-h1", LIST(LIST_LLAMA3), true, true},
    {"pixtral", LIST(LIST_LLAMA3), true, true},
    {"midm-2.0", LIST(LIST_LLAMA3), true, true},
    {"lfm2", LIST(LIST_LLAMA3), true, true},
    {"dbrx", LIST(LIST_LLAMA3), false, false},
    {"smaug-bpe", LIST(LIST_LLAMA3), false, false},
    {"deepseek-llm", LIST(LIST_DEEPSEEK_LLM), false, false},
    {"deepseek-coder", LIST(LIST_DEEPSEEK_CODER), false, false},
    {"deepseek-v3", LIST(LIST_DEEPSEEK3), false, false},
    {"falcon", LIST(LIST_FALCON), false, false},
    {"mpt", LIST(LIST_GPT2), false, false},
    {"olmo", LIST(LIST_GPT2), false, false},
    {"jais", LIST(LIST_GPT2), false, false},
    {"trillion", LIST(LIST_GPT2), false, false},
    {"granite-docling", LIST(LIST_GPT2), false, false},
    {"gpt-2", LIST(LIST_GPT2), false, false},
    {"phi-2", LIST(LIST_GPT2), false, false},
    {"jina-es", LIST(LIST_GPT2), false, false},
    {"jina-de", LIST(LIST_GPT2), false, false},
    {"gigachat", LIST(LIST_GPT2), false, false},
    {"jina-v2-es", LIST(LIST_GPT2), false, false},
    {"jina-v2-de", LIST(LIST_GPT2), false, false},
    {"a.x-4.0", LIST(LIST_GPT2), false, false},
    {"mellum", LIST(LIST_GPT2), false, false},
    {"exaone4", LIST(LIST_GPT2), false, false},
    {"starcoder", LIST(LIST_STARCODER), false, false},
    {"refact", LIST(LIST_STARCODER), false, false},
    {"command-r", LIST(LIST_STARCODER), false, false},
    {"smollm", LIST(LIST_STARCODER), false, false},
    {"codeshell", LIST(LIST_STARCODER), false, false},
    {"exaone", LIST(LIST_STARCODER), false, false},
    {"minerva-7b", LIST(LIST_STARCODER), false, false},
    {"qwen2", LIST(LIST_QWEN2), false, false},
    {"deepseek-r1-qwen", LIST(LIST_QWEN2), false, false},
    {"kormo", LIST(LIST_QWEN2), false, false},
    {"stablelm2", LIST(LIST_QWEN2), false, false},
    {"megrez", LIST(LIST_QWEN2), false, false},
    {"hunyuan", LIST(LIST_QWEN2), false, false},
    {"poro-chat", LIST(LIST_PORO), false, false},
    {"bloom", LIST(LIST_PORO), false, false},
    {"gpt3-finnish", LIST(LIST_PORO), false, false},
    {"viking", LIST(LIST_VIKING), false, false},
    {"tekken", LIST(LIST_TEKKEN), true, true},
    {"gpt-4o", LIST(LIST_GPT4O), false, false},
    {"llama4", LIST(LIST_GPT4O), false, false},
};

bool slm_pretok_find(const char *name, slm_pretok_spec *out) {
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        if (strcmp(NAMES[i].name, name) != 0) continue;
        out->regexes = NAMES[i].regexes;
        out->n_regexes = NAMES[i].n_regexes;
        out->ignore_merges = NAMES[i].ignore_merges;
        out->add_bos = NAMES[i].add_bos;
        return true;
    }
    return false;
}

slm_status slm_pretok_compile(slm_pretok *p, const slm_pretok_spec *spec, slm_error *err) {
    memset(p, 0, sizeof *p);
    if (spec->n_regexes > SLM_PRETOK_MAX_REGEX)
        return slm_fail(err, SLM_E_INVALID, "too many pre-tokenizer regexes (%zu)", spec->n_regexes);
    for (size_t i = 0; i < spec->n_regexes; i++) {
        int code = 0;
        PCRE2_SIZE at = 0;
        /* DOLLAR_ENDONLY: "$" means the end of the piece, as in ECMAScript
         * and the Rust regex crate, not "before a final newline". */
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)spec->regexes[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &at, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            slm_pretok_free(p);
            return slm_fail(err, SLM_E_INVALID, "regex %zu does not compile at offset %zu: %s", i, (size_t)at,
                            (const char *)msg);
        }
        /* JIT is an optimisation only: when it is unavailable pcre2_match
         * falls back to the interpreter by itself. */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        p->codes[p->n++] = re;
    }
    return SLM_OK;
}

void slm_pretok_free(slm_pretok *p) {
    for (size_t i = 0; i < p->n; i++) pcre2_code_free(p->codes[i]);
    p->n = 0;
}

typedef struct span_list {
    slm_span *items;
    size_t n, cap;
} span_list;

static bool span_push(span_list *l, size_t start, size_t len) {
    if (!len) return true;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        slm_span *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return false;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = (slm_span){start, len};
    return true;
}

static size_t utf8_char_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

/* Cuts one piece with one regex, appending matches and gaps to out. */
static slm_status split_piece(pcre2_code *re, pcre2_match_data *md, pcre2_match_context *mc, const char *text,
                              slm_span piece, span_list *out, slm_error *err) {
    PCRE2_SPTR subject = (PCRE2_SPTR)(text + piece.start);
    size_t pos = 0, gap = 0;
    while (pos < piece.len) {
        int rc = pcre2_match(re, subject, piece.len, pos, PCRE2_NO_UTF_CHECK, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return slm_fail(err, SLM_E_INVALID, "pre-tokenizer regex failed at byte %zu: %s", piece.start + pos,
                            (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t m0 = ov[0], m1 = ov[1];
        if (m1 == m0) { /* an empty match cuts nothing: step over one character */
            pos = m0 + utf8_char_len(subject[m0]);
            continue;
        }
        if (!span_push(out, piece.start + gap, m0 - gap) || !span_push(out, piece.start + m0, m1 - m0))
            return slm_fail(err, SLM_E_NOMEM, "out of memory splitting %zu bytes", piece.len);
        pos = gap = m1;
    }
    if (!span_push(out, piece.start + gap, piece.len - gap))
        return slm_fail(err, SLM_E_NOMEM, "out of memory splitting %zu bytes", piece.len);
    return SLM_OK;
}

slm_status slm_pretok_split(const slm_pretok *p, const char *text, size_t len, slm_span **words, size_t *n_words,
                            slm_error *err) {
    *words = NULL;
    *n_words = 0;
    span_list cur = {0}, next = {0};
    if (!span_push(&cur, 0, len)) return slm_fail(err, SLM_E_NOMEM, "out of memory");

    slm_status s = SLM_OK;
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    /* A bigger JIT stack than the 32 KiB default: lookaheads over long runs
     * of spaces would otherwise fail on large inputs. */
    pcre2_jit_stack *stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!mc) s = slm_fail(err, SLM_E_NOMEM, "out of memory");
    if (mc && stack) pcre2_jit_stack_assign(mc, NULL, stack);

    for (size_t r = 0; !s && r < p->n; r++) {
        pcre2_code *re = p->codes[r];
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        if (!md) {
            s = slm_fail(err, SLM_E_NOMEM, "out of memory");
            break;
        }
        next.n = 0;
        for (size_t i = 0; !s && i < cur.n; i++) s = split_piece(re, md, mc, text, cur.items[i], &next, err);
        pcre2_match_data_free(md);
        span_list t = cur;
        cur = next;
        next = t;
    }
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(mc);
    free(next.items);
    if (s) {
        free(cur.items);
        return s;
    }
    *words = cur.items;
    *n_words = cur.n;
    return SLM_OK;
}
