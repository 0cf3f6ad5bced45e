/* Program start-up shared by the five programs.  This is the one part of
 * libcas that writes to stdout/stderr, and only when a program calls it to
 * answer its own command line (--help, -n). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int cas_cli_parse(struct cas_cli *cli, int argc, char **argv, int *exit_code)
{
	int i;
	cli->ready_fd = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(cli->usage, stdout);
			*exit_code = CAS_EXIT_OK;
			return -1;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("%s (FreeCAS) %s\n", cli->prog, CAS_VERSION);
			*exit_code = CAS_EXIT_OK;
			return -1;
		}
		if (strcmp(a, "-n") == 0) {
			cli->check_only = 1;
			continue;
		}
		if (strcmp(a, "-f") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: usage: -f needs a file (see %s --help)\n", cli->prog, cli->prog);
				*exit_code = CAS_EXIT_USAGE;
				return -1;
			}
			cli->conf_file = argv[++i];
			continue;
		}
		if (strcmp(a, "-r") == 0) {
			char *end;
			long fd = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
			if (i + 1 >= argc || *argv[i + 1] == '\0' || *end != '\0' || fd < 3 || fd > 1023) {
				fprintf(stderr, "%s: usage: -r needs a file descriptor number 3..1023 (see %s --help)\n",
					cli->prog, cli->prog);
				*exit_code = CAS_EXIT_USAGE;
				return -1;
			}
			cli->ready_fd = (int)fd;
			i++;
			continue;
		}
		if (strncmp(a, "-f", 2) == 0 && a[2] != '\0') {
			cli->conf_file = a + 2;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0')
			break;	/* the program's own option */
		break;
	}
	cli->argi = i;
	return 0;
}

void cas_cli_ready(struct cas_cli *cli)
{
	if (cli->ready_fd < 0)
		return;
	ssize_t n;
	do
		n = write(cli->ready_fd, "\n", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		cas_log(CAS_LOG_WARN, "unable to notify readiness on fd %d: %s", cli->ready_fd,
			n < 0 ? strerror(errno) : "short write");
	close(cli->ready_fd);
	cli->ready_fd = -1;
}

void cas_cli_print_conf(const struct cas_conf *conf, FILE *out)
{
	char line[4400];
	for (unsigned i = 0; i < cas_conf_key_count; i++) {
		cas_conf_format(conf, i, line, sizeof line);
		fprintf(out, "%s\n", line);
	}
}

int cas_cli_start(struct cas_cli *cli, struct cas_conf *conf, int *exit_code)
{
	const char *path = cas_conf_default_path(cli->conf_file);
	/* Until the configuration says otherwise, log at info to stderr. */
	cas_log_start(cli->prog, CAS_LOG_INFO, 0);
	if (cas_conf_load(conf, path) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", conf->err);
		cas_conf_free(conf);
		*exit_code = CAS_EXIT_CONFIG;
		return -1;
	}
	enum cas_log_level level = CAS_LOG_INFO;
	cas_log_level_parse(cas_conf_str(conf, "log.level"), &level);
	cas_log_start(cli->prog, level, cas_conf_bool(conf, "log.syslog"));
	if (cli->check_only) {
		printf("# %s: configuration %s is valid\n", cli->prog, path);
		cas_cli_print_conf(conf, stdout);
		cas_conf_free(conf);
		*exit_code = CAS_EXIT_OK;
		return -1;
	}
	return 0;
}
