/* Host side of T=0 on a serial line (t0host.h). */
#include "t0host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_NULLS 200		/* OSCam accepts at most 200 NULLs in a row */

static int fail(struct cas_t0host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct cas_t0host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->err, sizeof h->err, fmt, ap);
	va_end(ap);
	return -1;
}

const char *cas_t0host_error(const struct cas_t0host *h)
{
	return h->err[0] != '\0' ? h->err : "no error";
}

void cas_t0host_default_opts(struct cas_t0host_opts *o)
{
	o->reset = CAS_T0_RESET_FLUSH;
	o->reset_invert = 0;
	o->echo = 1;
	o->byte_timeout_ms = 2000;
	o->atr_timeout_ms = 1500;
	o->reset_tries = 3;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* 9600 baud, 8 data bits, even parity, 2 stop bits, raw (conax-card.md
 * §1.6 step 3).  A pty clears PARENB silently; that is fine. */
static int set_line(struct cas_t0host *h)
{
	struct termios t;
	if (tcgetattr(h->fd, &t) < 0)
		return fail(h, "unable to read the line settings: %s", strerror(errno));
	memset(&t, 0, sizeof t);
	t.c_iflag = IGNPAR;
	t.c_cflag = CS8 | PARENB | CSTOPB | CREAD | CLOCAL;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	cfsetispeed(&t, B9600);
	cfsetospeed(&t, B9600);
	if (tcsetattr(h->fd, TCSANOW, &t) == 0)
		return 0;
	/* glibc reports EINVAL when a pty ignored PARENB and nothing else
	 * changed, i.e. when the line was already set up by an earlier host
	 * session: accept a line that has everything but the parity. */
	int err = errno;
	struct termios now;
	if (err == EINVAL && tcgetattr(h->fd, &now) == 0 && now.c_iflag == t.c_iflag &&
	    (now.c_cflag & ~(tcflag_t)PARENB) == (t.c_cflag & ~(tcflag_t)PARENB) &&
	    cfgetospeed(&now) == B9600 && now.c_cc[VMIN] == 1 && now.c_cc[VTIME] == 0)
		return 0;
	return fail(h, "unable to set 9600 8E2: %s", strerror(err));
}

static int init(struct cas_t0host *h, int fd, const struct cas_t0host_opts *o)
{
	memset(h, 0, sizeof *h);
	h->fd = fd;
	if (o != NULL)
		h->o = *o;
	else
		cas_t0host_default_opts(&h->o);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail(h, "unable to make the line non-blocking: %s", strerror(errno));
	return set_line(h);
}

int cas_t0host_open(struct cas_t0host *h, const char *path, const struct cas_t0host_opts *o)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		memset(h, 0, sizeof *h);
		h->fd = -1;
		return fail(h, "unable to open %s: %s", path, strerror(errno));
	}
	if (init(h, fd, o) < 0) {
		close(fd);
		h->fd = -1;
		return -1;
	}
	h->owned = 1;
	return 0;
}

int cas_t0host_attach(struct cas_t0host *h, int fd, const struct cas_t0host_opts *o)
{
	return init(h, fd, o);
}

static int line_fd(const struct cas_t0host *h)
{
	return h->fd;
}

void cas_t0host_close(struct cas_t0host *h)
{
	if (h->fd >= 0 && h->owned)
		close(h->fd);
	h->fd = -1;
}

/* Reads exactly n bytes, each within timeout_ms of the previous one. */
static int read_n(struct cas_t0host *h, uint8_t *p, size_t n, int timeout_ms, const char *what)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd pfd = { line_fd(h), POLLIN, 0 };
		int r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(h, "unable to wait for %s: %s", what, strerror(errno));
		if (r == 0)
			return fail(h, "timeout waiting for %s (%zu of %zu bytes)", what, got, n);
		ssize_t k = read(line_fd(h), p + got, n - got);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k < 0)
			return fail(h, "unable to read %s: %s", what, strerror(errno));
		if (k == 0)
			return fail(h, "line closed while waiting for %s", what);
		got += (size_t)k;
	}
	return 0;
}

int cas_t0host_read(struct cas_t0host *h, uint8_t *p, size_t n, int timeout_ms)
{
	if (read_n(h, p, n, timeout_ms, "the card") < 0)
		return -1;
	h->rx_chars += n;
	return 0;
}

