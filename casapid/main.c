/* casapid: the billing API (TVCAS-compatible GET /api.php, CSV upload and download). */
#include <stdlib.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "log.h"

static const char usage[] =
	"usage: casapid [-n] [-f FILE]\n"
	"\n"
	"casapid is the billing API (TVCAS-compatible GET /api.php, CSV upload and download).\n"
	"\n"
	"  -f FILE   configuration file (default: $CAS_CONF, else ./cas.conf,\n"
	"            else /etc/freecas/cas.conf)\n"
	"  -n        check the configuration, print it (secrets masked), exit\n"
	"  -h        this help;  -V  version\n"
	"\n"
	"Exit codes: 0 ok, 1 invalid configuration, 100 usage, 111 system error.\n";

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	struct cas_cli cli = { .prog = "casapid", .usage = usage };
	struct cas_conf conf;
	int code;
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	if (cli.argi < argc) {
		cas_log_start(cli.prog, CAS_LOG_INFO, 0);
		cas_log(CAS_LOG_FATAL, "usage: unexpected argument '%s' (see casapid --help)", argv[cli.argi]);
		return CAS_EXIT_USAGE;
	}
	if (cas_cli_start(&cli, &conf, &code) < 0)
		return code;
	struct cas_db *db;
	if (cas_db_start(&conf, &db) < 0) {
		cas_conf_free(&conf);
		return CAS_EXIT_SYSTEM;
	}
	cas_db_close(db);
	cas_conf_free(&conf);
	return CAS_EXIT_OK;
}
