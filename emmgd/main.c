/* emmgd: the SimulCrypt EMM generator (EMMG<=>MUX client, paced EMM carousel). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "emmgd.h"
#include "log.h"
#include "rand.h"

static const char usage[] =
	"usage: emmgd [-n] [-f FILE] [-r FD]\n"
	"\n"
	"emmgd is the SimulCrypt EMM generator: it connects to the multiplexers of\n"
	"emmg.mux (EMMG<=>MUX, ETSI TS 103 197) and keeps every card's rights on air\n"
	"as EMMs, paced to the allocated bandwidth, changed cards first.\n"
	"\n"
	"  -f FILE   configuration file (default: $CAS_CONF, else ./cas.conf,\n"
	"            else /etc/freecas/cas.conf)\n"
	"  -n        check the configuration, print it (secrets masked), exit\n"
	"  -r FD     write a newline to FD once the first stream is set up\n"
	"  -h        this help;  -V  version\n"
	"\n"
	"Signals: SIGTERM/SIGINT close the streams cleanly and exit; SIGHUP reads the\n"
	"configuration again and reloads the cards from the database.\n"
	"\n"
	"Exit codes: 0 ok, 1 invalid configuration, 100 usage, 111 system error.\n";

int main(int argc, char **argv);

int64_t emmgd_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t emmgd_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- settings ---- */

static int key_line(const struct cas_conf *c, const char *name)
{
	for (unsigned i = 0; i < cas_conf_key_count; i++)
		if (strcmp(cas_conf_keys[i].name, name) == 0)
			return c->values[i].line;
	return 0;
}

/* "file:line: key: reason", as the configuration parser words its errors. */
static void set_err(const struct cas_conf *c, const char *key, char *err, size_t n,
		    const char *reason)
{
	int line = key_line(c, key);
	if (c->path != NULL && line > 0)
		snprintf(err, n, "%s:%d: %s: %s", c->path, line, key, reason);
	else
		snprintf(err, n, "%s: %s", key, reason);
}

/* Splits a comma-separated list into trimmed items (empty items kept).
 * Returns the count, or -1 if there are more than max. */
static int split_list(const char *s, char out[][EMMGD_ADDR_SIZE], int max)
{
	int n = 0;
	const char *p = s;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (n == max)
			return -1;
		if (len >= EMMGD_ADDR_SIZE)
			len = EMMGD_ADDR_SIZE - 1;
		memcpy(out[n], p, len);
		out[n][len] = '\0';
		n++;
		if (e == NULL)
			return n;
		p = e + 1;
	}
}

