/*
 * cardemu: a software FreeCAS / TVCAS 3 smartcard (doc/cardemu.1).
 *
 * The card is libcas's card logic (card.h); this program gives it a body: a
 * personalisation file or a blank chip, a state file that survives
 * restarts, and a transport - a pseudo-terminal speaking byte-level T=0 as a
 * Phoenix reader would see it, or the vsmartcard vpcd socket that pcscd
 * turns into a PC/SC reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cardemu.h"
#include "cli.h"
#include "hex.h"
#include "log.h"

static const char usage[] =
	"usage: cardemu [--state FILE] --pty PATH CARD.bin\n"
	"       cardemu [--state FILE] --vpcd [HOST:]PORT CARD.bin\n"
	"       cardemu --blank [--state FILE] (--pty PATH | --vpcd [HOST:]PORT)\n"
	"\n"
	"cardemu is a software FreeCAS / TVCAS 3 smartcard (Conax-style T=0 card,\n"
	"ATR 3B 24 00 30 42 30 30) built on the libcas card logic.\n"
	"\n"
	"  CARD.bin            the card's 90-byte personalisation file (TVCAS 3 BIN)\n"
	"  --state FILE        persistent card state (created 0600, replaced atomically);\n"
	"                      if it exists it is the card, CARD.bin only checks its serial\n"
	"  --pty PATH          create a pseudo-terminal and a symlink PATH to it; speaks\n"
	"                      T=0 with the echo of a Phoenix reader; the host's line\n"
	"                      flush is the reset (see cardemu(1))\n"
	"  --vpcd [HOST:]PORT  connect to vsmartcard vpcd (default 127.0.0.1:35963)\n"
	"  --blank             an unpersonalised card, to be written by casprog\n"
	"  --deny tvcas|9012   ECM refusal: 98 04 then 31 02 00 00 (default, as TVCAS 3\n"
	"                      cards), or 90 12 at once\n"
	"  --channels N        anti-sharing: channels at a time (default 2)\n"
	"  --block-seconds N   anti-sharing: length of a block (default 86400)\n"
	"  -v, --verbose       also log every command and status word\n"
	"  -h, --help          this help;  -V, --version  version\n"
	"\n"
	"Exit codes: 0 stopped by SIGTERM/SIGINT, 1 invalid card or state file,\n"
	"100 usage, 111 system error.\n";

int64_t emu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void emu_signals(struct emu *e)
{
	struct signalfd_siginfo si;
	while (read(e->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			cas_log(CAS_LOG_INFO, "stopping on signal %u", si.ssi_signo);
			e->stop = 1;
		}
	}
}

int emu_save(struct emu *e)
{
	uint8_t img[CAS_CARD_IMAGE_LEN];
	char tmp[4200];
	int fd = -1, rc = -1;
	if (e->state_path == NULL) {
		cas_card_clear_dirty(&e->card);
		return 0;
	}
	if (cas_card_save(&e->card, img, sizeof img) != sizeof img) {
		cas_log(CAS_LOG_ERROR, "unable to encode the card state");
		return -1;
	}
	if (snprintf(tmp, sizeof tmp, "%s.tmp", e->state_path) >= (int)sizeof tmp) {
		cas_log(CAS_LOG_ERROR, "state file name too long");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		cas_log(CAS_LOG_ERROR, "unable to create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, img, sizeof img) != (ssize_t)sizeof img || fsync(fd) < 0) {
		cas_log(CAS_LOG_ERROR, "unable to write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		cas_log(CAS_LOG_ERROR, "unable to write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	/* the rename is the commit: a crash leaves the old or the new state */
	if (rename(tmp, e->state_path) < 0) {
		cas_log(CAS_LOG_ERROR, "unable to replace %s: %s", e->state_path, strerror(errno));
		goto out;
	}
	cas_card_clear_dirty(&e->card);
	cas_log(CAS_LOG_DEBUG, "state saved to %s", e->state_path);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	memset(img, 0, sizeof img);
	return rc;
}