int cas_t0host_write(struct cas_t0host *h, const uint8_t *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = write(line_fd(h), p + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pfd = { line_fd(h), POLLOUT, 0 };
			if (poll(&pfd, 1, h->o.byte_timeout_ms) == 0)
				return fail(h, "timeout writing to the line");
			continue;
		}
		if (k < 0)
			return fail(h, "unable to write to the line: %s", strerror(errno));
		done += (size_t)k;
	}
	h->tx_chars += n;
	if (!h->o.echo)
		return 0;
	/* The single I/O line gives every byte back (conax-card.md §1.5). */
	uint8_t echo[261];
	for (size_t off = 0; off < n; off += sizeof echo) {
		size_t m = n - off < sizeof echo ? n - off : sizeof echo;
		if (read_n(h, echo, m, h->o.byte_timeout_ms, "the echo") < 0)
			return -1;
		if (memcmp(echo, p + off, m) != 0)
			return fail(h, "echo mismatch: the line gave back other bytes than sent");
	}
	return 0;
}

int cas_t0_atr_length(const uint8_t *a, size_t have, size_t *need)
{
	if (have < 2) {
		*need = 2;
		return 0;
	}
	if (a[0] != 0x3B && a[0] != 0x3F)
		return -1;
	uint8_t y = a[1] >> 4;
	size_t k = a[1] & 0x0F;
	size_t n = 2;
	int tck = 0;
	for (;;) {
		size_t cnt = (size_t)((y & 1) + ((y >> 1) & 1) + ((y >> 2) & 1) + ((y >> 3) & 1));
		n += cnt;
		if (n > 33)
			return -1;
		if (!(y & 8))
			break;
		if (have < n) {
			*need = n;
			return 0;
		}
		uint8_t td = a[n - 1];
		if ((td & 0x0F) != 0)
			tck = 1;	/* a protocol other than T=0 is offered */
		y = td >> 4;
	}
	n += k + (size_t)tck;
	if (n > 33)
		return -1;
	if (have < n) {
		*need = n;
		return 0;
	}
	return (int)n;
}

static int set_reset_line(struct cas_t0host *h, int in_reset)
{
	int bits;
	if (ioctl(line_fd(h), TIOCMGET, &bits) < 0)
		return fail(h, "unable to read the modem lines: %s", strerror(errno));
	int mask = h->o.reset == CAS_T0_RESET_DTR ? TIOCM_DTR : TIOCM_RTS;
	int assert_line = h->o.reset_invert ? !in_reset : in_reset;
	if (assert_line)
		bits |= mask;
	else
		bits &= ~mask;
	if (ioctl(line_fd(h), TIOCMSET, &bits) < 0)
		return fail(h, "unable to set the reset line: %s", strerror(errno));
	return 0;
}

static int read_atr(struct cas_t0host *h)
{
	size_t have = 0, need = 2;
	if (read_n(h, h->atr, 1, h->o.atr_timeout_ms, "the ATR") < 0)
		return -1;
	have = 1;
	for (;;) {
		int len = cas_t0_atr_length(h->atr, have, &need);
		if (len < 0)
			return fail(h, "malformed ATR (TS %02X)", h->atr[0]);
		if (len > 0)
			break;
		if (read_n(h, h->atr + have, need - have, h->o.byte_timeout_ms, "the ATR") < 0)
			return -1;
		have = need;
	}
	h->atr_len = have;
	h->rx_chars += have;
	return 0;
}

int cas_t0host_reset(struct cas_t0host *h)
{
	int tries = h->o.reset_tries > 0 ? h->o.reset_tries : 1;
	h->atr_len = 0;
	for (int i = 0; i < tries; i++) {
		if (h->o.reset == CAS_T0_RESET_FLUSH) {
			if (tcflush(line_fd(h), TCIOFLUSH) < 0)
				return fail(h, "unable to flush the line: %s", strerror(errno));
		} else {
			/* Phoenix: hold reset, flush, release (conax-card.md §1.6 step 7) */
			if (set_reset_line(h, 1) < 0)
				return -1;
			tcflush(line_fd(h), TCIOFLUSH);
			sleep_ms(50);
			if (set_reset_line(h, 0) < 0)
				return -1;
		}
		if (read_atr(h) == 0) {
			h->err[0] = '\0';
			return 0;
		}
	}
	return -1;
}

