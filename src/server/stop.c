/* stop.c - stop string search with hold-back (see stop.h). */
#include "server/stop.h"

#include <string.h>

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && !memcmp(hay + i, needle, m)) return hay + i;
    return NULL;
}

stop_result stop_scan(char *const *stops, size_t n_stops, const char *text, size_t len, size_t from) {
    stop_result r = {false, len, len};
    size_t longest = 0;
    for (size_t s = 0; s < n_stops; s++) {
        size_t m = strlen(stops[s]);
        if (m > longest) longest = m;
        /* a new match ends after from, so it starts at from - m + 1 or later */
        size_t start = from + 1 > m ? from + 1 - m : 0;
        const char *hit = find_bytes(text + start, len - start, stops[s], m);
        if (hit && (size_t)(hit - text) < r.at) {
            r.found = true;
            r.at = (size_t)(hit - text);
        }
    }
    if (r.found) {
        r.safe = r.at;
        return r;
    }
    /* hold back the longest tail that is the start of some stop string */
    size_t max_k = longest ? longest - 1 : 0;
    if (max_k > len) max_k = len;
    for (size_t k = max_k; k > 0; k--) {
        for (size_t s = 0; s < n_stops; s++)
            if (strlen(stops[s]) > k && !memcmp(text + len - k, stops[s], k)) {
                r.safe = len - k;
                return r;
            }
    }
    return r;
}
