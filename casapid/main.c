/* casapid: the billing API (TVCAS-compatible GET /api.php, CSV upload and
 * download, health and metrics).  See casapid.8 and casapid.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>
#include <sodium.h>
#include <sqlite3.h>

#include "casapid.h"
#include "cli.h"
#include "log.h"
#include "rand.h"

static const char usage[] =
	"usage: casapid [-n] [-f FILE] [-r FD]\n"
	"\n"
	"casapid is the billing API: the TVCAS-compatible GET /api.php (also /api),\n"
	"GET and POST /cards.csv, GET /healthz and GET /metrics, on api.listen.\n"
	"It stays in the foreground and logs one line per request and event to stderr.\n"
	"SIGTERM or SIGINT: finish the requests in progress and stop; SIGHUP: reload\n"
	"the configuration (api.listen, db and master_key need a restart).\n"
	"\n"
	"  -f FILE   configuration file (default: $CAS_CONF, else ./cas.conf,\n"
	"            else /etc/freecas/cas.conf)\n"
	"  -n        check the configuration, print it (secrets masked), exit\n"
	"  -r FD     write a newline to file descriptor FD once listening (s6 readiness)\n"
	"  -h        this help;  -V  version\n"
	"\n"
	"Exit codes: 0 ok (also after SIGTERM), 1 invalid configuration, 100 usage,\n"
	"111 system error (cannot bind, cannot open the database).\n";

int main(int argc, char **argv);

void app_key_hash(const struct app *a, const char *key, size_t len, uint8_t out[32])
{
	crypto_generichash(out, 32, (const unsigned char *)key, len, a->hash_key, sizeof a->hash_key);
}

int settings_from_conf(struct app *a, const struct cas_conf *c, struct settings *s, char *err,
		       size_t errsize)
{
	memset(s, 0, sizeof *s);
	const char *key = cas_conf_str(c, "api.key");
	if (!cas_conf_is_set(c, "api.key") || key[0] == '\0') {
		snprintf(err, errsize, "api.key is not set: casapid needs the key billing sends as api_key");
		return -1;
	}
	app_key_hash(a, key, strlen(key), s->key_hash);
	s->bad_key_delay_ms = (long)cas_conf_int(c, "api.bad_key_delay_ms");
	s->timeout_s = (int)cas_conf_int(c, "api.timeout");
	s->max_body = (size_t)cas_conf_int(c, "api.max_body");
	s->max_url = (size_t)cas_conf_int(c, "api.max_url");
	s->max_head = s->max_url + 16384;
	s->max_connections = (unsigned)cas_conf_int(c, "api.max_connections");
	s->csv_admin = cas_conf_bool(c, "api.csv_admin");
	s->access_log = cas_conf_bool(c, "api.access_log");
	s->serial_min = (uint32_t)cas_conf_int(c, "card.first_serial");
	s->serial_max = (uint32_t)cas_conf_int(c, "card.last_serial");
	if (s->serial_min > s->serial_max) {
		snprintf(err, errsize, "card.first_serial is above card.last_serial");
		return -1;
	}
	return 0;
}

static void on_checkpoint_timer(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;
	(void)fd;
	(void)what;
	if (a->ckpt_pending)
		return;
	struct job *j = job_new(JOB_CHECKPOINT, NULL);
	if (j == NULL)
		return;
	a->ckpt_pending = 1;
	worker_submit(&a->reader, j);
}

static void on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;
	(void)fd;
	(void)what;
	cas_log(CAS_LOG_WARN, "%u connection(s) still busy after %d s: closing them", a->nconn,
		a->set.timeout_s);
	event_base_loopexit(a->base, NULL);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;
	(void)what;
	if (a->stopping)
		return;
	a->stopping = 1;
	cas_log(CAS_LOG_INFO, "stopping (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	struct timeval tv = { a->set.timeout_s, 0 };
	evtimer_add(a->ev_stop_deadline, &tv);
	event_del(a->ev_ckpt);
	server_stop(a);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;
	struct cas_conf nc;
	struct settings ns;
	char err[600];
	(void)sig;
	(void)what;
	char path[4096];
	if (a->conf.path == NULL) {
		cas_log(CAS_LOG_WARN, "SIGHUP: no configuration file to reload (running on defaults)");
		return;
	}
	snprintf(path, sizeof path, "%s", a->conf.path);
	if (cas_conf_load(&nc, path) < 0) {
		cas_log(CAS_LOG_ERROR, "reload failed, keeping the running configuration: %s", nc.err);
		cas_conf_free(&nc);
		return;
	}
	if (settings_from_conf(a, &nc, &ns, err, sizeof err) < 0) {
		cas_log(CAS_LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
		cas_conf_free(&nc);
		return;
	}
	static const char *const restart[] = { "api.listen", "db", "master_key", "db.busy_timeout",
					       "log.syslog" };
	for (size_t i = 0; i < sizeof restart / sizeof restart[0]; i++)
		if (strcmp(cas_conf_str(&nc, restart[i]), cas_conf_str(&a->conf, restart[i])) != 0 ||
		    cas_conf_int(&nc, restart[i]) != cas_conf_int(&a->conf, restart[i]))
			cas_log(CAS_LOG_WARN, "%s changed: restart casapid to apply it", restart[i]);
	enum cas_log_level lvl;
	if (cas_log_level_parse(cas_conf_str(&nc, "log.level"), &lvl) == 0)
		cas_log_set_level(lvl);
	a->set = ns;
	sodium_memzero(&ns, sizeof ns);
	cas_conf_free(&a->conf);
	a->conf = nc;
	cas_log(CAS_LOG_INFO, "configuration reloaded from %s", path);
}

int main(int argc, char **argv)
{
	struct cas_cli cli = { .prog = "casapid", .usage = usage };
	int code;
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	if (cli.argi < argc) {
		cas_log_start(cli.prog, CAS_LOG_INFO, 0);
		cas_log(CAS_LOG_FATAL, "usage: unexpected argument '%s' (see casapid --help)", argv[cli.argi]);
		return CAS_EXIT_USAGE;
	}
	struct app *a = calloc(1, sizeof *a);
	if (a == NULL)
		return CAS_EXIT_SYSTEM;
	a->cli = &cli;
	if (cas_cli_start(&cli, &a->conf, &code) < 0) {
		free(a);
		return code;
	}
	char err[600];
	int ret = CAS_EXIT_SYSTEM;
	if (cas_rand_init() < 0) {
		cas_log(CAS_LOG_FATAL, "unable to initialise libsodium");
		goto out_conf;
	}
	cas_rand_bytes(a->hash_key, sizeof a->hash_key);
	if (settings_from_conf(a, &a->conf, &a->set, err, sizeof err) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", err);
		ret = CAS_EXIT_CONFIG;
		goto out_conf;
	}
	if (strlen(cas_conf_str(&a->conf, "api.key")) < 16)
		cas_log(CAS_LOG_WARN, "api.key is shorter than 16 characters: easy to guess");
	signal(SIGPIPE, SIG_IGN);
	/* The database threads hand their results to the loop with event_active(). */
	pthread_mutex_init(&a->done_mu, NULL);
	if (evthread_use_pthreads() < 0 || (a->base = event_base_new()) == NULL) {
		cas_log(CAS_LOG_FATAL, "unable to start the event loop");
		goto out_base;
	}
	a->ev_done = event_new(a->base, -1, 0, app_done_cb, a);
	a->ev_term = evsignal_new(a->base, SIGTERM, on_stop, a);
	a->ev_int = evsignal_new(a->base, SIGINT, on_stop, a);
	a->ev_hup = evsignal_new(a->base, SIGHUP, on_hup, a);
	a->ev_stop_deadline = evtimer_new(a->base, on_stop_deadline, a);
	a->ev_ckpt = event_new(a->base, -1, EV_PERSIST, on_checkpoint_timer, a);
	struct timeval second = { 0, 250000 };
	if (!a->ev_done || !a->ev_term || !a->ev_int || !a->ev_hup || !a->ev_stop_deadline ||
	    !a->ev_ckpt || event_add(a->ev_ckpt, &second) < 0 ||
	    evsignal_add(a->ev_term, NULL) < 0 || evsignal_add(a->ev_int, NULL) < 0 ||
	    evsignal_add(a->ev_hup, NULL) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to set up the event loop");
		goto out_base;
	}
	/* Bind first: a port in use stops us before any file is created. */
	if (server_listen(a) < 0)
		goto out_base;
	if (cas_db_start(&a->conf, &a->db) < 0)
		goto out_workers;
	/* card reads on the loop thread: memory-mapped, no read() per page */
	sqlite3_exec(cas_db_sqlite(a->db), "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -65536",
		     NULL, NULL, NULL);
	if (worker_start(a, &a->writer, "writer", 1) < 0 || worker_start(a, &a->reader, "reader", 0) < 0)
		goto out_workers;
	cas_log(CAS_LOG_INFO, "listening on %s (database %s)", cas_conf_str(&a->conf, "api.listen"),
		cas_conf_str(&a->conf, "db"));
	cas_cli_ready(&cli);
	event_base_dispatch(a->base);
	ret = CAS_EXIT_OK;
