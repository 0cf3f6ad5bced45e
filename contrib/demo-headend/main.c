/*
 * demo-headend: the scrambler and multiplexer of `make demo`.
 *
 * It plays the two head-end boxes FreeCAS talks to: a SimulCrypt SCS that
 * connects to ecmgd and asks for one ECM per crypto-period, and a
 * multiplexer whose EMMG<=>MUX port emmgd connects to.  It generates a
 * transport stream in real time, scrambles its elementary stream with
 * DVB-CSA (libdvbcsa) under fresh random control words, inserts the ECMs
 * and EMMs, and writes the scrambled stream and, packet for packet, the
 * clear one, so receivers can check their descrambling byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "hex.h"
#include "headend.h"
#include "log.h"
#include "rand.h"
#include "simulcrypt.h"

static const char usage[] =
	"usage: demo-headend --out FILE --clear FILE [options]\n"
	"\n"
	"A scrambler (SimulCrypt SCS, client of ecmgd) and a multiplexer (EMMG<=>MUX\n"
	"server for emmgd) in one program.  It generates an MPEG transport stream in\n"
	"real time, scrambles its elementary stream with DVB-CSA under a new random\n"
	"control word every crypto-period, puts the ECMs from the ECMG and the EMMs\n"
	"from the EMMG on their PIDs, and writes the scrambled stream and the clear\n"
	"stream packet for packet.\n"
	"\n"
	"  --out FILE          scrambled transport stream (created, appended in real time)\n"
	"  --clear FILE        the same stream before scrambling\n"
	"  --ecmg HOST:PORT    ECMG to connect to (default 127.0.0.1:2222)\n"
	"  --mux HOST:PORT     EMMG<=>MUX port to listen on (default 127.0.0.1:3333)\n"
	"  --super-cas-id N    Super_CAS_id (default 0x0B000000)\n"
	"  --ac HEX            access_criteria, 8 hex digits (default 00000001)\n"
	"  --cp MS             crypto-period in ms, a multiple of 100 (default 2000)\n"
	"  --bitrate KBIT      multiplex bitrate in kbit/s (default 1504)\n"
	"  --max-bw KBIT       most EMM bandwidth allocated to an EMMG (default 1000)\n"
	"  --seconds N         stop after N seconds of stream (default: at SIGTERM)\n"
	"  --status FILE       live figures, key=value, replaced 4 times a second\n"
	"  --done FILE         created once the stream has ended\n"
	"  --seed N            payload generator seed (default: random)\n"
	"  -v, --verbose       log every ECM\n"
	"  -h, --help          this help;  -V, --version  version\n"
	"\n"
	"Exit codes: 0 done, 100 usage, 111 system or protocol error.\n";

int main(int argc, char **argv);

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int headend_new_cp(struct headend *h, uint32_t cp)
{
	struct tsgen *t = &h->ts;
	tsgen_new_cw(t->cw[(cp + 2) & 3]);
	return scs_cw_provision(h, cp + 1, t->cw[(cp + 1) & 3], t->cw[(cp + 2) & 3],
				(uint16_t)(t->cp_ms / 100));
}

static void write_status(struct headend *h)
{
	if (h->status_path == NULL)
		return;
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", h->status_path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	const struct tsgen *t = &h->ts;
	const struct scs *s = &h->scs;
	const struct mux *m = &h->mux;
	fprintf(f, "state=%s\n", h->state);
	fprintf(f, "cp=%u\ncp_ms=%u\n", t->cp, t->cp_ms);
	fprintf(f, "stream_ms=%llu\n", (unsigned long long)(t->pkt * 1000 / t->pps));
	fprintf(f, "packets=%llu\nes_packets=%llu\n", (unsigned long long)t->pkt,
		(unsigned long long)t->es_packets);
	fprintf(f, "cw_provisions=%llu\necm_responses=%llu\necm_errors=%llu\n",
		(unsigned long long)s->cw_provisions, (unsigned long long)s->ecm_responses,
		(unsigned long long)s->errors);
	fprintf(f, "ecm_comp_ms_max=%lld\necm_packets=%llu\necm_late=%llu\n",
		(long long)s->comp_ms_max, (unsigned long long)t->ecm_packets,
		(unsigned long long)t->stalls);
	fprintf(f, "emmg_streams=%u\nemmg_connections=%llu\n", mux_clients(m),
		(unsigned long long)m->connections);
	fprintf(f, "data_provisions=%llu\nemm_datagrams=%llu\nemm_packets=%llu\nemm_queued=%u\n"
		"emm_dropped=%llu\nmux_errors=%llu\n",
		(unsigned long long)m->data_provisions, (unsigned long long)m->sections,
		(unsigned long long)t->emm_packets, t->emm_n, (unsigned long long)t->emm_dropped,
		(unsigned long long)m->errors);
	fprintf(f, "emm_kbit=%u\n", m->last_bw);
	if (fclose(f) == 0)
		rename(tmp, h->status_path);
	else
		unlink(tmp);
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int open_out(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		cas_log(CAS_LOG_FATAL, "unable to create %s: %s", path, strerror(errno));
	return fd;
}

static int signals_fd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void on_signal(struct headend *h)
{
	struct signalfd_siginfo si;
	while (read(h->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		cas_log(CAS_LOG_INFO, "stopping on signal %u", si.ssi_signo);
		h->stop = 1;
	}
}

/* Waits for ECM(cp) before the stream starts. */
static int wait_ecm(struct headend *h, uint32_t cp)
{
	int64_t until = mono_ms() + 5000;
	while (scs_ecm(&h->scs, cp) == NULL) {
		int64_t left = until - mono_ms();
		if (left <= 0 || h->stop) {
			cas_log(CAS_LOG_FATAL, "no ECM for CP %u from the ECMG", cp);
			return -1;
		}
		int r = link_wait(&h->scs.l, (int)left);
		if (r < 0 || (r > 0 && scs_input(h) < 0))
			return -1;
	}
	return 0;
}

