/* ecmgd: the SimulCrypt ECM generator (ECMG<=>SCS server, TVCAS 3 compatible ECMs). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "cli.h"
#include "conf.h"
#include "ecmgd.h"
#include "log.h"
#include "profile.h"
#include "rand.h"

static const char usage[] =
	"usage: ecmgd [-n] [-f FILE] [-r FD]\n"
	"\n"
	"ecmgd is the SimulCrypt ECM generator (ECMG<=>SCS server, TVCAS 3 compatible ECMs).\n"
	"It listens on ecmg.listen; every scrambler connection is one ECM channel.\n"
	"\n"
	"  -f FILE   configuration file (default: $CAS_CONF, else ./cas.conf,\n"
	"            else /etc/freecas/cas.conf)\n"
	"  -n        check the configuration, print it (secrets masked), exit\n"
	"  -r FD     write a newline to file descriptor FD once listening (s6 readiness)\n"
	"  -h        this help;  -V  version\n"
	"\n"
	"Signals: SIGHUP reloads the configuration (connections stay up),\n"
	"SIGTERM or SIGINT stops.\n"
	"Exit codes: 0 ok, 1 invalid configuration, 100 usage, 111 system error.\n";

/* Closed connections stay visible in the generators table this long. */
#define KEEP_CLOSED_ROWS 3600

int main(int argc, char **argv);

int ecmgd_params(const struct cas_conf *conf, const char *path, struct cas_ecmg_params *p,
		 const struct cas_profile **profile, void **key)
{
	*key = NULL;
	const char *pname = cas_conf_str(conf, "profile");
	*profile = cas_profile_find(pname);
	if (*profile == NULL) {
		cas_log(CAS_LOG_FATAL, "profile %s is not known", pname);
		return -1;
	}
	if ((*profile)->ecm_key_len > 0) {
		if (!cas_conf_is_set(conf, "ecm_key")) {
			cas_log(CAS_LOG_FATAL, "ecm_key is not set in %s: add ecm_key = <%zu hex digits> "
				"(profile %s)", path, 2 * (*profile)->ecm_key_len, pname);
			return -1;
		}
		if ((*profile)->ecm_key_new(cas_conf_bytes(conf, "ecm_key"), (*profile)->ecm_key_len,
					    key) < 0) {
			cas_log(CAS_LOG_FATAL, "ecm_key in %s: not usable with profile %s", path, pname);
			return -1;
		}
	}
	memset(p, 0, sizeof *p);
	p->super_cas_id = (uint32_t)cas_conf_int(conf, "super_cas_id");
	p->section_tspkt_flag = (uint8_t)cas_conf_int(conf, "ecmg.section_tspkt_flag");
	p->delay_start = (int16_t)cas_conf_int(conf, "ecmg.delay_start");
	p->delay_stop = (int16_t)cas_conf_int(conf, "ecmg.delay_stop");
	if ((p->has_transition_delay_start = cas_conf_is_set(conf, "ecmg.transition_delay_start")))
		p->transition_delay_start = (int16_t)cas_conf_int(conf, "ecmg.transition_delay_start");
	if ((p->has_transition_delay_stop = cas_conf_is_set(conf, "ecmg.transition_delay_stop")))
		p->transition_delay_stop = (int16_t)cas_conf_int(conf, "ecmg.transition_delay_stop");
	if ((p->has_ac_delay_start = cas_conf_is_set(conf, "ecmg.ac_delay_start")))
		p->ac_delay_start = (int16_t)cas_conf_int(conf, "ecmg.ac_delay_start");
	if ((p->has_ac_delay_stop = cas_conf_is_set(conf, "ecmg.ac_delay_stop")))
		p->ac_delay_stop = (int16_t)cas_conf_int(conf, "ecmg.ac_delay_stop");
	p->ecm_rep_period = (uint16_t)cas_conf_int(conf, "ecmg.rep_period");
	p->max_streams = (uint16_t)cas_conf_int(conf, "ecmg.max_streams");
	p->min_cp_duration = (uint16_t)cas_conf_int(conf, "ecmg.min_cp_duration");
	p->max_comp_time = (uint16_t)cas_conf_int(conf, "ecmg.max_comp_time");
	p->ac_transfer_mode = (uint8_t)cas_conf_int(conf, "ecmg.ac_transfer_mode");
	p->max_channels = (unsigned)cas_conf_int(conf, "ecmg.max_channels");
	p->max_total_streams = (unsigned)cas_conf_int(conf, "ecmg.max_total_streams");

	/* TSDuck's scrambler refuses to start when |delay_start| is more than
	 * half the crypto-period (simulcrypt.md §2.3). */
	long half = (long)p->min_cp_duration * 100 / 2;
	if (labs((long)p->delay_start) > half)
		cas_log(CAS_LOG_WARN, "ecmg.delay_start %d ms is more than half the shortest crypto-period "
			"(ecmg.min_cp_duration %u.%u s): TSDuck's scrambler refuses crypto-periods that "
			"short", p->delay_start, p->min_cp_duration / 10, p->min_cp_duration % 10);
	return 0;
}

