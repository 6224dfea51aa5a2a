/* chat_template.c - the chat formats of the common model families, written
 * out in C (see chat_template.h).  Each render function copies what the
 * family's Jinja template produces, as llama.cpp renders it (a leading BOS
 * removed); tests compare them with real templates' renders. */
#include "server/chat_template.h"

#include <string.h>

#include "server/strbuf.h"

static const char *const FAMILY_NAMES[CHAT_FAMILY_COUNT] = {
    "chatml", "llama3", "llama3.1", "llama2", "mistral", "mistral-nemo", "mistral-v7",
    "gemma", "phi3", "zephyr", "deepseek",
};

const char *chat_family_name(chat_family f) { return f < CHAT_FAMILY_COUNT ? FAMILY_NAMES[f] : "?"; }

bool chat_role_parse(const char *name, chat_role *out) {
    static const char *const names[] = {"system", "user", "assistant"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *out = (chat_role)i;
            return true;
        }
    return false;
}

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

/* Order matters: more specific markers first (Llama 2 and Mistral share
 * [INST]; Phi-3 and Zephyr share <|user|>). */
chat_template chat_template_detect(const char *tmpl, const char *eos) {
    chat_template t = {CHAT_CHATML, false, false, eos ? eos : "</s>"};
    if (!tmpl) return t;
    t.recognised = true;
    if (has(tmpl, "<|im_start|>")) t.family = CHAT_CHATML;
    else if (has(tmpl, "<|start_header_id|>"))
        t.family = has(tmpl, "Cutting Knowledge Date") ? CHAT_LLAMA31 : CHAT_LLAMA3;
    else if (has(tmpl, "[SYSTEM_PROMPT]")) t.family = CHAT_MISTRAL_V7;
    else if (has(tmpl, "<<SYS>>")) t.family = CHAT_LLAMA2;
    else if (has(tmpl, "[INST] ")) t.family = CHAT_MISTRAL;
    else if (has(tmpl, "[INST]")) t.family = CHAT_MISTRAL_NEMO;
    else if (has(tmpl, "<start_of_turn>")) t.family = CHAT_GEMMA;
    else if (has(tmpl, "<|end|>") && has(tmpl, "<|assistant|>")) t.family = CHAT_PHI3;
    else if (has(tmpl, "<|user|>") && has(tmpl, "<|assistant|>") && has(tmpl, "eos_token")) t.family = CHAT_ZEPHYR;
    else if (has(tmpl, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>")) {
        t.family = CHAT_DEEPSEEK;
        t.think_prompt = has(tmpl, "<think>\\n");
    } else t.recognised = false;
    return t;
}

static const char *const ROLE_NAMES[] = {"system", "user", "assistant"};

static void render_chatml(strbuf *b, const chat_message *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sb_puts(b, "<|im_start|>");
        sb_puts(b, ROLE_NAMES[m[i].role]);
        sb_puts(b, "\n");
        sb_puts(b, m[i].content);
        sb_puts(b, "<|im_end|>\n");
    }
    sb_puts(b, "<|im_start|>assistant\n");
}

static void llama3_turn(strbuf *b, const char *role, const char *content) {
    sb_puts(b, "<|start_header_id|>");
    sb_puts(b, role);
    sb_puts(b, "<|end_header_id|>\n\n");
    sb_puts_trimmed(b, content);
    sb_puts(b, "<|eot_id|>");
}

/* Llama 3.1/3.2 always open with a system turn carrying the knowledge
 * cutoff and today's date, then the (trimmed) system message if any. */