/* Reads one procedure byte; NULLs are skipped (at most MAX_NULLS). */
static int read_proc(struct cas_t0host *h, uint8_t *b)
{
	for (int nulls = 0;; nulls++) {
		if (nulls > MAX_NULLS)
			return fail(h, "more than %d NULL procedure bytes", MAX_NULLS);
		if (read_n(h, b, 1, h->o.byte_timeout_ms, "the procedure byte") < 0)
			return -1;
		h->rx_chars++;
		if (h->n_proc < sizeof h->last_proc)
			h->last_proc[h->n_proc++] = *b;
		if (*b != 0x60)
			return 0;
		h->null_chars++;
		h->proc_chars++;
	}
}

static int is_sw1(uint8_t b)
{
	return (b & 0xF0) == 0x60 || (b & 0xF0) == 0x90;
}

/* Common TPDU loop (ISO 7816-3 §10.3.3).  dir_out: data flows from the
 * card. */
static int tpdu(struct cas_t0host *h, const uint8_t hdr[5], const uint8_t *in, uint8_t *out,
		size_t cap, int dir_out, size_t *got, uint16_t *sw)
{
	size_t total = dir_out ? (hdr[4] == 0 ? 256 : hdr[4]) : hdr[4];
	size_t done = 0;
	uint8_t ins = hdr[1];
	uint8_t not_ins = (uint8_t)(0xFF - ins);	/* ~INS: one byte at a time */
	h->n_proc = 0;
	if (got != NULL)
		*got = 0;
	if (cas_t0host_write(h, hdr, 5) < 0)
		return -1;
	for (;;) {
		uint8_t b;
		if (read_proc(h, &b) < 0)
			return -1;
		if (is_sw1(b) && b != 0x60) {
			uint8_t sw2;
			if (read_n(h, &sw2, 1, h->o.byte_timeout_ms, "SW2") < 0)
				return -1;
			h->rx_chars++;
			*sw = (uint16_t)((b << 8) | sw2);
			if (got != NULL)
				*got = done;
			return 0;
		}
		size_t step;
		if (b == ins)
			step = total - done;
		else if (b == not_ins)
			step = done < total ? 1 : 0;
		else
			return fail(h, "unexpected procedure byte %02X after INS %02X", b, ins);
		h->proc_chars++;
		if (step == 0)
			continue;
		if (dir_out) {
			if (done + step > cap)
				return fail(h, "answer longer than the buffer (%zu bytes)", cap);
			if (read_n(h, out + done, step, h->o.byte_timeout_ms, "response data") < 0)
				return -1;
			h->rx_chars += step;
		} else if (cas_t0host_write(h, in + done, step) < 0) {
			return -1;
		}
		done += step;
	}
}

int cas_t0host_send(struct cas_t0host *h, const uint8_t hdr[5], const uint8_t *data,
		    uint16_t *sw)
{
	return tpdu(h, hdr, data, NULL, 0, 0, NULL, sw);
}

int cas_t0host_recv(struct cas_t0host *h, const uint8_t hdr[5], uint8_t *out, size_t cap,
		    size_t *n, uint16_t *sw)
{
	return tpdu(h, hdr, NULL, out, cap, 1, n, sw);
}

int cas_t0host_conax(struct cas_t0host *h, uint8_t ins, const uint8_t *data, size_t len,
		     uint8_t *resp, size_t cap, size_t *resp_len, uint16_t *sw)
{
	if (len > 255)
		return fail(h, "command data longer than 255 bytes");
	uint8_t hdr[5] = { 0xDD, ins, 0x00, 0x00, (uint8_t)len };
	*resp_len = 0;
	if (cas_t0host_send(h, hdr, data, sw) < 0)
		return -1;
	/* conax-card.md §2.1: read while SW1 = 98 and LL is neither 00 nor FF */
	for (int rounds = 0; (*sw >> 8) == 0x98 && (*sw & 0xFF) != 0x00 && (*sw & 0xFF) != 0xFF;
	     rounds++) {
		if (rounds > 64)
			return fail(h, "card keeps answering 98 xx");
		uint8_t le = (uint8_t)(*sw & 0xFF);
		uint8_t rd[5] = { 0xDD, 0xCA, 0x00, 0x00, le };
		size_t n;
		if (*resp_len + le > cap)
			return fail(h, "answer longer than the buffer (%zu bytes)", cap);
		if (cas_t0host_recv(h, rd, resp + *resp_len, cap - *resp_len, &n, sw) < 0)
			return -1;
		*resp_len += n;
	}
	return 0;
}

double cas_t0_line_ms(unsigned long chars)
{
	return (double)chars * 12.0 * 1000.0 / 9600.0;
}