void emu_log_reset(struct emu *e, const char *why)
{
	const struct cas_card_persist *p = &e->card.p;
	if (p->life == CAS_CARD_BLANK)
		cas_log(CAS_LOG_INFO, "%s: ATR sent (blank card)", why);
	else
		cas_log(CAS_LOG_INFO, "%s: ATR sent (card %u%s%s)", why, cas_card_serial(&e->card),
			p->life == CAS_CARD_OPEN ? ", not locked" : "",
			p->blocked ? ", blocked" : "");
}

void emu_after_command(struct emu *e)
{
	struct cas_card_chip *c = &e->card;
	const struct cas_card_report *r = &c->last;
	const char *name = cas_card_event_name(r->ev);
	char hid[8];

	switch (r->ev) {
	case CAS_CARD_EV_NONE:
		break;
	case CAS_CARD_EV_ECM_OK:
	case CAS_CARD_EV_ECM_CHECKSUM:
	case CAS_CARD_EV_ECM_NOT_STARTED:
	case CAS_CARD_EV_ECM_EXPIRED:
	case CAS_CARD_EV_ECM_NO_PACKAGE:
	case CAS_CARD_EV_ECM_NO_HOST:
	case CAS_CARD_EV_ECM_OTHER_HOST:
	case CAS_CARD_EV_ECM_BLOCKED:
	case CAS_CARD_EV_ECM_BLOCK_START:
		cas_log(CAS_LOG_INFO, "ecm table %02X time %u: %s", r->table, r->time, name);
		break;
	case CAS_CARD_EV_ECM_FORMAT:
		cas_log(CAS_LOG_INFO, "%s", name);
		break;
	case CAS_CARD_EV_EMM_APPLIED:
		cas_log(CAS_LOG_INFO, "emm applied: access %08X, start %u, finish %u, pair %u, protect %u",
			c->p.ac, c->p.start, c->p.finish, c->p.pair, c->p.protect);
		break;
	case CAS_CARD_EV_EMM_UNCHANGED:
	case CAS_CARD_EV_EMM_OTHER_CARD:
	case CAS_CARD_EV_EMM_CORRUPT:
		cas_log(CAS_LOG_INFO, "%s (address %u)", name, r->serial);
		break;
	case CAS_CARD_EV_ADDR:
		cas_hex_encode(c->host_id, 3, hid);
		cas_log(CAS_LOG_INFO, "host %s: addresses sent", c->host_known ? hid : "(no id)");
		break;
	case CAS_CARD_EV_PERSONALISED:
		cas_log(CAS_LOG_INFO, "personalised: card %u", cas_card_serial(c));
		break;
	case CAS_CARD_EV_INFO:
	case CAS_CARD_EV_SUBS:
	case CAS_CARD_EV_READ:
	case CAS_CARD_EV_STATUS:
	case CAS_CARD_EV_PERSO_WRITE:
	case CAS_CARD_EV_PERSO_READ:
	case CAS_CARD_EV_OTHER:
		cas_log(CAS_LOG_DEBUG, "INS %02X: %s, SW %04X", r->ins, name, r->sw);
		break;
	default:
		cas_log(CAS_LOG_INFO, "INS %02X: %s, SW %04X", r->ins, name, r->sw);
		break;
	}
	if (r->block_started)
		cas_log(CAS_LOG_WARN, "card blocked for %u s from ECM time %u: more than %u channels at a time",
			c->opt.block_seconds, c->p.block_time, c->opt.max_channels);
	if (r->block_ended)
		cas_log(CAS_LOG_INFO, "block lifted at ECM time %u", c->p.clock);
	memset(&c->last, 0, sizeof c->last);
	if (cas_card_dirty(c))
		emu_save(e);
}

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	*len = fread(buf, 1, cap, f);
	int err = ferror(f);
	fclose(f);
	return err ? -1 : 0;
}

