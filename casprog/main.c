/* casprog: card issuance (doc/casprog.8): create cards and their
 * personalisation files; write, read and erase cards through a
 * Phoenix/Smartmouse serial reader (or cardemu's pty). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "casprog.h"
#include "cli.h"
#include "conf.h"
#include "db.h"
#include "log.h"

static const char usage[] =
	"usage: casprog [-f FILE] create [-n COUNT] [--first SERIAL] [--ac HEX]\n"
	"                           [--start T] [--finish T] [--out DIR]\n"
	"       casprog [-f FILE] write [READER] FILE.bin\n"
	"       casprog [-f FILE] info [READER] [--json]\n"
	"       casprog [-f FILE] erase [READER]\n"
	"       casprog [-f FILE] [-n]\n"
	"\n"
	"casprog issues cards: it creates them in the database with fresh random\n"
	"keys and writes one personalisation file per card (TVCAS 3 layout, mode\n"
	"0600), and writes, reads and erases cards through a Phoenix/Smartmouse\n"
	"serial reader.\n"
	"\n"
	"  create      new cards, serials printed one per line with their file\n"
	"    -n, --count COUNT   how many (default 1)\n"
	"    --first SERIAL      first serial (default: the next free one from\n"
	"                        card.first_serial up to card.last_serial)\n"
	"    --ac HEX            access criteria, 8 hex digits (default 00000000)\n"
	"    --start T           subscription start (default now)\n"
	"    --finish T          subscription end (default = start: no rights yet)\n"
	"                        T: Unix seconds or YYYY-MM-DD[THH:MM:SS] in UTC,\n"
	"                        within 1990-01-01..2069-12-31\n"
	"    --out DIR           folder of the files (default card.dir)\n"
	"  write FILE  personalise a blank card, verify it, lock it\n"
	"  info        serial, CAID, version, packages, dates, state (--json)\n"
	"  erase       erase a card whose protection the head-end switched off\n"
	"\n"
	"  READER options (defaults from card.* in the configuration):\n"
	"    --port DEV          serial device (card.port)\n"
	"    --reset rts|dtr|flush  reset line; flush for a pty (card.reset)\n"
	"    --invert            card in reset while the line is released\n"
	"    --no-echo           the reader does not echo what it sends\n"
	"    --timeout MS        per byte from the card (card.timeout)\n"
	"\n"
	"  -f FILE   configuration file (default: $CAS_CONF, else ./cas.conf,\n"
	"            else /etc/freecas/cas.conf)\n"
	"  -n        check the configuration, print it (secrets masked), exit\n"
	"  (no command) open the database (creating it and the master key on a\n"
	"            new installation) and exit: a check that they work\n"
	"  -h        this help;  -V  version\n"
	"\n"
	"Exit codes: 0 ok, 1 invalid configuration, 2 refused by the card or the\n"
	"database (no card, wrong ATR, timeout, protected card, verify mismatch,\n"
	"serial taken), 100 usage, 111 system error.\n";

int cp_usage(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cas_log(CAS_LOG_FATAL, "usage: %s (see casprog --help)", msg);
	return CAS_EXIT_USAGE;
}

int cp_load_conf(struct cp_ctx *ctx, struct cas_conf *conf, int *code)
{
	return cas_cli_start(ctx->cli, conf, code);
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cp_ctx *ctx);
	} cmds[] = {
		{ "create", cp_create },
		{ "write", cp_write },
		{ "info", cp_info },
		{ "erase", cp_erase },
	};
	struct cas_cli cli = { .prog = "casprog", .usage = usage };
	struct cas_conf conf;
	int code;
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	/* usage errors are reported before the configuration is read */
	cas_log_start(cli.prog, CAS_LOG_INFO, 0);
	if (cli.argi >= argc) {
		/* No command: check that the configuration, the master key and
		 * the database work (creating them on a new installation), as
		 * every FreeCAS program does when it starts. */
		if (cas_cli_start(&cli, &conf, &code) < 0)
			return code;
		struct cas_db *db;
		code = cas_db_start(&conf, &db) < 0 ? CAS_EXIT_SYSTEM : CAS_EXIT_OK;
		cas_db_close(db);
		cas_conf_free(&conf);
		return code;
	}
	const char *name = argv[cli.argi];
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(name, cmds[i].name) != 0)
			continue;
		if (cli.check_only)
			return cp_usage("-n checks the configuration only; it takes no command");
		struct cp_ctx ctx = { &cli, argc - cli.argi, argv + cli.argi };
		return cmds[i].fn(&ctx);
	}
	return cp_usage("unknown command '%s'", name);
}