out_workers:
	if (a->listener)
		evconnlistener_free(a->listener);
	a->listener = NULL;
	worker_stop(&a->writer);
	worker_stop(&a->reader);
	/* answers that came back after the loop ended */
	while (a->done_head != NULL) {
		struct job *j = a->done_head;
		a->done_head = j->next;
		if (j->conn != NULL)
			j->conn->job = NULL;
		job_free(j);
	}
	/* connections left after the stop deadline */
	while (a->conns != NULL) {
		struct conn *c = a->conns;
		a->conns = c->next;
		if (c->job)
			job_free(c->job);
		event_free(c->timer);
		bufferevent_free(c->bev);
		if (c->body)
			evbuffer_free(c->body);
		free(c->head);
		free(c);
	}
	if (ret == CAS_EXIT_OK)
		cas_log(CAS_LOG_INFO, "stopped");
out_base:
	if (a->ev_done)
		event_free(a->ev_done);
	if (a->ev_term)
		event_free(a->ev_term);
	if (a->ev_int)
		event_free(a->ev_int);
	if (a->ev_hup)
		event_free(a->ev_hup);
	if (a->ev_stop_deadline)
		event_free(a->ev_stop_deadline);
	if (a->ev_ckpt)
		event_free(a->ev_ckpt);
	if (a->base)
		event_base_free(a->base);
	pthread_mutex_destroy(&a->done_mu);
	cas_db_close(a->db);
out_conf:
	cas_conf_free(&a->conf);
	sodium_memzero(a, sizeof *a);
	free(a);
	return ret;
}