static int settings_from_conf(const struct cas_conf *c, struct emmgd_settings *s, char *err,
			      size_t errsize)
{
	char reason[600];
	char host[256];
	uint16_t port;
	memset(s, 0, sizeof *s);

	int n = split_list(cas_conf_str(c, "emmg.mux"), s->mux, EMMGD_MAX_MUX);
	if (n < 0) {
		snprintf(reason, sizeof reason, "at most %d multiplexers", EMMGD_MAX_MUX);
		set_err(c, "emmg.mux", err, errsize, reason);
		return -1;
	}
	s->n_mux = (unsigned)n;
	for (unsigned i = 0; i < s->n_mux; i++) {
		if (cas_hostport_parse(s->mux[i], host, sizeof host, &port) < 0 || port == 0 ||
		    s->mux[i][0] == ':') {
			snprintf(reason, sizeof reason, "'%s' is not host:port", s->mux[i]);
			set_err(c, "emmg.mux", err, errsize, reason);
			return -1;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(s->mux[i], s->mux[j]) == 0) {
				snprintf(reason, sizeof reason, "'%s' is listed twice", s->mux[i]);
				set_err(c, "emmg.mux", err, errsize, reason);
				return -1;
			}
	}
	s->version = (int)cas_conf_int(c, "emmg.protocol_version");
	if (cas_conf_is_set(c, "emmg.udp")) {
		char udp[EMMGD_MAX_MUX][EMMGD_ADDR_SIZE];
		int u = split_list(cas_conf_str(c, "emmg.udp"), udp, EMMGD_MAX_MUX);
		if (u != (int)s->n_mux) {
			snprintf(reason, sizeof reason, "%d entries for %u multiplexers "
				 "(one per emmg.mux entry, '-' for TCP)", u < 0 ? EMMGD_MAX_MUX + 1 : u,
				 s->n_mux);
			set_err(c, "emmg.udp", err, errsize, reason);
			return -1;
		}
		for (unsigned i = 0; i < s->n_mux; i++) {
			if (strcmp(udp[i], "-") == 0 || udp[i][0] == '\0')
				continue;
			if (cas_hostport_parse(udp[i], host, sizeof host, &port) < 0 || port == 0) {
				snprintf(reason, sizeof reason, "'%s' is not host:port or :port", udp[i]);
				set_err(c, "emmg.udp", err, errsize, reason);
				return -1;
			}
			if (s->version < 2) {
				set_err(c, "emmg.udp", err, errsize,
					"data over UDP needs emmg.protocol_version 2 or 3");
				return -1;
			}
			memcpy(s->udp[i], udp[i], sizeof udp[i]);
		}
	}
	s->client_id = (uint32_t)(cas_conf_is_set(c, "emmg.client_id")
				  ? cas_conf_int(c, "emmg.client_id") : cas_conf_int(c, "super_cas_id"));
	s->channel_id = (uint16_t)cas_conf_int(c, "emmg.data_channel_id");
	s->stream_id = (uint16_t)cas_conf_int(c, "emmg.data_stream_id");
	s->data_id = (uint16_t)cas_conf_int(c, "emmg.data_id");
	s->ts_mode = (int)cas_conf_int(c, "emmg.section_tspkt_flag");
	s->pacer_mode = strcmp(cas_conf_str(c, "emmg.section_cost"), "bytes") == 0
			? CAS_PACER_SECTION_BYTES : CAS_PACER_SECTION_PACKETS;
	s->udp_ids = cas_conf_bool(c, "emmg.udp_ids");
	s->max_bytes = (size_t)cas_conf_int(c, "emmg.max_bytes");
	s->bandwidth = (uint32_t)cas_conf_int(c, "emmg.bandwidth");
	s->timeout_s = (int)cas_conf_int(c, "emmg.timeout");
	s->channel_test_s = (int)cas_conf_int(c, "emmg.channel_test_interval");
	s->car.off_days = (int)cas_conf_int(c, "emmg.off_days");
	s->car.repeat = (int)cas_conf_int(c, "emmg.repeat");
	s->car.repeat_ms = cas_conf_int(c, "emmg.repeat_interval") * 1000;
	s->car.min_cycle_ms = cas_conf_int(c, "emmg.min_cycle") * 1000;
	s->car.filler = cas_conf_bool(c, "emmg.filler");
	snprintf(s->profile, sizeof s->profile, "%s", cas_conf_str(c, "profile"));
	if (s->ts_mode && s->max_bytes % 188 != 0) {
		set_err(c, "emmg.max_bytes", err, errsize,
			"must be a multiple of 188 with emmg.section_tspkt_flag = 1");
		return -1;
	}
	return 0;
}

/* ---- statistics ---- */

