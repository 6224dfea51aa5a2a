/* args.h - small helpers for parsing subcommand options: spellings with
 * aliases ("-n|--n-predict"), "--opt value" and "--opt=value", and numbers
 * that must be whole and in range.  Errors are printed as
 * "slm CMD: OPTION: what is wrong". */
#ifndef SLM_CLI_ARGS_H
#define SLM_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* True when arg is one of the '|'-separated spellings in names. */
bool slm_arg_is(const char *arg, const char *names);

/* For an option that takes a value.  If argv[*i] is one of names (alone, or
 * as "NAME=VALUE" for a long name), sets *value, advances *i past what it
 * used and returns 1.  Returns 0 when argv[*i] is another option, and -1
 * (after printing) when the value is missing. */
int slm_arg_value(const char *cmd, int argc, char **argv, int *i, const char *names, const char **value);

/* --mmap (SLM_LOAD_MMAP) and --no-mmap (SLM_LOAD_COPY): true when arg is
 * one of them, which is then stored in *mode. */
bool slm_arg_load_mode(const char *arg, slm_load_mode *mode);

/* Whole-string numbers in [min, max]; false (after printing) otherwise. */
bool slm_arg_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
bool slm_arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
bool slm_arg_float(const char *cmd, const char *opt, const char *s, double min, double max, float *out);

/* Reads a whole file (regular file or pipe) into a malloc'ed buffer with a
 * NUL after the *len bytes; NULL (after printing "slm CMD: ...") on error. */
char *slm_read_file(const char *cmd, const char *path, size_t *len);

/* The tokens of a whole text file as a corpus (BOS as the vocabulary asks,
 * special-token text left as plain text), malloc'ed, *n of them; NULL
 * (after printing "slm CMD: ...") on error. */
slm_token *slm_tokenize_file(const char *cmd, const slm_vocab *v, const char *path, size_t *n);

#endif
