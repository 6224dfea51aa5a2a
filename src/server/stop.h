/* stop.h - finding stop strings in generated text, including one that is
 * split across tokens: text that could still turn into a stop string is
 * held back until the next token decides. */
#ifndef SLM_SERVER_STOP_H
#define SLM_SERVER_STOP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct stop_result {
    bool found;  /* a stop string occurs: the text ends at `at` */
    size_t at;
    size_t safe; /* not found: text[0..safe) cannot become part of a stop string */
} stop_result;

/* text[0..len) is everything generated so far; text[0..from) was already
 * scanned (so only matches ending after from are new). */
stop_result stop_scan(char *const *stops, size_t n_stops, const char *text, size_t len, size_t from);

#endif
