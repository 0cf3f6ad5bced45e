/*
 * The vsmartcard vpcd transport (reference/conax-card.md §6.4 item 3):
 * pcscd's vpcd driver listens on a TCP port (35963 for its first slot) and
 * the virtual card connects to it.  Every message is a 2-byte big-endian
 * length and a payload.  A 1-byte payload is a control code: 00 power off,
 * 01 power on, 02 reset (no answer), 04 "send the ATR" (answer: the ATR).
 * Anything longer is a command APDU, answered with response data + SW.
 * No echo, no timing: the APDU goes to the card logic as it is; the host
 * sees 98 LL and fetches with DD CA as over T=0.
 *
 * If vpcd is not there yet, or the connection drops, cardemu retries every
 * second until it is stopped.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cardemu.h"
#include "cli.h"
#include "log.h"

#define CTRL_OFF 0x00
#define CTRL_ON 0x01
#define CTRL_RESET 0x02
#define CTRL_ATR 0x04

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Reads exactly n bytes, watching for signals; 0, -1 (error/EOF) or 1
 * (stopped). */
static int read_exact(struct emu *e, int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { e->sigfd, POLLIN, 0 } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd[1].revents & POLLIN) {
			emu_signals(e);
			if (e->stop)
				return 1;
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_msg(int fd, const uint8_t *p, size_t n)
{
	uint8_t buf[2 + CAS_CARD_RESP_MAX];
	if (n > CAS_CARD_RESP_MAX)
		return -1;
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	memcpy(buf + 2, p, n);
	size_t off = 0, len = n + 2;
	int rc = 0;
	while (off < len) {
		ssize_t k = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = -1;
			break;
		}
		off += (size_t)k;
	}
	memset(buf, 0, sizeof buf);	/* may have held CWs */
	return rc;
}

/* One connection: serves vpcd until it closes (-1) or a stop (0). */
static int serve(struct emu *e, int fd)
{
	uint8_t msg[65536], resp[CAS_CARD_RESP_MAX];
	for (;;) {
		uint8_t hdr[2];
		int r = read_exact(e, fd, hdr, 2);
		if (r != 0)
			return r > 0 ? 0 : -1;
		size_t len = (size_t)hdr[0] << 8 | hdr[1];
		r = read_exact(e, fd, msg, len);
		if (r != 0)
			return r > 0 ? 0 : -1;
		if (len == 0)
			continue;
		if (len == 1) {
			switch (msg[0]) {
			case CTRL_OFF:
				cas_card_reset(&e->card);
				cas_log(CAS_LOG_DEBUG, "power off");
				break;
			case CTRL_ON:
			case CTRL_RESET: {
				uint8_t atr[CAS_CARD_ATR_LEN];
				cas_card_t0_reset(&e->card, atr, sizeof atr);
				emu_log_reset(e, msg[0] == CTRL_ON ? "power on" : "reset");
				break;
			}
			case CTRL_ATR:
				/* vpcd polls presence with this: not an event */
				if (send_msg(fd, cas_card_atr, CAS_CARD_ATR_LEN) < 0)
					return -1;
				break;
			default:
				cas_log(CAS_LOG_WARN, "unknown vpcd control code %02X ignored", msg[0]);
				break;
			}
			continue;
		}
		size_t n = cas_card_apdu(&e->card, msg, len, resp, sizeof resp);
		int rc = send_msg(fd, resp, n);
		memset(resp, 0, sizeof resp);
		memset(msg, 0, len);
		emu_after_command(e);
		if (rc < 0)
			return -1;
	}
}

int emu_run_vpcd(struct emu *e, const char *host, const char *port)
{
	int warned = 0;
	while (!e->stop) {
		int fd = connect_to(host, port);
		if (fd < 0) {
			if (!warned)
				cas_log(CAS_LOG_WARN, "unable to connect to vpcd at %s:%s: %s; retrying every second",
					host, port, strerror(errno));
			warned = 1;
			struct pollfd pfd = { e->sigfd, POLLIN, 0 };
			if (poll(&pfd, 1, 1000) > 0)
				emu_signals(e);
			continue;
		}
		warned = 0;
		cas_log(CAS_LOG_INFO, "connected to vpcd at %s:%s", host, port);
		int r = serve(e, fd);
		close(fd);
		cas_card_reset(&e->card);
		if (r < 0 && !e->stop)
			cas_log(CAS_LOG_WARN, "vpcd at %s:%s closed the connection; reconnecting", host, port);
	}
	return CAS_EXIT_OK;
}