static int parse_hostport(const char *arg, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon = strrchr(arg, ':');
	const char *h = "127.0.0.1", *p = arg;
	size_t hl = strlen(h);
	if (colon != NULL) {
		h = arg;
		hl = (size_t)(colon - arg);
		p = colon + 1;
	}
	if (hl == 0 || hl >= hcap || *p == '\0' || strlen(p) >= pcap)
		return -1;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return -1;
	long v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, pcap, "%s", p);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/* Sets up the card from the state file and/or CARD.bin. */
static int load_card(struct emu *e, const char *bin_path, int blank)
{
	uint8_t buf[CAS_CARD_IMAGE_LEN + 1];
	uint8_t bin[CAS_CARD_BIN_LEN];
	size_t len;
	int have_bin = 0;

	if (bin_path != NULL) {
		if (read_file(bin_path, buf, sizeof buf, &len) < 0) {
			cas_log(CAS_LOG_FATAL, "unable to read %s: %s", bin_path, strerror(errno));
			return CAS_EXIT_SYSTEM;
		}
		if (len != CAS_CARD_BIN_LEN) {
			cas_log(CAS_LOG_FATAL, "%s: %zu bytes, a personalisation file has %d",
				bin_path, len, CAS_CARD_BIN_LEN);
			return CAS_EXIT_CONFIG;
		}
		memcpy(bin, buf, sizeof bin);
		have_bin = 1;
	}
	struct cas_card_options opt = e->card.opt;
	if (e->state_path != NULL && read_file(e->state_path, buf, sizeof buf, &len) == 0) {
		cas_card_init_blank(&e->card);
		if (cas_card_load(&e->card, buf, len) < 0) {
			/* never overwrite what we cannot read */
			cas_log(CAS_LOG_FATAL, "%s: not a valid card state file", e->state_path);
			return CAS_EXIT_CONFIG;
		}
		e->card.opt = opt;
		uint32_t serial = cas_card_serial(&e->card);
		if (have_bin && cas_card_life(&e->card) != CAS_CARD_BLANK &&
		    serial != cas_be32(bin)) {
			cas_log(CAS_LOG_FATAL, "%s holds card %u, %s is card %u", e->state_path,
				serial, bin_path, cas_be32(bin));
			return CAS_EXIT_CONFIG;
		}
		if (cas_card_life(&e->card) == CAS_CARD_BLANK)
			cas_log(CAS_LOG_INFO, "card state from %s: blank card", e->state_path);
		else
			cas_log(CAS_LOG_INFO, "card state from %s: card %u", e->state_path, serial);
		return 0;
	} else if (e->state_path != NULL && errno != ENOENT) {
		cas_log(CAS_LOG_FATAL, "unable to read %s: %s", e->state_path, strerror(errno));
		return CAS_EXIT_SYSTEM;
	}
	if (blank) {
		cas_card_init_blank(&e->card);
		cas_log(CAS_LOG_INFO, "blank card");
	} else if (cas_card_init_bin(&e->card, bin) < 0) {
		cas_log(CAS_LOG_FATAL, "%s: invalid personalisation (serial top byte 0)", bin_path);
		return CAS_EXIT_CONFIG;
	} else {
		cas_log(CAS_LOG_INFO, "card %u from %s", cas_card_serial(&e->card), bin_path);
	}
	e->card.opt = opt;
	if (e->state_path == NULL)
		cas_log(CAS_LOG_WARN, "no --state: the card forgets everything at exit");
	else if (emu_save(e) < 0)
		return CAS_EXIT_SYSTEM;
	return 0;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static struct emu e;	/* the card struct is large; not on the stack */
	enum { O_STATE = 1, O_PTY, O_VPCD, O_BLANK, O_DENY, O_CHANNELS, O_BLOCK };
	static const struct option opts[] = {
		{ "state", required_argument, NULL, O_STATE },
		{ "pty", required_argument, NULL, O_PTY },
		{ "vpcd", required_argument, NULL, O_VPCD },
		{ "blank", no_argument, NULL, O_BLANK },
		{ "deny", required_argument, NULL, O_DENY },
		{ "channels", required_argument, NULL, O_CHANNELS },
		{ "block-seconds", required_argument, NULL, O_BLOCK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pty = NULL, *vpcd = NULL;
	int blank = 0, verbose = 0, c;
	unsigned long v;

	cas_log_start("cardemu", CAS_LOG_INFO, 0);
	cas_card_init_blank(&e.card);
	e.sigfd = -1;
	while ((c = getopt_long(argc, argv, "vhV", opts, NULL)) != -1) {
		switch (c) {
		case O_STATE:
			e.state_path = optarg;
			break;
		case O_PTY:
			pty = optarg;
			break;
		case O_VPCD:
			vpcd = optarg;
			break;
		case O_BLANK:
			blank = 1;
			break;
		case O_DENY:
			if (strcmp(optarg, "tvcas") == 0)
				e.card.opt.deny = CAS_CARD_DENY_TVCAS;
			else if (strcmp(optarg, "9012") == 0)
				e.card.opt.deny = CAS_CARD_DENY_9012;
			else
				goto bad_usage_arg;
			break;
		case O_CHANNELS:
			if (parse_uint(optarg, 8, &v) < 0 || v == 0)
				goto bad_usage_arg;
			e.card.opt.max_channels = (uint8_t)v;
			break;
		case O_BLOCK:
			if (parse_uint(optarg, UINT32_MAX, &v) < 0)
				goto bad_usage_arg;
			e.card.opt.block_seconds = (uint32_t)v;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return CAS_EXIT_OK;
		case 'V':
			printf("cardemu %s\n", CAS_VERSION);
			return CAS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			return CAS_EXIT_USAGE;
		}
	}
	if ((pty == NULL) == (vpcd == NULL)) {
		cas_log(CAS_LOG_FATAL, "usage: give exactly one of --pty PATH and --vpcd [HOST:]PORT (see cardemu --help)");
		return CAS_EXIT_USAGE;
	}
	const char *bin_path = optind < argc ? argv[optind] : NULL;
	if (optind + 1 < argc) {
		cas_log(CAS_LOG_FATAL, "usage: unexpected argument '%s' (see cardemu --help)", argv[optind + 1]);
		return CAS_EXIT_USAGE;
	}
	if (blank && bin_path != NULL) {
		cas_log(CAS_LOG_FATAL, "usage: --blank takes no CARD.bin (see cardemu --help)");
		return CAS_EXIT_USAGE;
	}
	if (!blank && bin_path == NULL) {
		cas_log(CAS_LOG_FATAL, "usage: CARD.bin missing (or --blank; see cardemu --help)");
		return CAS_EXIT_USAGE;
	}
	char host[256] = "127.0.0.1", port[8] = "35963";
	if (vpcd != NULL && parse_hostport(vpcd, host, sizeof host, port, sizeof port) < 0) {
		cas_log(CAS_LOG_FATAL, "usage: --vpcd wants [HOST:]PORT, not '%s'", vpcd);
		return CAS_EXIT_USAGE;
	}
	if (verbose)
		cas_log_set_level(CAS_LOG_DEBUG);

	int rc = load_card(&e, bin_path, blank);
	if (rc != 0)
		return rc;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	e.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (e.sigfd < 0) {
		cas_log(CAS_LOG_FATAL, "unable to watch signals: %s", strerror(errno));
		return CAS_EXIT_SYSTEM;
	}

	rc = pty != NULL ? emu_run_pty(&e, pty) : emu_run_vpcd(&e, host, port);
	/* the anti-sharing tracker and clock ride along with the last write */
	if (e.state_path != NULL && emu_save(&e) < 0 && rc == CAS_EXIT_OK)
		rc = CAS_EXIT_SYSTEM;
	cas_card_chip_wipe(&e.card);
	close(e.sigfd);
	return rc;

bad_usage_arg:
	cas_log(CAS_LOG_FATAL, "usage: bad value '%s' for --%s (see cardemu --help)", optarg,
		opts[c - 1].name);
	return CAS_EXIT_USAGE;
}
