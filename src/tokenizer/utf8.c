/* utf8.c - UTF-8 decoding/encoding and the GPT-2 byte-level alphabet. */
#include "tokenizer/utf8.h"

size_t slm_utf8_seq_len(unsigned char lead) {
    static const uint8_t LEN[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return LEN[lead >> 4];
}

size_t slm_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) len = 2, c = u[0] & 0x1F, min = 0x80;
    else if ((u[0] & 0xF0) == 0xE0) len = 3, c = u[0] & 0x0F, min = 0x800;
    else if ((u[0] & 0xF8) == 0xF0) len = 4, c = u[0] & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

size_t slm_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool slm_utf8_valid(const char *s, size_t n) {
    uint32_t cp = 0;
    for (size_t i = 0; i < n;) {
        size_t k = slm_utf8_decode(s + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

size_t slm_utf8_complete_prefix(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    /* Look back over at most 3 continuation bytes for the lead byte. */
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = u[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking */
        size_t need = 0;
        if ((c & 0xE0) == 0xC0) need = 2;
        else if ((c & 0xF0) == 0xE0) need = 3;
        else if ((c & 0xF8) == 0xF0) need = 4;
        /* Hold the tail back only while it can still become a whole sequence. */
        return need > back ? n - back : n;
    }
    return n;
}

static bool byte_is_printable(uint8_t b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t slm_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    /* The non-printable bytes, in order, take U+0100, U+0101, ... */
    uint32_t rank = 0;
    for (int x = 0; x < b; x++)
        if (!byte_is_printable((uint8_t)x)) rank++;
    return 256 + rank;
}

int slm_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((uint8_t)cp) ? (int)cp : -1;
    uint32_t rank = cp - 256;
    for (int x = 0; x < 256; x++) {
        if (byte_is_printable((uint8_t)x)) continue;
        if (rank == 0) return x;
        rank--;
    }
    return -1;
}
