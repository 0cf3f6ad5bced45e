/*
 * fakecard: a faulty card on a pseudo-terminal, for casprog's error tests.
 * The card itself is libcas's card logic (card.h) with its T=0 engine, as in
 * contrib/cardemu; this program only adds faults:
 *
 *   fakecard --pty PATH [--atr HEX] [--silent] [--mute-after N]
 *            [--corrupt-read] [CARD.bin]
 *
 *   --atr HEX         answer this ATR to a reset instead of the card's
 *   --silent          never answer a reset (an empty reader)
 *   --mute-after N    answer N complete commands after a reset, then stay
 *                     silent (the host times out); once muted, the next
 *                     reset brings the card back for good
 *   --corrupt-read    flip one bit of the last data byte of every READ BACK
 *                     (DD D2) answer: a verify mismatch
 *   CARD.bin          a personalised card (default: a blank card)
 *
 * Like cardemu, it echoes every byte the host sends, and a line flush by the
 * host (seen in packet mode) is a reset: the ATR follows 50 ms later unless
 * a byte comes first.  Nothing is saved.  Stops on SIGTERM, or after 120 s.
 */
/* posix_openpt, grantpt, unlockpt, ptsname (XSI) */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "card.h"
#include "hex.h"

int main(int argc, char **argv);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int put(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && (errno == EINTR || errno == EAGAIN)) {
			struct pollfd pfd = { fd, POLLOUT, 0 };
			poll(&pfd, 1, 100);
			continue;
		}
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct cas_card_chip card;
	static const struct option opts[] = {
		{ "pty", required_argument, NULL, 'p' },
		{ "atr", required_argument, NULL, 'a' },
		{ "silent", no_argument, NULL, 's' },
		{ "mute-after", required_argument, NULL, 'm' },
		{ "corrupt-read", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *link = NULL;
	uint8_t atr[33];
	size_t atr_len = 0;
	int silent = 0, corrupt = 0, c;
	long mute_after = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			link = optarg;
			break;
		case 'a':
			atr_len = strlen(optarg) / 2;
			if (atr_len == 0 || atr_len > sizeof atr ||
			    cas_hex_decode(optarg, strlen(optarg), atr, atr_len) < 0) {
				fprintf(stderr, "fakecard: bad --atr\n");
				return 100;
			}
			break;
		case 's':
			silent = 1;
			break;
		case 'm':
			mute_after = strtol(optarg, NULL, 10);
			break;
		case 'c':
			corrupt = 1;
			break;
		default:
			return 100;
		}
	}
	if (link == NULL) {
		fprintf(stderr, "fakecard: --pty PATH needed\n");
		return 100;
	}
	cas_card_init_blank(&card);
	if (optind < argc) {
		uint8_t bin[CAS_CARD_BIN_LEN + 1];
		FILE *f = fopen(argv[optind], "rb");
		size_t n = f != NULL ? fread(bin, 1, sizeof bin, f) : 0;
		if (f != NULL)
			fclose(f);
		if (n != CAS_CARD_BIN_LEN || cas_card_init_bin(&card, bin) < 0) {
			fprintf(stderr, "fakecard: %s is not a personalisation file\n", argv[optind]);
			return 1;
		}
	}
	if (atr_len == 0) {
		memcpy(atr, cas_card_atr, CAS_CARD_ATR_LEN);
		atr_len = CAS_CARD_ATR_LEN;
	}

	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		perror("fakecard: pty");
		return 111;
	}
	const char *name = ptsname(master);
	int slave = name != NULL ? open(name, O_RDWR | O_NOCTTY) : -1;
	struct termios tio;
	int one = 1;
	if (slave < 0 || tcgetattr(slave, &tio) < 0) {
		perror("fakecard: pty slave");
		return 111;
	}
	cfmakeraw(&tio);
	tcsetattr(slave, TCSANOW, &tio);
	if (ioctl(master, TIOCPKT, &one) < 0 || fcntl(master, F_SETFL, O_NONBLOCK) < 0) {
		perror("fakecard: packet mode");
		return 111;
	}
	unlink(link);
	if (symlink(name, link) < 0) {
		perror("fakecard: symlink");
		return 111;
	}
	fprintf(stderr, "fakecard: on %s\n", link);
	alarm(120);

	int64_t reset_at = 0;
	long commands = 0;
	for (;;) {
		struct pollfd pfd = { master, POLLIN, 0 };
		int timeout = -1;
		if (reset_at != 0)
			timeout = reset_at > now_ms() ? (int)(reset_at - now_ms()) : 0;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			return 111;
		if (reset_at != 0 && now_ms() >= reset_at) {
			uint8_t a[CAS_CARD_ATR_LEN];
			reset_at = 0;
			cas_card_t0_reset(&card, a, sizeof a);
			if (mute_after >= 0 && commands >= mute_after)
				mute_after = -1;
			commands = 0;
			if (!silent) {
				fprintf(stderr, "fakecard: reset, ATR sent\n");
				if (put(master, atr, atr_len) < 0)
					return 111;
			}
		}
		if (!(pfd.revents & POLLIN))
			continue;
		uint8_t buf[1 + 512];
		ssize_t n = read(master, buf, sizeof buf);
		if (n <= 0)
			continue;
		if (buf[0] != TIOCPKT_DATA) {
			if (buf[0] & (TIOCPKT_FLUSHREAD | TIOCPKT_FLUSHWRITE))
				reset_at = now_ms() + 50;
			continue;
		}
		reset_at = 0;
		if (put(master, buf + 1, (size_t)n - 1) < 0)	/* the echo */
			return 111;
		for (ssize_t i = 1; i < n; i++) {
			uint8_t out[CAS_CARD_T0_OUT_MAX];
			if (silent || (mute_after >= 0 && commands >= mute_after))
				continue;
			size_t o = cas_card_t0_rx(&card, buf[i], out, sizeof out);
			if (corrupt && o > 3 && out[0] == CAS_CARD_INS_READ)
				out[o - 3] ^= 0x01;
			if (o > 0 && put(master, out, o) < 0)
				return 111;
			if (o > 0 && cas_card_t0_idle(&card))
				commands++;
		}
	}
}
