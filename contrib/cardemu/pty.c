/*
 * The pseudo-terminal transport: the card as a Phoenix/Smartmouse reader
 * shows it on its serial line (reference/conax-card.md §1.5, §6.3).
 *
 *   - Echo: the reader's single I/O line gives the host every byte it sends;
 *     cardemu writes each received byte back at once, before the card's
 *     answer.
 *   - Reset: a pty has no modem lines, so the host's RTS/DTR pulse is lost.
 *     The master runs in packet mode (TIOCPKT), where every tcflush() on
 *     the slave arrives as a status byte.  A flush (re)arms a 130 ms timer;
 *     when it expires the card is reset and sends its ATR (after OSCam's
 *     75 ms drain, well inside its 1 s ATR window).  The first flush after
 *     an ATR is ignored if no byte came from the host since and it comes
 *     within 3 s (OSCam flushes once right after reading the ATR); any
 *     other flush is a reset.  A byte from the host cancels a pending
 *     reset (it was a flush without a reset).
 *   - The line settings (9600 8E2) are the host's business: a pty ignores
 *     parity, and there is no baud-rate timing.
 */
/* posix_openpt, grantpt, unlockpt, ptsname (XSI) */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cardemu.h"
#include "cli.h"
#include "log.h"

#define RESET_DELAY_MS 130
#define POST_ATR_FLUSH_MS 3000

struct pty {
	int master, slave;
	const char *link;
	char link_tmp[4200];
	int64_t reset_at;		/* ms, 0 = no reset pending */
	int64_t atr_at;			/* ms of the last ATR */
	int quiet_since_atr;		/* no byte from the host since the ATR */
};

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pfd = { fd, POLLOUT, 0 };
			if (poll(&pfd, 1, 1000) <= 0)
				return -1;
			continue;
		}
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int open_pty(struct pty *t, const char *link)
{
	t->master = posix_openpt(O_RDWR | O_NOCTTY);
	if (t->master < 0 || grantpt(t->master) < 0 || unlockpt(t->master) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to create a pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	const char *name = ptsname(t->master);
	if (name == NULL) {
		cas_log(CAS_LOG_FATAL, "unable to name the pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	/* Holding the slave open keeps the master readable between host
	 * sessions (no EIO when the host closes it). */
	t->slave = open(name, O_RDWR | O_NOCTTY);
	if (t->slave < 0) {
		cas_log(CAS_LOG_FATAL, "unable to open %s: %s", name, strerror(errno));
		return -1;
	}
	struct termios tio;
	if (tcgetattr(t->slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(t->slave, TCSANOW, &tio);
	}
	int one = 1;
	if (ioctl(t->master, TIOCPKT, &one) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to put the pseudo-terminal in packet mode: %s", strerror(errno));
		return -1;
	}
	int fl = fcntl(t->master, F_GETFL);
	fcntl(t->master, F_SETFL, fl | O_NONBLOCK);
	/* the link is replaced atomically: a host never sees a missing PATH */
	snprintf(t->link_tmp, sizeof t->link_tmp, "%s.%ld.tmp", link, (long)getpid());
	unlink(t->link_tmp);
	if (symlink(name, t->link_tmp) < 0 || rename(t->link_tmp, link) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to link %s to %s: %s", link, name, strerror(errno));
		unlink(t->link_tmp);
		return -1;
	}
	t->link = link;
	cas_log(CAS_LOG_INFO, "card on %s (%s), waiting for a reset", link, name);
	return 0;
}

static void close_pty(struct pty *t)
{
	if (t->link != NULL) {
		/* remove the link only if it is still ours */
		char target[4200];
		ssize_t n = readlink(t->link, target, sizeof target - 1);
		const char *name = t->master >= 0 ? ptsname(t->master) : NULL;
		if (n > 0 && name != NULL) {
			target[n] = '\0';
			if (strcmp(target, name) == 0)
				unlink(t->link);
		}
	}
	if (t->slave >= 0)
		close(t->slave);
	if (t->master >= 0)
		close(t->master);
}

static int send_atr(struct emu *e, struct pty *t)
{
	uint8_t atr[CAS_CARD_ATR_LEN];
	size_t n = cas_card_t0_reset(&e->card, atr, sizeof atr);
	t->reset_at = 0;
	t->atr_at = emu_now_ms();
	t->quiet_since_atr = 1;
	emu_log_reset(e, "reset");
	return write_all(t->master, atr, n);
}

static void on_flush(struct pty *t)
{
	int64_t now = emu_now_ms();
	if (t->quiet_since_atr && t->atr_at != 0 && now - t->atr_at < POST_ATR_FLUSH_MS) {
		/* the host's flush right after reading the ATR */
		t->quiet_since_atr = 0;
		cas_log(CAS_LOG_DEBUG, "flush after the ATR: not a reset");
		return;
	}
	t->reset_at = now + RESET_DELAY_MS;
}

static int on_data(struct emu *e, struct pty *t, const uint8_t *p, size_t n)
{
	uint8_t out[CAS_CARD_T0_OUT_MAX];
	if (t->reset_at != 0) {
		cas_log(CAS_LOG_DEBUG, "data after a flush: not a reset");
		t->reset_at = 0;
	}
	t->quiet_since_atr = 0;
	/* the single I/O line: the host hears its own bytes first */
	if (write_all(t->master, p, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t o = cas_card_t0_rx(&e->card, p[i], out, sizeof out);
		if (o == 0)
			continue;
		int rc = write_all(t->master, out, o);
		memset(out, 0, o);	/* may have held CWs */
		if (rc < 0)
			return -1;
		if (cas_card_t0_idle(&e->card))
			emu_after_command(e);
	}
	return 0;
}

int emu_run_pty(struct emu *e, const char *link_path)
{
	struct pty t;
	memset(&t, 0, sizeof t);
	t.master = t.slave = -1;
	int rc = CAS_EXIT_SYSTEM;
	if (open_pty(&t, link_path) < 0)
		goto out;
	while (!e->stop) {
		struct pollfd pfd[2] = { { t.master, POLLIN, 0 }, { e->sigfd, POLLIN, 0 } };
		int timeout = -1;
		if (t.reset_at != 0) {
			int64_t left = t.reset_at - emu_now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		int r = poll(pfd, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cas_log(CAS_LOG_FATAL, "unable to wait for the host: %s", strerror(errno));
			goto out;
		}
		if (pfd[1].revents & POLLIN)
			emu_signals(e);
		if (t.reset_at != 0 && emu_now_ms() >= t.reset_at && send_atr(e, &t) < 0) {
			cas_log(CAS_LOG_FATAL, "unable to send the ATR: %s", strerror(errno));
			goto out;
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		uint8_t buf[1 + 4096];
		ssize_t n = read(t.master, buf, sizeof buf);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			cas_log(CAS_LOG_FATAL, "pseudo-terminal closed: %s", n < 0 ? strerror(errno) : "end of file");
			goto out;
		}
		if (buf[0] == TIOCPKT_DATA) {
			if (n > 1 && on_data(e, &t, buf + 1, (size_t)n - 1) < 0) {
				cas_log(CAS_LOG_FATAL, "unable to answer the host: %s", strerror(errno));
				goto out;
			}
		} else if (buf[0] & (TIOCPKT_FLUSHREAD | TIOCPKT_FLUSHWRITE)) {
			on_flush(&t);
		}
	}
	rc = CAS_EXIT_OK;
out:
	close_pty(&t);
	return rc;
}
