/* fuzz_request.c - libFuzzer target for the server's request parsing.
 *
 * The input is an HTTP body as a client could send it.  It goes through the
 * nesting pre-scan (json_too_deep) and, when shallow enough, through
 * request_parse for both endpoints, as the server does; a chat request's
 * messages are then rendered by every template family.  Whatever the bytes,
 * parsing must end in a request or in a message for the client, never in a
 * crash, a leak or an out-of-bounds access. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/request.h"

/* A chat request's messages through every template family's renderer. */
static void render_all(const gen_request *r) {
    struct tm today = {.tm_year = 126, .tm_mon = 10, .tm_mday = 25};
    for (int f = 0; f < CHAT_FAMILY_COUNT && r->n_messages; f++) {
        chat_template t = {.family = (chat_family)f, .recognised = true, .think_prompt = f % 2, .eos = "</s>"};
        free(chat_render(&t, r->messages, r->n_messages, &today));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *body = (const char *)data;
    if (json_too_deep(body, size, REQ_MAX_DEPTH)) return 0;
    static const req_kind kinds[] = {REQ_COMPLETION, REQ_CHAT};
    for (int k = 0; k < 2; k++) {
        gen_request r;
        char msg[256];
        msg[0] = '\0';
        if (request_parse(body, size, kinds[k], 32000, &r, msg, sizeof msg)) {
            render_all(&r);
            request_free(&r);
        } else if (msg[0] == '\0') {
            __builtin_trap(); /* a refusal must say why */
        }
    }
    return 0;
}
