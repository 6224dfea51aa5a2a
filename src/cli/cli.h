/* cli.h - the slm subcommands, one file each. */
#ifndef SLM_CLI_H
#define SLM_CLI_H

/* Each returns the process exit status. argv[0] is the subcommand name. */
int slm_cmd_info(int argc, char **argv);
int slm_cmd_run(int argc, char **argv);
int slm_cmd_chat(int argc, char **argv);
int slm_cmd_tokenize(int argc, char **argv);
int slm_cmd_synth(int argc, char **argv);
int slm_cmd_pull(int argc, char **argv);
int slm_cmd_bench(int argc, char **argv);
int slm_cmd_serve(int argc, char **argv);
int slm_cmd_quantize(int argc, char **argv);
int slm_cmd_perplexity(int argc, char **argv);
int slm_cmd_imatrix(int argc, char **argv);

#endif
