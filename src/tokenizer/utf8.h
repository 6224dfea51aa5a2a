/* utf8.h - the UTF-8 and byte-level (GPT-2) helpers of the tokenizers. */
#ifndef SLM_TOKENIZER_UTF8_H
#define SLM_TOKENIZER_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the sequence a lead byte announces, from its high nibble
 * (continuation and invalid bytes count as 1), as SentencePiece does. */
size_t slm_utf8_seq_len(unsigned char lead);

/* Decodes one strictly valid code point (no overlong forms, surrogates or
 * values past U+10FFFF) at s[0..n); returns its length, 0 if invalid. */
size_t slm_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Writes cp (<= U+10FFFF) as UTF-8; returns 1..4. */
size_t slm_utf8_encode(uint32_t cp, char out[4]);
/* True when all n bytes are valid UTF-8. */
bool slm_utf8_valid(const char *s, size_t n);

/* Length of the longest prefix of s[0..n) that does not end inside a
 * multi-byte sequence that could still be completed by more bytes. */
size_t slm_utf8_complete_prefix(const char *s, size_t n);

/* GPT-2 byte-level alphabet: every byte stands for a printable code point
 * (the printable bytes for themselves, the others for U+0100 and up). */
uint32_t slm_byte_to_cp(uint8_t b);
/* The byte a code point stands for, or -1 when it is not in the alphabet. */
int slm_cp_to_byte(uint32_t cp);

#endif
