/* main.c - the slm command-line program: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "slm.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* NULL: hidden developer command */
} command;

static const command COMMANDS[] = {
    {"run", slm_cmd_run, "generate text from a prompt"},
    {"chat", slm_cmd_chat, "talk with a model in the terminal, using its chat template"},
    {"info", slm_cmd_info, "show a GGUF file's metadata, tensors and totals"},
    {"tokenize", slm_cmd_tokenize, "show how a model's vocabulary tokenizes a text"},
    {"synth", slm_cmd_synth, NULL},
    {"pull", slm_cmd_pull, "download a model file from Hugging Face into the cache"},
    {"bench", slm_cmd_bench, "measure prompt and generation speed (tokens/s, like llama-bench)"},
    {"serve", slm_cmd_serve, "serve a model over an OpenAI-compatible HTTP API"},
    {"quantize", slm_cmd_quantize, "convert a model's weights to another type (Q4_K_M, Q8_0, ...)"},
    {"perplexity", slm_cmd_perplexity, "measure perplexity on a text, or KL divergence from a base model"},
    {"imatrix", slm_cmd_imatrix, "collect an importance matrix from a calibration text (for quantize --imatrix)"},
};

static void usage(FILE *out) {
    fprintf(out,
            "slm %s - local-first inference for small language models (GGUF)\n\n"
            "usage: slm <command> [options]\n\ncommands:\n",
            SLM_VERSION);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (COMMANDS[i].summary) fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\nRun 'slm <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("slm %s\n", SLM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "slm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
