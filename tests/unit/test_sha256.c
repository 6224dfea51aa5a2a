/* test_sha256.c - the SHA-256 used by `slm pull`, against the FIPS 180-2/180-4
 * example vectors (NIST "SHA256.pdf", CAVP) and across odd update chunkings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sha256.h"
#include "testutil.h"

static void hash_hex(const void *data, size_t n, char hex[65]) {
    slm_sha256 s;
    uint8_t digest[32];
    slm_sha256_init(&s);
    slm_sha256_update(&s, data, n);
    slm_sha256_final(&s, digest);
    slm_sha256_hex(digest, hex);
}

static void test_empty(void **state) {
    (void)state;
    char hex[65];
    hash_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void **state) {
    (void)state;
    char hex[65];
    hash_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* 448 bits: the padding's length field no longer fits the first block. */
static void test_448_bits(void **state) {
    (void)state;
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[65];
    assert_int_equal(strlen(msg), 56);
    hash_hex(msg, strlen(msg), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bits(void **state) {
    (void)state;
    const char *msg = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                      "mnopqrstnopqrstu";
    char hex[65];
    hash_hex(msg, strlen(msg), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state) {
    (void)state;
    size_t n = 1000000;
    char *msg = malloc(n);
    assert_non_null(msg);
    memset(msg, 'a', n);
    char hex[65];
    hash_hex(msg, n, hex);
    free(msg);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Feeding the same message in pieces of every awkward size must not change the
 * digest: pieces that straddle block boundaries, empty pieces, single bytes. */
static void test_incremental(void **state) {
    (void)state;
    enum { N = 1000 };
    unsigned char msg[N];
    for (int i = 0; i < N; i++) msg[i] = (unsigned char)(i * 131 + 7);
    char whole[65];
    hash_hex(msg, N, whole);

    static const size_t chunks[] = {0, 1, 3, 7, 55, 56, 63, 64, 65, 127, 129};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        slm_sha256 s;
        slm_sha256_init(&s);
        size_t off = 0, step = chunks[c];
        while (off < N) {
            size_t take = step == 0 ? 1 : (step < N - off ? step : N - off);
            if (step == 0) slm_sha256_update(&s, msg + off, 0); /* empty updates are harmless */
            slm_sha256_update(&s, msg + off, take);
            off += take;
        }
        uint8_t digest[32];
        char hex[65];
        slm_sha256_final(&s, digest);
        slm_sha256_hex(digest, hex);
        assert_string_equal(hex, whole);
    }
}

/* The million 'a' vector again, fed in 997-byte pieces (a prime, so the piece
 * boundaries land everywhere within a block). */
static void test_million_a_chunked(void **state) {
    (void)state;
    char piece[997];
    memset(piece, 'a', sizeof piece);
    slm_sha256 s;
    slm_sha256_init(&s);
    size_t left = 1000000;
    while (left > 0) {
        size_t take = left < sizeof piece ? left : sizeof piece;
        slm_sha256_update(&s, piece, take);
        left -= take;
    }
    uint8_t digest[32];
    char hex[65];
    slm_sha256_final(&s, digest);
    slm_sha256_hex(digest, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_file(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir();
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/abc.txt", dir);
    assert_true(slm_test_write_file(path, "abc", 3));
    char hex[65];
    assert_int_equal(slm_sha256_file(path, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(slm_sha256_file(path, hex), -1);
    slm_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),          cmocka_unit_test(test_abc),
        cmocka_unit_test(test_448_bits),       cmocka_unit_test(test_896_bits),
        cmocka_unit_test(test_million_a),      cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_million_a_chunked), cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
