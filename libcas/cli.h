#ifndef CAS_CLI_H
#define CAS_CLI_H
/*
 * What every FreeCAS program does first: the common options
 * (-f FILE, -n, -h/--help, -V/--version), the configuration, the log.
 * Exit codes, the same for every program (after skarnet):
 *   0   success
 *   1   invalid configuration (-n, or a daemon refusing to start)
 *   2   a subcommand's documented failure (e.g. a rejected CSV)
 *   100 wrong usage
 *   111 system error (cannot bind, cannot open the database, ...)
 */
#include <stdio.h>

#include "conf.h"

#define CAS_EXIT_OK 0
#define CAS_EXIT_CONFIG 1
#define CAS_EXIT_FAILED 2
#define CAS_EXIT_USAGE 100
#define CAS_EXIT_SYSTEM 111

#define CAS_VERSION "0.1.0"

struct cas_cli {
	const char *prog;
	const char *usage;	/* full --help text, printed as is */
	const char *conf_file;	/* -f, or NULL */
	int check_only;		/* -n */
	int ready_fd;		/* -r FD: write "\n" there once ready (s6), -1 */
	int argi;		/* first argument after the options */
};

/* Parses the common options from argv (stops at the first non-option or
 * "--").  Returns -1 when the program should exit now with *exit_code set
 * (after --help, --version, or a usage error, which it reports on stderr). */
int cas_cli_parse(struct cas_cli *cli, int argc, char **argv, int *exit_code);

/* Loads the configuration and starts the log at its log.level.  With -n it
 * prints the effective configuration (secrets masked) to stdout.  Returns
 * 0 to go on, or -1 with *exit_code set (0 after a valid -n, 1 after an
 * invalid configuration, reported as "prog: fatal: file:line: reason"). */
int cas_cli_start(struct cas_cli *cli, struct cas_conf *conf, int *exit_code);

/* Readiness notification (s6 notification-fd protocol): a daemon calls this
 * once it serves (listening, or connected); writes a newline to the -r FD
 * and closes it.  Does nothing without -r. */
void cas_cli_ready(struct cas_cli *cli);

/* Writes the effective configuration, one "key = value" per line. */
void cas_cli_print_conf(const struct cas_conf *conf, FILE *out);

#endif