/* The stream in real time until --seconds or a signal. */
static int run(struct headend *h)
{
	enum { BATCH = sizeof h->out / TS_LEN };
	uint8_t *out = h->out, *clear = h->clear;
	struct tsgen *t = &h->ts;
	int64_t t0 = mono_ms(), last_status = 0;
	uint64_t end = h->seconds > 0 ? (uint64_t)h->seconds * t->pps : UINT64_MAX;

	h->state = "running";
	while (!h->stop && t->pkt < end) {
		struct pollfd p[3 + MUX_CLIENTS];
		struct mux_client *pc[3 + MUX_CLIENTS];
		nfds_t n = 0;
		p[n++] = (struct pollfd){ h->sigfd, POLLIN, 0 };
		p[n++] = (struct pollfd){ h->scs.l.fd, POLLIN, 0 };
		p[n++] = (struct pollfd){ h->mux.lfd, POLLIN, 0 };
		for (unsigned i = 0; i < MUX_CLIENTS; i++)
			if (h->mux.c[i].used) {
				pc[n] = &h->mux.c[i];
				p[n++] = (struct pollfd){ h->mux.c[i].l.fd, POLLIN, 0 };
			}
		if (poll(p, n, 5) < 0 && errno != EINTR) {
			cas_log(CAS_LOG_FATAL, "poll: %s", strerror(errno));
			return -1;
		}
		if (p[0].revents)
			on_signal(h);
		if (p[1].revents && scs_input(h) < 0)
			return -1;
		if (p[2].revents)
			mux_accept(h);
		for (nfds_t i = 3; i < n; i++)
			if (p[i].revents && pc[i]->used)
				mux_input(h, pc[i]);

		int64_t now = mono_ms();
		uint64_t due = (uint64_t)(now - t0) * t->pps / 1000;
		if (due > end)
			due = end;
		while (t->pkt < due && !h->stop) {
			size_t k = 0;
			int stalled = 0;
			while (k < BATCH && t->pkt < due) {
				if (!tsgen_packet(h, out + k * TS_LEN, clear + k * TS_LEN)) {
					stalled = 1;
					break;
				}
				k++;
			}
			if (write_all(h->out_fd, out, k * TS_LEN) < 0 ||
			    write_all(h->clear_fd, clear, k * TS_LEN) < 0) {
				cas_log(CAS_LOG_FATAL, "unable to write the stream: %s", strerror(errno));
				return -1;
			}
			if (stalled) {
				/* the clock restarts where the stream stopped, so no
				 * burst follows a late ECM */
				t0 = now - (int64_t)(t->pkt * 1000 / t->pps);
				break;
			}
		}
		if (now - last_status >= 250) {
			write_status(h);
			last_status = now;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct headend h;	/* large (output buffers): not on the stack */
	enum { O_OUT = 1, O_CLEAR, O_ECMG, O_MUX, O_SCID, O_AC, O_CP, O_BITRATE, O_MAXBW,
	       O_SECONDS, O_STATUS, O_DONE, O_SEED };
	static const struct option opts[] = {
		{ "out", required_argument, NULL, O_OUT },
		{ "clear", required_argument, NULL, O_CLEAR },
		{ "ecmg", required_argument, NULL, O_ECMG },
		{ "mux", required_argument, NULL, O_MUX },
		{ "super-cas-id", required_argument, NULL, O_SCID },
		{ "ac", required_argument, NULL, O_AC },
		{ "cp", required_argument, NULL, O_CP },
		{ "bitrate", required_argument, NULL, O_BITRATE },
		{ "max-bw", required_argument, NULL, O_MAXBW },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "status", required_argument, NULL, O_STATUS },
		{ "done", required_argument, NULL, O_DONE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ecmg = "127.0.0.1:2222", *mux = "127.0.0.1:3333";
	unsigned long long v, cp_ms = 2000, kbit = 1504, seed = 0;
	int c, rc = CAS_EXIT_SYSTEM;

	cas_log_start("demo-headend", CAS_LOG_INFO, 0);
	h.super_cas_id = 0x0B000000;
	h.ac[3] = 1;
	h.mux.max_bw = 1000;
	h.out_fd = h.clear_fd = h.sigfd = -1;
	h.mux.lfd = -1;
	h.scs.l.fd = -1;
	h.state = "starting";
	while ((c = getopt_long(argc, argv, "vhV", opts, NULL)) != -1) {
		switch (c) {
		case O_OUT:
			h.out_path = optarg;
			break;
		case O_CLEAR:
			h.clear_path = optarg;
			break;
		case O_ECMG:
			ecmg = optarg;
			break;
		case O_MUX:
			mux = optarg;
			break;
		case O_SCID:
			if (parse_num(optarg, UINT32_MAX, &v) < 0)
				goto bad;
			h.super_cas_id = (uint32_t)v;
			break;
		case O_AC:
			if (cas_hex_decode(optarg, strlen(optarg), h.ac, sizeof h.ac) < 0)
				goto bad;
			break;
		case O_CP:
			if (parse_num(optarg, 6000000, &cp_ms) < 0 || cp_ms < 100 || cp_ms % 100)
				goto bad;
			break;
		case O_BITRATE:
			if (parse_num(optarg, 100000, &kbit) < 0 || kbit < 100)
				goto bad;
			break;
		case O_MAXBW:
			if (parse_num(optarg, 65535, &v) < 0)
				goto bad;
			h.mux.max_bw = (uint16_t)v;
			break;
		case O_SECONDS:
			if (parse_num(optarg, 86400, &v) < 0)
				goto bad;
			h.seconds = (int)v;
			break;
		case O_STATUS:
			h.status_path = optarg;
			break;
		case O_DONE:
			h.done_path = optarg;
			break;
		case O_SEED:
			if (parse_num(optarg, UINT64_MAX, &seed) < 0)
				goto bad;
			break;
		case 'v':
			cas_log_set_level(CAS_LOG_DEBUG);
			break;
		case 'h':
			fputs(usage, stdout);
			return CAS_EXIT_OK;
		case 'V':
			printf("demo-headend %s\n", CAS_VERSION);
			return CAS_EXIT_OK;
		default:
			fputs(usage, stderr);
			return CAS_EXIT_USAGE;
		}
	}
	if (h.out_path == NULL || h.clear_path == NULL || optind != argc) {
		cas_log(CAS_LOG_FATAL, "usage: --out FILE and --clear FILE are needed (see demo-headend --help)");
		return CAS_EXIT_USAGE;
	}
	if (cas_rand_init() < 0) {
		cas_log(CAS_LOG_FATAL, "libsodium cannot be initialised");
		return CAS_EXIT_SYSTEM;
	}
	if (seed == 0)
		cas_rand_bytes(&seed, sizeof seed);
	if (tsgen_init(&h.ts, (unsigned)(kbit * 1000 / (8 * TS_LEN)), (uint32_t)cp_ms, seed) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to set up the stream (bitrate too low?)");
		goto out;
	}
	if ((h.sigfd = signals_fd()) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to watch signals: %s", strerror(errno));
		goto out;
	}
	if ((h.out_fd = open_out(h.out_path)) < 0 || (h.clear_fd = open_out(h.clear_path)) < 0)
		goto out;
	if (mux_listen(&h, mux) < 0)
		goto out;
	h.scs.version = CAS_SC_VERSION_2;
	h.scs.channel_id = 1;
	h.scs.stream_id = 1;
	h.scs.ecm_id = 1;
	h.scs.super_cas_id = h.super_cas_id;
	write_status(&h);
	if (scs_connect(&h, ecmg, 10000) < 0 || scs_setup(&h, (uint16_t)(cp_ms / 100)) < 0)
		goto out;
	/* CP 0 on the even key with CW(0); the ECMs of CP 0 and 1 before the
	 * first packet */
	tsgen_new_cw(h.ts.cw[0]);
	tsgen_new_cw(h.ts.cw[1]);
	dvbcsa_key_set(h.ts.cw[0], h.ts.key[0]);
	if (scs_cw_provision(&h, 0, h.ts.cw[0], h.ts.cw[1], (uint16_t)(cp_ms / 100)) < 0 ||
	    headend_new_cp(&h, 0) < 0 || wait_ecm(&h, 0) < 0)
		goto out;
	cas_log(CAS_LOG_INFO, "stream of %u packets/s, crypto-period %llu ms: PIDs PMT 0x%04X, "
		"ES 0x%04X, ECM 0x%04X, EMM 0x%04X", h.ts.pps, cp_ms, h.ts.pmt_pid, h.ts.es_pid,
		h.ts.ecm_pid, h.ts.emm_pid);
	if (run(&h) < 0)
		goto out;
	cas_log(CAS_LOG_INFO, "stream ended after %u crypto-periods: %llu ECMs, %llu EMM datagrams",
		h.ts.cp + 1, (unsigned long long)h.scs.ecm_responses, (unsigned long long)h.mux.sections);
	rc = CAS_EXIT_OK;
out:
	scs_shutdown(&h);
	mux_close_all(&h);
	h.state = rc == CAS_EXIT_OK ? "stopped" : "failed";
	write_status(&h);
	if (h.out_fd >= 0)
		close(h.out_fd);
	if (h.clear_fd >= 0)
		close(h.clear_fd);
	if (h.done_path != NULL) {
		int fd = open(h.done_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	tsgen_free(&h.ts);
	if (h.sigfd >= 0)
		close(h.sigfd);
	return rc;
bad:
	cas_log(CAS_LOG_FATAL, "usage: bad value '%s' for --%s (see demo-headend --help)", optarg,
		opts[c - 1].name);
	return CAS_EXIT_USAGE;
}
