/* cmd_tokenize.c - `slm tokenize -m FILE [options] TEXT`: show how a
 * model's vocabulary tokenizes a text, one token per line as
 * `id<TAB>'piece'`, or with --ids as a list `[1, 403, 407]`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "slm.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: slm tokenize -m FILE [--ids] [--no-bos] [--parse-special] (TEXT | -p TEXT | -f FILE)\n\n"
            "  -m, --model FILE     GGUF file whose vocabulary is used\n"
            "  -p, --prompt TEXT    the text to tokenize (or give it as the last argument)\n"
            "  -f, --file FILE      read the text from a file\n"
            "      --ids            print only the list of ids: [1, 403, 407]\n"
            "      --no-bos         do not add the BOS/EOS tokens the vocabulary asks for\n"
            "      --parse-special  turn control-token texts such as <|im_start|> into their tokens\n");
}

typedef struct options {
    const char *model, *text, *file;
    bool ids_only, add_special, parse_special;
} options;

/* 0 = go on, 1 = error, 2 = --help was printed. */
static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.add_special = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 2;
        else if (!strcmp(a, "--ids")) o->ids_only = true;
        else if (!strcmp(a, "--no-bos")) o->add_special = false;
        else if (!strcmp(a, "--parse-special")) o->parse_special = true;
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_value) o->model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_value) o->text = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_value) o->file = argv[++i];
        else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "slm tokenize: unknown option or missing value: %s\n", a);
            return 1;
        } else if (!o->text) o->text = a;
        else {
            fprintf(stderr, "slm tokenize: more than one text given ('%s')\n", a);
            return 1;
        }
    }
    if (!o->model) fprintf(stderr, "slm tokenize: missing -m FILE\n");
    else if (!o->text == !o->file) fprintf(stderr, "slm tokenize: give the text either as TEXT/-p TEXT or -f FILE\n");
    else return 0;
    usage(stderr);
    return 1;
}

/* Length of the valid UTF-8 sequence at s (0 if none). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t k = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!k || k > n) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return k;
}

/* Prints a piece in quotes: C escapes for control bytes, quotes and
 * backslashes, \xNN for bytes that are not whole UTF-8 characters. */
static void print_escaped(const char *piece, size_t n) {
    const unsigned char *u = (const unsigned char *)piece;
    putchar('\'');
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t k = c >= 0x80 ? utf8_seq(u + i, n - i) : 1;
        if (c >= 0x80 && k) {
            fwrite(u + i, 1, k, stdout);
            i += k;
            continue;
        }
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\' || c == '\'') printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7F) printf("\\x%02X", c);
        else putchar(c);
        i++;
    }
    putchar('\'');
}

static void print_tokens(const slm_vocab *v, const slm_token *ids, size_t n, bool ids_only) {
    if (ids_only) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        puts("]");
        return;
    }
    char small[256];
    for (size_t i = 0; i < n; i++) {
        size_t len = slm_token_to_piece(v, ids[i], true, small, sizeof small);
        char *piece = small;
        if (len > sizeof small && (piece = malloc(len))) slm_token_to_piece(v, ids[i], true, piece, len);
        if (!piece) piece = small, len = sizeof small;
        printf("%d\t", ids[i]);
        print_escaped(piece, len);
        putchar('\n');
        if (piece != small) free(piece);
    }
}

int slm_cmd_tokenize(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 2 ? 0 : 1;

    size_t len = 0;
    char *from_file = NULL;
    const char *text = o.text;
    if (o.file) {
        if (!(from_file = slm_read_file("tokenize", o.file, &len))) return 1;
        text = from_file;
    } else {
        len = strlen(text);
    }

    slm_error err = {0};
    slm_gguf *g = NULL;
    slm_vocab *v = NULL;
    slm_token *ids = NULL;
    size_t n = 0;
    rc = 1;
    if (slm_gguf_open(o.model, &g, &err) || slm_vocab_load(g, &v, &err) ||
        slm_tokenize(v, text, len, o.add_special, o.parse_special, &ids, &n, &err)) {
        fprintf(stderr, "slm tokenize: %s\n", err.message);
    } else {
        print_tokens(v, ids, n, o.ids_only);
        rc = 0;
    }
    free(ids);
    slm_vocab_free(v);
    slm_gguf_close(g);
    free(from_file);
    return rc;
}
