/* chat_template.h - turning a list of chat messages into prompt text.
 *
 * A model's tokenizer.chat_template is a Jinja program.  Rather than run
 * Jinja, we recognise the common families from marker strings in the
 * template and write their format in C.  Everything goes through
 * chat_render(), so a real Jinja renderer can replace it later. */
#ifndef SLM_SERVER_CHAT_TEMPLATE_H
#define SLM_SERVER_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef enum chat_family {
    CHAT_CHATML = 0,   /* <|im_start|>role\n...<|im_end|> (Qwen, SmolLM, Hermes, LFM) */
    CHAT_LLAMA3,       /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    CHAT_LLAMA31,      /* Llama 3 plus the "Cutting Knowledge Date" system header */
    CHAT_LLAMA2,       /* [INST] <<SYS>>...<</SYS>> ... [/INST] */
    CHAT_MISTRAL,      /* [INST] ...[/INST] (v1/v3, spaced) */
    CHAT_MISTRAL_NEMO, /* [INST]...[/INST] (tekken, no spaces) */
    CHAT_MISTRAL_V7,   /* [SYSTEM_PROMPT]...[/SYSTEM_PROMPT][INST]...[/INST] */
    CHAT_GEMMA,        /* <start_of_turn>user\n...<end_of_turn> */
    CHAT_PHI3,         /* <|user|>\n...<|end|> */
    CHAT_ZEPHYR,       /* <|user|>\n...</s> */
    CHAT_DEEPSEEK,     /* <｜User｜>...<｜Assistant｜> (R1 distills add <think>) */
    CHAT_FAMILY_COUNT
} chat_family;

typedef enum chat_role { CHAT_ROLE_SYSTEM, CHAT_ROLE_USER, CHAT_ROLE_ASSISTANT } chat_role;

typedef struct chat_message {
    chat_role role;
    const char *content; /* NUL-terminated UTF-8 */
} chat_message;

typedef struct chat_template {
    chat_family family;
    bool recognised;     /* false: no template or an unknown one (ChatML is used) */
    bool think_prompt;   /* the generation prompt opens a <think> block */
    const char *eos;     /* eos_token text, for formats that end turns with it */
} chat_template;

/* Picks the family from a template's text (NULL = the model has none).
 * eos is the eos_token text ("</s>" when NULL). */
chat_template chat_template_detect(const char *tmpl, const char *eos);
const char *chat_family_name(chat_family f);
/* "system", "user", "assistant" -> role; false for anything else. */
bool chat_role_parse(const char *name, chat_role *out);

/* The prompt for msgs followed by the assistant's generation prompt, without
 * a leading BOS (the tokenizer adds it).  today is the date some templates
 * print (Llama 3.1).  Returns a malloc'ed string, NULL when out of memory. */
char *chat_render(const chat_template *t, const chat_message *msgs, size_t n, const struct tm *today);

#endif