static void render_llama3(strbuf *b, const chat_message *m, size_t n, bool dated, const struct tm *today) {
    size_t i = 0;
    if (dated) {
        char date[64] = "";
        if (today) strftime(date, sizeof date, "%d %b %Y", today);
        sb_puts(b, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ");
        sb_puts(b, date);
        sb_puts(b, "\n\n");
        if (n && m[0].role == CHAT_ROLE_SYSTEM) sb_puts_trimmed(b, m[i++].content);
        sb_puts(b, "<|eot_id|>");
    }
    for (; i < n; i++) llama3_turn(b, ROLE_NAMES[m[i].role], m[i].content);
    sb_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* The system message goes inside the first [INST] block.  Turns after the
 * first start with the BOS text, as the template writes it. */
static void render_llama2(strbuf *b, const chat_message *m, size_t n) {
    size_t i = 0;
    const char *system = NULL;
    if (n && m[0].role == CHAT_ROLE_SYSTEM) system = m[i++].content;
    bool first = true;
    for (; i < n; i++) {
        if (m[i].role == CHAT_ROLE_USER) {
            sb_puts(b, first ? "[INST] " : "<s>[INST] ");
            if (first && system) {
                sb_puts(b, "<<SYS>>\n");
                sb_puts(b, system);
                sb_puts(b, "\n<</SYS>>\n\n");
            }
            sb_puts_trimmed(b, m[i].content);
            sb_puts(b, " [/INST]");
            first = false;
        } else if (m[i].role == CHAT_ROLE_ASSISTANT) {
            sb_puts(b, " ");
            sb_puts_trimmed(b, m[i].content);
            sb_puts(b, " </s>");
        }
    }
}

/* Mistral v1/v3 and Nemo: the system message is prepended to the LAST user
 * message; v1/v3 put a space after [INST] and before the answer. */
static void render_mistral(strbuf *b, const chat_message *m, size_t n, bool spaced, const char *eos) {
    size_t i = 0, last_user = n;
    const char *system = NULL;
    if (n && m[0].role == CHAT_ROLE_SYSTEM) system = m[i++].content;
    for (size_t j = i; j < n; j++)
        if (m[j].role == CHAT_ROLE_USER) last_user = j;
    for (; i < n; i++) {
        if (m[i].role == CHAT_ROLE_USER) {
            sb_puts(b, spaced ? "[INST] " : "[INST]");
            if (i == last_user && system) {
                sb_puts(b, system);
                sb_puts(b, "\n\n");
            }
            sb_puts(b, m[i].content);
            sb_puts(b, "[/INST]");
        } else if (m[i].role == CHAT_ROLE_ASSISTANT) {
            if (spaced) {
                sb_puts(b, " ");
                sb_puts_trimmed(b, m[i].content);
            } else {
                sb_puts(b, m[i].content);
            }
            sb_puts(b, eos);
        }
    }
}

static void render_mistral_v7(strbuf *b, const chat_message *m, size_t n, const char *eos) {
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_ROLE_SYSTEM) {
            sb_puts(b, "[SYSTEM_PROMPT]");
            sb_puts(b, m[i].content);
            sb_puts(b, "[/SYSTEM_PROMPT]");
        } else if (m[i].role == CHAT_ROLE_USER) {
            sb_puts(b, "[INST]");
            sb_puts(b, m[i].content);
            sb_puts(b, "[/INST]");
        } else {
            sb_puts(b, m[i].content);
            sb_puts(b, eos);
        }
    }
}

/* Gemma has no system role: its text opens the first user turn. */
static void render_gemma(strbuf *b, const chat_message *m, size_t n) {
    size_t i = 0;
    const char *system = NULL;
    if (n && m[0].role == CHAT_ROLE_SYSTEM) system = m[i++].content;
    for (; i < n; i++) {
        sb_puts(b, m[i].role == CHAT_ROLE_ASSISTANT ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
        if (system && m[i].role == CHAT_ROLE_USER) {
            sb_puts_trimmed(b, system);
            sb_puts(b, "\n");
            system = NULL;
        }
        sb_puts_trimmed(b, m[i].content);
        sb_puts(b, "<end_of_turn>\n");
    }
    sb_puts(b, "<start_of_turn>model\n");
}

/* Phi-3 ends turns with <|end|>, Zephyr with the EOS text. */
static void render_tagged(strbuf *b, const chat_message *m, size_t n, const char *end) {
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_ROLE_SYSTEM && !m[i].content[0]) continue;
        sb_puts(b, "<|");
        sb_puts(b, ROLE_NAMES[m[i].role]);
        sb_puts(b, "|>\n");
        sb_puts(b, m[i].content);
        sb_puts(b, end);
        sb_puts(b, "\n");
    }
    sb_puts(b, "<|assistant|>\n");
}

#define FW_BAR "\xef\xbd\x9c" /* U+FF5C, the full-width bar of DeepSeek's markers */

static void render_deepseek(strbuf *b, const chat_message *m, size_t n, bool think) {
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_ROLE_SYSTEM) {
            sb_puts(b, m[i].content);
        } else if (m[i].role == CHAT_ROLE_USER) {
            sb_puts(b, "<" FW_BAR "User" FW_BAR ">");
            sb_puts(b, m[i].content);
        } else {
            sb_puts(b, "<" FW_BAR "Assistant" FW_BAR ">");
            sb_puts(b, m[i].content);
            sb_puts(b, "<" FW_BAR "end\xe2\x96\x81of\xe2\x96\x81sentence" FW_BAR ">");
        }
    }
    sb_puts(b, "<" FW_BAR "Assistant" FW_BAR ">");
    if (think) sb_puts(b, "<think>\n");
}

char *chat_render(const chat_template *t, const chat_message *msgs, size_t n, const struct tm *today) {
    strbuf b;
    sb_init(&b);
    switch (t->family) {
    case CHAT_LLAMA3: render_llama3(&b, msgs, n, false, today); break;
    case CHAT_LLAMA31: render_llama3(&b, msgs, n, true, today); break;
    case CHAT_LLAMA2: render_llama2(&b, msgs, n); break;
    case CHAT_MISTRAL: render_mistral(&b, msgs, n, true, t->eos); break;
    case CHAT_MISTRAL_NEMO: render_mistral(&b, msgs, n, false, t->eos); break;
    case CHAT_MISTRAL_V7: render_mistral_v7(&b, msgs, n, t->eos); break;
    case CHAT_GEMMA: render_gemma(&b, msgs, n); break;
    case CHAT_PHI3: render_tagged(&b, msgs, n, "<|end|>"); break;
    case CHAT_ZEPHYR: render_tagged(&b, msgs, n, t->eos); break;
    case CHAT_DEEPSEEK: render_deepseek(&b, msgs, n, t->think_prompt); break;
    case CHAT_CHATML:
    case CHAT_FAMILY_COUNT: render_chatml(&b, msgs, n); break;
    }
    return sb_take(&b);
}