static void free_key(const struct cas_profile *profile, void *key)
{
	if (profile != NULL && key != NULL)
		profile->ecm_key_free(key);
}

static void apply_log_level(const struct cas_conf *conf)
{
	enum cas_log_level level = CAS_LOG_INFO;
	cas_log_level_parse(cas_conf_str(conf, "log.level"), &level);
	cas_log_set_level(level);
}

/* SIGHUP: a new configuration for what comes next; connections stay.  A
 * bad file changes nothing. */
static void reload(struct ecmgd *d)
{
	struct cas_conf nc;
	const char *path = d->conf_path;
	if (cas_conf_load(&nc, path) < 0) {
		cas_log(CAS_LOG_ERROR, "reload failed, configuration unchanged: %s", nc.err);
		cas_conf_free(&nc);
		return;
	}
	struct cas_ecmg_params p;
	const struct cas_profile *profile;
	void *key;
	if (ecmgd_params(&nc, path, &p, &profile, &key) < 0) {
		cas_log(CAS_LOG_ERROR, "reload failed, configuration unchanged");
		cas_conf_free(&nc);
		return;
	}
	static const char *const restart_keys[] = { "ecmg.listen", "db", "master_key", "log.syslog" };
	for (size_t i = 0; i < sizeof restart_keys / sizeof restart_keys[0]; i++)
		if (strcmp(cas_conf_str(&nc, restart_keys[i]), cas_conf_str(&d->conf, restart_keys[i])) != 0)
			cas_log(CAS_LOG_WARN, "%s changed: it takes effect when ecmgd restarts",
				restart_keys[i]);
	/* The new key serves the next CW_provision; nothing is in flight
	 * between two callbacks of the loop. */
	free_key(d->eng.profile, d->eng.key);
	d->eng.profile = profile;
	d->eng.key = key;
	d->eng.p = p;
	d->idle_timeout = cas_conf_int(&nc, "ecmg.idle_timeout");
	apply_log_level(&nc);
	/* Keep the listen address as it is served (restart_keys). */
	struct cas_conf old = d->conf;
	d->conf = nc;
	cas_conf_free(&old);
	d->server_row_written = 0;
	cas_log(CAS_LOG_INFO, "configuration reloaded from %s", path);
}

