/* vocab_internal.h - the vocabulary handle, shared by the tokenizer files. */
#ifndef SLM_TOKENIZER_VOCAB_INTERNAL_H
#define SLM_TOKENIZER_VOCAB_INTERNAL_H

#include "slm.h"
#include "tokenizer/pretok.h"
#include "tokenizer/strmap.h"

struct slm_vocab {
    slm_vocab_kind kind;
    int32_t n_tokens;
    slm_str *text;        /* token texts, views into arena */
    float *scores;        /* SPM merge priorities (0 when the file has none) */
    uint8_t *types;       /* slm_token_type of each token */
    char *arena;          /* all token texts, back to back */
    slm_strmap ids;       /* token text -> id */
    slm_pairmap merges;   /* BPE: (left id, right id) -> (rank, merged id) */

    slm_token bos, eos, eot, eom, unk, pad, sep;
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: tokenize " " + text */
    bool ignore_merges;    /* BPE: a word that is a whole token is taken as is */

    char pre[64];          /* tokenizer.ggml.pre ("" when absent) */
    slm_pretok pretok;     /* BPE pre-tokenizer regexes */
    /* The token standing for each byte: SPM "<0xNN>" (byte fallback), BPE
     * the byte's character in the GPT-2 alphabet; -1 if absent. */
    slm_token byte_token[256];
    uint16_t byte_cp[256];  /* GPT-2 byte alphabet: byte -> code point */
    int16_t cp_byte[324];   /* and back (-1: not in the alphabet) */

    /* Control, user-defined and unknown tokens, longest text first: the
     * pieces matched in the text before the model's own tokenizer runs. */
    slm_token *specials;
    size_t n_specials;
    /* End-of-generation tokens, sorted. */
    slm_token *eog;
    size_t n_eog;
};

/* Model-specific tokenizers: append the tokens of one run of plain text
 * (no special tokens in it) to a growing array. */
typedef struct slm_tokbuf {
    slm_token *ids;
    size_t n, cap;
} slm_tokbuf;

bool slm_tokbuf_push(slm_tokbuf *b, slm_token t);

slm_status slm_spm_tokenize(const slm_vocab *v, const char *text, size_t len, slm_tokbuf *out,
                            slm_error *err);
slm_status slm_bpe_tokenize(const slm_vocab *v, const char *text, size_t len, slm_tokbuf *out,
                            slm_error *err);

#endif
