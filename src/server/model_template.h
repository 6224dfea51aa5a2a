/* model_template.h - the chat template of a loaded model, as `slm serve`
 * and `slm chat` both read it: tokenizer.chat_template and the EOS token's
 * text, recognised by chat_template_detect. */
#ifndef SLM_SERVER_MODEL_TEMPLATE_H
#define SLM_SERVER_MODEL_TEMPLATE_H

#include "server/chat_template.h"
#include "slm.h"

/* The model's template.  *tmpl_text and *eos_text get malloc'ed copies
 * (NULL when the model has none); the template points at *eos_text, so free
 * both only when it is no longer used. */
chat_template model_chat_template(const slm_model *m, char **tmpl_text, char **eos_text);

#endif
