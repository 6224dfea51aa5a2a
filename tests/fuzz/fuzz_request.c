/* fuzz_request.c - libFuzzer target for the server's request parsing.
 *
 * The input is an HTTP body as a client could send it.  It goes through the
 * nesting pre-scan (json_too_deep) and, when shallow enough, through
 * request_parse for both endpoints, as the server does.  Whatever the bytes,
 * parsing must end in a request or in a message for the client, never in a
 * crash, a leak or an out-of-bounds access. */
#include <stdint.h>
#include <string.h>

#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *body = (const char *)data;
    if (json_too_deep(body, size, REQ_MAX_DEPTH)) return 0;
    static const req_kind kinds[] = {REQ_COMPLETION, REQ_CHAT};
    for (int k = 0; k < 2; k++) {
        gen_request r;
        char msg[256];
        msg[0] = '\0';
        if (request_parse(body, size, kinds[k], 32000, &r, msg, sizeof msg)) {
            request_free(&r);
        } else if (msg[0] == '\0') {
            __builtin_trap(); /* a refusal must say why */
        }
    }
    return 0;
}
