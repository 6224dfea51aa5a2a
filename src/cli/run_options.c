/* run_options.c - parsing `slm run` options, with the llama.cpp spellings
 * (--model, --n-predict, --ctx-size, --threads, --file, -s) as aliases. */
#include "cli/run_options.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"

void slm_run_usage(FILE *out) {
    fprintf(out,
            "usage: slm run [-m FILE] [-p TEXT | -f FILE | --prompt-ids ID,ID,...] [options]\n\n"
            "Generates text from a prompt.  Without -m: $SLM_MODEL, else the cached default\n"
            "model (stories260K.gguf, downloaded on first use).\n\n"
            "  -m, --model FILE          GGUF model to run\n"
            "  -p, --prompt TEXT         prompt text (BOS is added as the vocabulary asks)\n"
            "  -f, --file FILE           read the prompt from FILE (one trailing newline dropped)\n"
            "      --prompt-ids IDS      prompt as comma-separated token ids (no BOS added)\n"
            "  -n, --n-predict N         tokens to generate; -1 = until end of text or full context (default -1)\n"
            "  -c, --ctx-size N          context size; 0 = the model's, at most 4096 (default 0)\n"
            "  -t, --threads N           threads; 0 = one per core (default 0)\n"
            "      --temp T              temperature; <= 0 = greedy (default 0.8)\n"
            "      --top-k K             keep the K most likely tokens; 0 = off (default 40)\n"
            "      --top-p P             nucleus sampling; 1 = off (default 0.95)\n"
            "      --min-p P             drop tokens below P x the best one; 0 = off (default 0.05)\n"
            "      --typical-p P         locally typical sampling; 1 = off (default 1)\n"
            "  -s, --seed S              random seed; -1 = random (default -1, shown by --verbose)\n"
            "      --repeat-penalty R    penalise repeated tokens; 1 = off (default 1)\n"
            "      --repeat-last-n N     tokens the penalties look back on; -1 = all (default 64)\n"
            "      --presence-penalty P  subtract P from tokens seen (default 0)\n"
            "      --frequency-penalty P subtract P x count from tokens seen (default 0)\n"
            "      --cache-type-k T      K cache type, f16 or f32 (default f16)\n"
            "      --cache-type-v T      V cache type, f16 or f32 (default f16)\n"
            "      --mmap                map the model file instead of copying it into huge pages: faster\n"
            "                            start, pages the kernel may drop; generation ~5-10 %% slower\n"
            "      --no-mmap             always copy the model file into memory (default: copy when the\n"
            "                            kernel offers huge pages and memory allows, else map)\n"
            "      --ignore-eos          never sample end-of-generation tokens\n"
            "      --no-display-prompt   print only the generated text\n"
            "      --output-ids          print the generated token ids instead of text\n"
            "      --dump-logits FILE    write the prompt and generation logits as JSON\n"
            "      --verbose             print model, settings and seed on stderr\n"
            "  -h, --help                this help\n\n"
            "Ctrl-C stops the generation; timings are printed on stderr at the end.\n");
}

static bool parse_cache_type(const char *opt, const char *s, slm_cache_type *out) {
    if (!strcmp(s, "f16")) *out = SLM_CACHE_F16;
    else if (!strcmp(s, "f32")) *out = SLM_CACHE_F32;
    else {
        fprintf(stderr, "slm run: %s: expected f16 or f32, got '%s'\n", opt, s);
        return false;
    }
    return true;
}

static bool parse_seed(const char *opt, const char *s, slm_run_options *o) {
    if (!strcmp(s, "-1")) { /* llama.cpp's way of asking for a random seed */
        o->seed_given = false;
        return true;
    }
    o->seed_given = slm_arg_u64("run", opt, s, &o->sampling.seed);
    return o->seed_given;
}

/* An option that takes a number or a string.  Returns 1 when argv[*i] was
 * one of them and parsed, 0 when it is none of them, -1 on error. */