static void post_stats(struct emmgd *d, int force)
{
	struct emmgd_stats st[EMMGD_MAX_MUX];
	int changed = force;
	for (unsigned i = 0; i < d->set.n_mux; i++) {
		if (d->mux[i] == NULL)
			return;
		emmgd_mux_stats(d->mux[i], &st[i]);
		st[i].pid = (int64_t)getpid();
		st[i].started = d->started;
		if (memcmp(&st[i], &d->last[i], sizeof st[i]) != 0)
			changed = 1;
	}
	if (!changed)
		return;
	memcpy(d->last, st, d->set.n_mux * sizeof st[0]);
	emmgd_sync_stats(d->sync, st, d->set.n_mux);
}

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	post_stats(arg, 0);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd *d = arg;
	size_t n = cas_carousel_sweep(d->car, emmgd_real_ms());
	if (n > 0)
		cas_log(CAS_LOG_INFO, "%zu cards left the air (window and off_days over); %zu on air",
			n, cas_carousel_count(d->car));
}

/* ---- readiness, shutdown, reload ---- */

void emmgd_mux_running(struct emmgd *d)
{
	if (!d->ready) {
		d->ready = 1;
		cas_cli_ready(d->cli);
	}
}

void emmgd_mux_done(struct emmgd *d)
{
	if (!d->stopping)
		return;
	if (++d->muxes_done >= d->set.n_mux)
		event_base_loopexit(d->base, NULL);
}

static void stop_bound_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd *d = arg;
	cas_log(CAS_LOG_WARN, "shutdown took too long; exiting");
	event_base_loopexit(d->base, NULL);
}