static void stop(struct ecmgd *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	cas_log(CAS_LOG_INFO, "stopping (%s), %zu connections open", why, d->nconns);
	if (d->lst != NULL)
		evconnlistener_disable(d->lst);
	ecmgd_close_all(d);
	event_base_loopbreak(d->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct ecmgd *d = arg;
	(void)what;
	if (sig == SIGHUP)
		reload(d);
	else
		stop(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ecmgd *d = arg;
	(void)fd;
	(void)what;
	ecmgd_tick(d);
	size_t n;
	struct ecmgd_row *rows = ecmgd_rows(d, &n, 0);
	if (rows == NULL)
		return;
	int ok = ecmgd_stats_submit(d->stats, rows, n) == 0;
	if (!ok)
		free(rows);
	ecmgd_rows_done(d, ok);
}

/* Thousands of scramblers need thousands of descriptors. */
static void raise_nofile(unsigned need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		if (want == RLIM_INFINITY || want > (1u << 20))
			want = 1u << 20;
		if (want > rl.rlim_cur) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need + 64)
		cas_log(CAS_LOG_WARN, "open files limit %llu is below ecmg.max_channels (%u) + 64: "
			"raise it (ulimit -n) to serve that many scramblers",
			(unsigned long long)rl.rlim_cur, need);
}

int main(int argc, char **argv)
{
	struct cas_cli cli = { .prog = "ecmgd", .usage = usage };
	struct ecmgd d;
	int code;
	memset(&d, 0, sizeof d);
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	if (cli.argi < argc) {
		cas_log_start(cli.prog, CAS_LOG_INFO, 0);
		cas_log(CAS_LOG_FATAL, "usage: unexpected argument '%s' (see ecmgd --help)", argv[cli.argi]);
		return CAS_EXIT_USAGE;
	}
	if (cas_cli_start(&cli, &d.conf, &code) < 0)
		return code;
	d.cli = &cli;
	/* Our own copy: a reload replaces d.conf, and its path with it. */
	char *conf_path = strdup(d.conf.path != NULL ? d.conf.path : cas_conf_default_path(cli.conf_file));
	if (conf_path == NULL) {
		cas_log(CAS_LOG_FATAL, "out of memory");
		cas_conf_free(&d.conf);
		return CAS_EXIT_SYSTEM;
	}
	d.conf_path = conf_path;
	d.exit_code = CAS_EXIT_SYSTEM;
	if (strlen(cas_conf_str(&d.conf, "ecmg.listen")) >= sizeof d.listen) {
		cas_log(CAS_LOG_FATAL, "ecmg.listen in %s: at most %zu characters", d.conf_path,
			sizeof d.listen - 1);
		cas_conf_free(&d.conf);
		free(conf_path);
		return CAS_EXIT_CONFIG;
	}
	snprintf(d.listen, sizeof d.listen, "%s", cas_conf_str(&d.conf, "ecmg.listen"));
	d.idle_timeout = cas_conf_int(&d.conf, "ecmg.idle_timeout");
	d.started = time(NULL);

	if (ecmgd_params(&d.conf, d.conf_path, &d.eng.p, &d.eng.profile, &d.eng.key) < 0) {
		cas_conf_free(&d.conf);
		free(conf_path);
		return CAS_EXIT_CONFIG;
	}
	if (cas_rand_init() < 0) {
		cas_log(CAS_LOG_FATAL, "unable to initialise libsodium");
		goto out;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;	/* a closed socket is an error, not a signal */
	sigaction(SIGPIPE, &sa, NULL);
	raise_nofile(d.eng.p.max_channels);

	d.rcap = 64u << 10;
	d.ocap = 256u << 10;
	d.rbuf = malloc(d.rcap);
	d.obuf = malloc(d.ocap);
	d.framer = malloc(sizeof *d.framer);
	d.base = event_base_new();
	if (d.rbuf == NULL || d.obuf == NULL || d.framer == NULL || d.base == NULL) {
		cas_log(CAS_LOG_FATAL, "out of memory");
		goto out;
	}
	cas_tlv_framer_init(d.framer);
	if (cas_ecmg_max_reply(&d.eng) > d.ocap / 4) {
		cas_log(CAS_LOG_FATAL, "profile %s: ECMs too long for the output buffer", d.eng.profile->name);
		goto out;
	}
	/* Bound first: a port in use (the usual mistake) creates no file. */
	if (ecmgd_listen(&d) < 0)
		goto out;
	if (ecmgd_stats_start(&d.stats, &d.conf, d.listen, KEEP_CLOSED_ROWS) < 0)
		goto out;
	d.ev_term = evsignal_new(d.base, SIGTERM, signal_cb, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, signal_cb, &d);
	d.ev_hup = evsignal_new(d.base, SIGHUP, signal_cb, &d);
	d.ev_tick = event_new(d.base, -1, EV_PERSIST, tick_cb, &d);
	struct timeval one = { 1, 0 };
	if (d.ev_term == NULL || d.ev_int == NULL || d.ev_hup == NULL || d.ev_tick == NULL ||
	    event_add(d.ev_term, NULL) < 0 || event_add(d.ev_int, NULL) < 0 ||
	    event_add(d.ev_hup, NULL) < 0 || event_add(d.ev_tick, &one) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to set up signals and timers");
		goto out;
	}
	cas_log(CAS_LOG_INFO, "listening on %s (profile %s, Super_CAS_id 0x%08X, %s)", d.listen,
		d.eng.profile->name, d.eng.p.super_cas_id,
		d.eng.p.section_tspkt_flag ? "TS packets" : "sections");
	cas_cli_ready(&cli);
	if (event_base_dispatch(d.base) < 0) {
		cas_log(CAS_LOG_FATAL, "event loop failed");
		goto out;
	}
	d.exit_code = CAS_EXIT_OK;
out:
	ecmgd_close_all(&d);
	if (d.stats != NULL) {
		size_t n = 0;
		struct ecmgd_row *rows = ecmgd_rows(&d, &n, 1);
		ecmgd_stats_stop(d.stats, rows, n);
	}
	if (d.exit_code == CAS_EXIT_OK)
		cas_log(CAS_LOG_INFO, "stopped");
	if (d.lst != NULL)
		evconnlistener_free(d.lst);
	struct event *evs[] = { d.ev_accept_again, d.ev_term, d.ev_int, d.ev_hup, d.ev_tick };
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (d.base != NULL)
		event_base_free(d.base);
	free_key(d.eng.profile, d.eng.key);
	free(d.closed_rows);
	free(d.framer);
	free(d.obuf);
	free(d.rbuf);
	cas_conf_free(&d.conf);
	free(conf_path);
	return d.exit_code;
}