static int parse_valued(int argc, char **argv, int *i, slm_run_options *o) {
    slm_sampler_params *sp = &o->sampling;
    const char *v = NULL, *opt = argv[*i];
    long n = 0;
    int r;
#define TAKE(names) ((r = slm_arg_value("run", argc, argv, i, names, &v)) != 0)
#define OK(cond) ((r < 0 || !(cond)) ? -1 : 1)
    if (TAKE("-m|--model")) return OK((o->model = v) != NULL);
    if (TAKE("-p|--prompt")) return OK((o->prompt = v) != NULL);
    if (TAKE("-f|--file")) return OK((o->prompt_file = v) != NULL);
    if (TAKE("--prompt-ids")) return OK((o->prompt_ids = v) != NULL);
    if (TAKE("--dump-logits")) return OK((o->dump_logits = v) != NULL);
    if (TAKE("-n|--n-predict|--predict")) return OK(v && slm_arg_long("run", opt, v, -1, INT32_MAX, &o->n_predict));
    if (TAKE("-c|--ctx-size")) return OK(v && slm_arg_long("run", opt, v, 0, 1 << 24, &o->n_ctx));
    if (TAKE("-t|--threads")) return OK(v && slm_arg_long("run", opt, v, 0, 1024, &o->n_threads));
    if (TAKE("--temp|--temperature")) return OK(v && slm_arg_float("run", opt, v, -1e9, 1e9, &sp->temperature));
    if (TAKE("--top-k")) {
        if (r > 0 && slm_arg_long("run", opt, v, -1, INT32_MAX, &n)) sp->top_k = (int32_t)n;
        else r = -1;
        return OK(true);
    }
    if (TAKE("--top-p")) return OK(v && slm_arg_float("run", opt, v, 0, 1, &sp->top_p));
    if (TAKE("--min-p")) return OK(v && slm_arg_float("run", opt, v, 0, 1, &sp->min_p));
    if (TAKE("--typical-p|--typical")) return OK(v && slm_arg_float("run", opt, v, 0, 1, &sp->typical_p));
    if (TAKE("-s|--seed")) return OK(v && parse_seed(opt, v, o));
    if (TAKE("--repeat-penalty")) return OK(v && slm_arg_float("run", opt, v, 1e-6, 1e6, &sp->repeat_penalty));
    if (TAKE("--repeat-last-n")) {
        if (r > 0 && slm_arg_long("run", opt, v, -1, INT32_MAX, &n)) sp->repeat_last_n = (int32_t)n;
        else r = -1;
        return OK(true);
    }
    if (TAKE("--presence-penalty")) return OK(v && slm_arg_float("run", opt, v, -1e6, 1e6, &sp->presence_penalty));
    if (TAKE("--frequency-penalty"))
        return OK(v && slm_arg_float("run", opt, v, -1e6, 1e6, &sp->frequency_penalty));
    if (TAKE("--cache-type-k|-ctk")) return OK(v && parse_cache_type(opt, v, &o->cache_k));
    if (TAKE("--cache-type-v|-ctv")) return OK(v && parse_cache_type(opt, v, &o->cache_v));
#undef TAKE
#undef OK
    return 0;
}

slm_run_parse slm_run_parse_options(int argc, char **argv, slm_run_options *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->cache_k = o->cache_v = SLM_CACHE_F16;
    o->sampling = slm_sampler_default_params();
    o->display_prompt = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (slm_arg_is(a, "-h|--help")) return SLM_RUN_PARSE_HELP;
        if (slm_arg_load_mode(a, &o->load_mode)) continue;
        if (slm_arg_is(a, "--no-display-prompt")) o->display_prompt = false;
        else if (slm_arg_is(a, "--verbose|-v")) o->verbose = true;
        else if (slm_arg_is(a, "--output-ids")) o->output_ids = true;
        else if (slm_arg_is(a, "--ignore-eos")) o->ignore_eos = true;
        else {
            int r = parse_valued(argc, argv, &i, o);
            if (r < 0) return SLM_RUN_PARSE_ERROR;
            if (r == 0) {
                fprintf(stderr, "slm run: unknown option '%s' (see slm run --help)\n", a);
                return SLM_RUN_PARSE_ERROR;
            }
        }
    }
    if ((o->prompt != NULL) + (o->prompt_file != NULL) + (o->prompt_ids != NULL) > 1) {
        fprintf(stderr, "slm run: give the prompt once: -p, -f or --prompt-ids\n");
        return SLM_RUN_PARSE_ERROR;
    }
    return SLM_RUN_PARSE_OK;
}

/* /dev/urandom, else the clock and the process id. */
uint64_t slm_run_random_seed(void) {
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        ssize_t got = read(fd, &seed, sizeof seed);
        close(fd);
        if (got == (ssize_t)sizeof seed) return seed;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

int slm_run_open_model(const char *cmd, const slm_run_options *o, const char *path, slm_model **model,
                       slm_context **ctx) {
    slm_error err;
    if (slm_model_load_with(path, o->load_mode, model, &err)) {
        fprintf(stderr, "slm %s: cannot load model: %s\n", cmd, err.message);
        return 1;
    }
    slm_context_params cp = slm_context_default_params();
    cp.n_ctx = (uint32_t)o->n_ctx;
    cp.n_threads = (uint32_t)o->n_threads;
    cp.cache_type_k = o->cache_k;
    cp.cache_type_v = o->cache_v;
    if (slm_context_new(*model, &cp, ctx, &err)) {
        fprintf(stderr, "slm %s: cannot create the context: %s\n", cmd, err.message);
        return 1;
    }
    return 0;
}