static void stop(struct emmgd *d, int sig)
{
	if (d->stopping) {
		cas_log(CAS_LOG_WARN, "second signal: exiting now");
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = 1;
	cas_log(CAS_LOG_INFO, "stopping (%s): closing the streams", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* Bounded: every MUX gets emmg.timeout for its stream_close_response. */
	struct timeval tv = { d->set.timeout_s + 2, 0 };
	event_add(d->ev_stop_bound, &tv);
	d->muxes_done = 0;
	for (unsigned i = 0; i < d->set.n_mux; i++)
		emmgd_mux_shutdown(d->mux[i]);
}

static int same_connection(const struct emmgd_settings *a, const struct emmgd_settings *b)
{
	if (a->client_id != b->client_id || a->version != b->version ||
	    a->channel_id != b->channel_id || a->stream_id != b->stream_id ||
	    a->data_id != b->data_id || a->ts_mode != b->ts_mode || a->pacer_mode != b->pacer_mode ||
	    a->udp_ids != b->udp_ids || a->max_bytes != b->max_bytes || a->timeout_s != b->timeout_s ||
	    a->channel_test_s != b->channel_test_s)
		return 0;
	for (unsigned i = 0; i < a->n_mux; i++)
		if (strcmp(a->udp[i], b->udp[i]) != 0)
			return 0;
	return 1;
}

static void reload(struct emmgd *d)
{
	struct cas_conf nc;
	struct emmgd_settings ns;
	char err[700];
	if (cas_conf_load(&nc, d->conf.path) < 0) {
		cas_log(CAS_LOG_ERROR, "reload: %s; keeping the running configuration", nc.err);
		cas_conf_free(&nc);
		return;
	}
	if (settings_from_conf(&nc, &ns, err, sizeof err) < 0) {
		cas_log(CAS_LOG_ERROR, "reload: %s; keeping the running configuration", err);
		cas_conf_free(&nc);
		return;
	}
	int mux_same = ns.n_mux == d->set.n_mux;
	for (unsigned i = 0; mux_same && i < ns.n_mux; i++)
		mux_same = strcmp(ns.mux[i], d->set.mux[i]) == 0;
	if (!mux_same || strcmp(ns.profile, d->set.profile) != 0) {
		cas_log(CAS_LOG_WARN, "reload: emmg.mux and profile take effect when emmgd restarts; "
			"keeping %s", d->set.mux[0]);
		ns.n_mux = d->set.n_mux;
		memcpy(ns.mux, d->set.mux, sizeof ns.mux);
		memcpy(ns.udp, d->set.udp, sizeof ns.udp);
		memcpy(ns.profile, d->set.profile, sizeof ns.profile);
	}
	if (strcmp(cas_conf_str(&nc, "db"), cas_conf_str(&d->conf, "db")) != 0 ||
	    strcmp(cas_conf_str(&nc, "master_key"), cas_conf_str(&d->conf, "master_key")) != 0)
		cas_log(CAS_LOG_WARN, "reload: db and master_key take effect when emmgd restarts");
	if (ns.ts_mode && ns.max_bytes < 188 * ((d->emm_max_len + 1 + 183) / 184))
		ns.max_bytes = d->set.max_bytes;
	int conn = !same_connection(&ns, &d->set);
	int bw = ns.bandwidth != d->set.bandwidth;
	enum cas_log_level lvl;
	if (cas_log_level_parse(cas_conf_str(&nc, "log.level"), &lvl) == 0)
		cas_log_set_level(lvl);
	cas_conf_free(&d->conf);
	d->conf = nc;
	d->set = ns;
	cas_carousel_set_params(d->car, &d->set.car);
	cas_log(CAS_LOG_INFO, "reload: configuration %s read; reloading the cards%s", d->conf.path,
		conn ? "; setting the streams up again" : bw ? "; asking for the new bandwidth" : "");
	for (unsigned i = 0; i < d->set.n_mux; i++) {
		if (conn) {
			emmgd_mux_free(d->mux[i]);
			d->mux[i] = emmgd_mux_new(d, i);
			if (d->mux[i] == NULL) {
				cas_log(CAS_LOG_FATAL, "out of memory");
				event_base_loopexit(d->base, NULL);
				return;
			}
			emmgd_mux_start(d->mux[i]);
		} else if (bw) {
			emmgd_mux_bandwidth(d->mux[i]);
		}
	}
	emmgd_sync_reload(d->sync, d->set.car.off_days);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct emmgd *d = arg;
	if (sig == SIGHUP) {
		if (!d->stopping)
			reload(d);
		return;
	}
	stop(d, (int)sig);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct cas_cli cli = { .prog = "emmgd", .usage = usage };
	struct emmgd d;
	struct cas_db *db = NULL;
	struct event_config *cfg = NULL;
	char err[700];
	int code;
	int rc = CAS_EXIT_SYSTEM;

	memset(&d, 0, sizeof d);
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	if (cli.argi < argc) {
		cas_log_start(cli.prog, CAS_LOG_INFO, 0);
		cas_log(CAS_LOG_FATAL, "usage: unexpected argument '%s' (see emmgd --help)", argv[cli.argi]);
		return CAS_EXIT_USAGE;
	}
	if (cas_cli_start(&cli, &d.conf, &code) < 0)
		return code;
	d.cli = &cli;
	if (settings_from_conf(&d.conf, &d.set, err, sizeof err) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", err);
		cas_conf_free(&d.conf);
		return CAS_EXIT_CONFIG;
	}
	d.profile = emmgd_profile(d.set.profile, &d.emm_max_len);
	if (d.profile == NULL) {
		cas_log(CAS_LOG_FATAL, "unknown profile '%s'", d.set.profile);
		cas_conf_free(&d.conf);
		return CAS_EXIT_CONFIG;
	}
	size_t need = d.set.ts_mode ? 188 * ((d.emm_max_len + 1 + 183) / 184) : d.emm_max_len;
	if (d.set.max_bytes < need) {
		cas_log(CAS_LOG_FATAL, "emmg.max_bytes %zu is below one EMM (%zu bytes)", d.set.max_bytes, need);
		cas_conf_free(&d.conf);
		return CAS_EXIT_CONFIG;
	}
	if (cas_rand_init() < 0) {
		cas_log(CAS_LOG_FATAL, "unable to initialise libsodium");
		cas_conf_free(&d.conf);
		return CAS_EXIT_SYSTEM;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cas_db_start(&d.conf, &db) < 0) {
		cas_conf_free(&d.conf);
		return CAS_EXIT_SYSTEM;
	}
	d.started = emmgd_real_ms() / 1000;

	/* Precise timers: pacing works at millisecond intervals. */
	cfg = event_config_new();
	if (cfg != NULL)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	d.base = cfg ? event_base_new_with_config(cfg) : NULL;
	if (cfg)
		event_config_free(cfg);
	if (d.base == NULL) {
		cas_log(CAS_LOG_FATAL, "unable to create the event loop");
		goto out;
	}
	d.dns = evdns_base_new(d.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (d.dns == NULL)
		d.dns = evdns_base_new(d.base, 0);
	d.car = cas_carousel_new(d.profile, d.set.n_mux, &d.set.car);
	if (d.dns == NULL || d.car == NULL) {
		cas_log(CAS_LOG_FATAL, "out of memory");
		goto out;
	}
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, 0 };
	for (int i = 0; sigs[i] != 0; i++) {
		d.ev_sig[i] = evsignal_new(d.base, sigs[i], signal_cb, &d);
		if (d.ev_sig[i] == NULL || event_add(d.ev_sig[i], NULL) < 0) {
			cas_log(CAS_LOG_FATAL, "unable to handle signals");
			goto out;
		}
	}
	d.ev_stats = event_new(d.base, -1, EV_PERSIST, stats_cb, &d);
	d.ev_sweep = event_new(d.base, -1, EV_PERSIST, sweep_cb, &d);
	d.ev_stop_bound = event_new(d.base, -1, 0, stop_bound_cb, &d);
	if (d.ev_stats == NULL || d.ev_sweep == NULL || d.ev_stop_bound == NULL) {
		cas_log(CAS_LOG_FATAL, "out of memory");
		goto out;
	}
	struct timeval one = { 1, 0 }, ten = { 10, 0 };
	event_add(d.ev_stats, &one);	/* the generators table: at most once a second */
	event_add(d.ev_sweep, &ten);

	d.sync = emmgd_sync_start(&d, db);
	if (d.sync == NULL)
		goto out;
	db = NULL;	/* the database thread owns it now */

	for (unsigned i = 0; i < d.set.n_mux; i++) {
		d.mux[i] = emmgd_mux_new(&d, i);
		if (d.mux[i] == NULL) {
			cas_log(CAS_LOG_FATAL, "out of memory");
			goto out;
		}
	}
	cas_log(CAS_LOG_INFO, "starting: %u multiplexer%s, profile %s, %u kbit/s requested, "
		"protocol version %d, %s", d.set.n_mux, d.set.n_mux == 1 ? "" : "s", d.set.profile,
		d.set.bandwidth, d.set.version, d.set.ts_mode ? "TS packets" : "sections");
	for (unsigned i = 0; i < d.set.n_mux; i++)
		emmgd_mux_start(d.mux[i]);

	if (event_base_dispatch(d.base) < 0) {
		cas_log(CAS_LOG_FATAL, "event loop failed");
		goto out;
	}
	rc = CAS_EXIT_OK;
	cas_log(CAS_LOG_INFO, "stopped");

out:
	if (d.sync != NULL) {
		if (d.mux[0] != NULL)
			post_stats(&d, 1);
		emmgd_sync_stop(d.sync);
	}
	for (unsigned i = 0; i < EMMGD_MAX_MUX; i++)
		emmgd_mux_free(d.mux[i]);
	for (int i = 0; i < 4; i++)
		if (d.ev_sig[i])
			event_free(d.ev_sig[i]);
	if (d.ev_stats)
		event_free(d.ev_stats);
	if (d.ev_sweep)
		event_free(d.ev_sweep);
	if (d.ev_stop_bound)
		event_free(d.ev_stop_bound);
	cas_carousel_free(d.car);
	if (d.dns)
		evdns_base_free(d.dns, 0);
	if (d.base)
		event_base_free(d.base);
	cas_db_close(db);
	cas_conf_free(&d.conf);
	return rc;
}
