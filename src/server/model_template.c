/* model_template.c - a loaded model's chat template (see model_template.h). */
#include "server/model_template.h"

#include <stdlib.h>
#include <string.h>

static char *str_copy(slm_str s) {
    char *d = malloc(s.len + 1);
    if (d) {
        memcpy(d, s.ptr, s.len);
        d[s.len] = '\0';
    }
    return d;
}

chat_template model_chat_template(const slm_model *m, char **tmpl_text, char **eos_text) {
    const slm_vocab *v = slm_model_vocab(m);
    const slm_gguf_value *tv = slm_gguf_get(slm_model_gguf(m), "tokenizer.chat_template");
    slm_token eos = slm_vocab_eos(v);
    *tmpl_text = tv && tv->type == SLM_GGUF_STRING ? str_copy(tv->v.str) : NULL;
    *eos_text = eos >= 0 ? str_copy(slm_vocab_token_text(v, eos)) : NULL;
    return chat_template_detect(*tmpl_text, *eos_text);
}
