/*
 * libcas/t0host: the ATR length rules (ISO 7816-3 §8.2), and the T=0 host
 * against a scripted card on a pseudo-terminal - procedure bytes cardemu
 * never sends (NULL 60, ~INS one byte at a time), 6C, 98 LL chains, echo
 * checking and timeouts (conax-card.md §1.3, §1.5).
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "t0host.h"

static void atr_lengths(void **state)
{
	(void)state;
	size_t need = 0;
	static const uint8_t conax[] = { 0x3B, 0x24, 0x00, 0x30, 0x42, 0x30, 0x30 };
	assert_int_equal(cas_t0_atr_length(conax, 1, &need), 0);
	assert_int_equal(need, 2);
	assert_int_equal(cas_t0_atr_length(conax, 2, &need), 0);
	assert_int_equal(need, 7);
	assert_int_equal(cas_t0_atr_length(conax, 7, &need), 7);
	/* 3B 34 94 00 30 42 30 30: TA1, TB1, 4 historical bytes (conax-card.md §1.1) */
	static const uint8_t fast[] = { 0x3B, 0x34, 0x94, 0x00, 0x30, 0x42, 0x30, 0x30 };
	assert_int_equal(cas_t0_atr_length(fast, 8, &need), 8);
	/* TD1 = 81 (T=1, TD2 follows), TD2 = 31 (TA3 TB3, T=1): TCK present */
	static const uint8_t t1[] = { 0x3B, 0x80, 0x81, 0x31, 0xFE, 0x45, 0x00 };
	assert_int_equal(cas_t0_atr_length(t1, 3, &need), 0);
	assert_int_equal(need, 4);
	assert_int_equal(cas_t0_atr_length(t1, 4, &need), 0);
	assert_int_equal(need, 7);
	assert_int_equal(cas_t0_atr_length(t1, 7, &need), 7);
	/* inverse convention accepted, garbage refused */
	static const uint8_t inv[] = { 0x3F, 0x00 };
	assert_int_equal(cas_t0_atr_length(inv, 2, &need), 2);
	static const uint8_t bad[] = { 0x12, 0x00 };
	assert_int_equal(cas_t0_atr_length(bad, 2, &need), -1);
	/* interface bytes that never end: refused past 33 bytes */
	uint8_t loop[40];
	memset(loop, 0x80, sizeof loop);
	loop[0] = 0x3B;
	assert_int_equal(cas_t0_atr_length(loop, sizeof loop, &need), -1);
	assert_true(cas_t0_line_ms(8) == 10.0);	/* 8 chars x 12 etu / 9600 */
}

/* A scripted card: "<" = read n bytes from the host and echo them (after
 * checking them), ">" = send bytes. */
struct step {
	char dir;
	const char *hex;
};

static size_t hexbytes(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2) {
		unsigned v;
		char tmp[3] = { h[0], h[1], 0 };
		v = (unsigned)strtoul(tmp, NULL, 16);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void card_child(int fd, const struct step *s, int echo_wrong)
{
	uint8_t want[300], got[300];
	for (; s->dir; s++) {
		size_t n = hexbytes(s->hex, want);
		if (s->dir == '<') {
			size_t k = 0;
			while (k < n) {
				ssize_t r = read(fd, got + k, n - k);
				if (r <= 0)
					_exit(2);
				k += (size_t)r;
			}
			if (memcmp(got, want, n) != 0)
				_exit(3);
			if (echo_wrong)
				got[0] ^= 1;
			if (write(fd, got, n) != (ssize_t)n)
				_exit(4);
		} else if (write(fd, want, n) != (ssize_t)n) {
			_exit(5);
		}
	}
	/* hold the line open until the host is done */
	char c;
	while (read(fd, &c, 1) > 0)
		;
	_exit(0);
}

struct rig {
	int master;
	pid_t child;
	struct cas_t0host h;
};

static void rig_start(struct rig *r, const struct step *s, int echo_wrong, int timeout_ms)
{
	r->master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(r->master >= 0);
	assert_int_equal(grantpt(r->master), 0);
	assert_int_equal(unlockpt(r->master), 0);
	const char *name = ptsname(r->master);
	assert_non_null(name);
	struct cas_t0host_opts o;
	cas_t0host_default_opts(&o);
	o.byte_timeout_ms = timeout_ms;
	o.reset_tries = 1;
	assert_int_equal(cas_t0host_open(&r->h, name, &o), 0);
	r->child = fork();
	assert_true(r->child >= 0);
	if (r->child == 0) {
		close(r->h.fd);
		card_child(r->master, s, echo_wrong);
	}
}

static int rig_stop(struct rig *r)
{
	int st;
	cas_t0host_close(&r->h);
	kill(r->child, SIGTERM);
	waitpid(r->child, &st, 0);
	close(r->master);
	return st;
}

static void procedure_bytes_send(void **state)
{
	(void)state;
	/* DD C8 00 00 07 + 7 data bytes: NULL, NULL, ~INS (1 byte), NULL,
	 * ~INS (1 byte), INS (the other 5), 90 17 */
	static const struct step s[] = {
		{ '<', "DDC8000007" }, { '>', "6060" }, { '>', "37" }, { '<', "1D" },
		{ '>', "6037" }, { '<', "05" }, { '>', "C8" }, { '<', "0131323335" },
		{ '>', "9017" }, { 0, NULL },
	};
	struct rig r;
	rig_start(&r, s, 0, 2000);
	static const uint8_t hdr[5] = { 0xDD, 0xC8, 0x00, 0x00, 0x07 };
	static const uint8_t data[7] = { 0x1D, 0x05, 0x01, 0x31, 0x32, 0x33, 0x35 };
	uint16_t sw = 0;
	assert_int_equal(cas_t0host_send(&r.h, hdr, data, &sw), 0);
	assert_int_equal(sw, 0x9017);
	assert_int_equal(r.h.null_chars, 3);
	assert_int_equal(r.h.tx_chars, 12);
	rig_stop(&r);
}

static void procedure_bytes_recv(void **state)
{
	(void)state;
	/* DD CA 00 00 04: ~INS + 1 byte, INS + 3 bytes, 90 00 */
	static const struct step s[] = {
		{ '<', "DDCA000004" }, { '>', "35" }, { '>', "31" }, { '>', "CA020000" },
		{ '>', "9000" }, { 0, NULL },
	};
	struct rig r;
	rig_start(&r, s, 0, 2000);
	static const uint8_t hdr[5] = { 0xDD, 0xCA, 0x00, 0x00, 0x04 };
	uint8_t out[8];
	size_t n = 0;
	uint16_t sw = 0;
	assert_int_equal(cas_t0host_recv(&r.h, hdr, out, sizeof out, &n, &sw), 0);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(n, 4);
	static const uint8_t want[4] = { 0x31, 0x02, 0x00, 0x00 };
	assert_memory_equal(out, want, 4);
	rig_stop(&r);
}

static void conax_chain_and_6c(void **state)
{
	(void)state;
	/* DD 26 | 10 01 40 -> 98 05; DD CA 00 00 05 -> 5 bytes + 98 02 (more
	 * waits); DD CA 00 00 02 -> 2 bytes + 90 00: the answers are joined */
	static const struct step s[] = {
		{ '<', "DD26000003" }, { '>', "26" }, { '<', "100140" }, { '>', "9805" },
		{ '<', "DDCA000005" }, { '>', "CA" }, { '>', "2001402802" }, { '>', "9802" },
		{ '<', "DDCA000002" }, { '>', "CA" }, { '>', "0B00" }, { '>', "9000" },
		/* a status word instead of an ACK: 6C 08, no data */
		{ '<', "DDD8000002" }, { '>', "6C08" },
		{ 0, NULL },
	};
	struct rig r;
	rig_start(&r, s, 0, 2000);
	static const uint8_t data[3] = { 0x10, 0x01, 0x40 };
	uint8_t resp[16];
	size_t n = 0;
	uint16_t sw = 0;
	assert_int_equal(cas_t0host_conax(&r.h, 0x26, data, 3, resp, sizeof resp, &n, &sw), 0);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(n, 7);
	static const uint8_t want[7] = { 0x20, 0x01, 0x40, 0x28, 0x02, 0x0B, 0x00 };
	assert_memory_equal(resp, want, 7);
	static const uint8_t st[5] = { 0xDD, 0xD8, 0x00, 0x00, 0x02 };
	assert_int_equal(cas_t0host_recv(&r.h, st, resp, sizeof resp, &n, &sw), 0);
	assert_int_equal(sw, 0x6C08);
	assert_int_equal(n, 0);
	rig_stop(&r);
}

static void echo_mismatch_and_timeout(void **state)
{
	(void)state;
	static const struct step s[] = { { '<', "DD26000003" }, { 0, NULL } };
	struct rig r;
	static const uint8_t hdr[5] = { 0xDD, 0x26, 0x00, 0x00, 0x03 };
	static const uint8_t data[3] = { 0x10, 0x01, 0x40 };
	uint16_t sw;
	rig_start(&r, s, 1, 2000);
	assert_int_equal(cas_t0host_send(&r.h, hdr, data, &sw), -1);
	assert_string_equal(cas_t0host_error(&r.h), "echo mismatch: the line gave back other bytes than sent");
	rig_stop(&r);
	/* a card that never answers the header */
	rig_start(&r, s, 0, 200);
	assert_int_equal(cas_t0host_send(&r.h, hdr, data, &sw), -1);
	assert_string_equal(cas_t0host_error(&r.h), "timeout waiting for the procedure byte (0 of 1 bytes)");
	rig_stop(&r);
	/* an unexpected procedure byte */
	static const struct step s2[] = { { '<', "DD26000003" }, { '>', "42" }, { 0, NULL } };
	rig_start(&r, s2, 0, 2000);
	assert_int_equal(cas_t0host_send(&r.h, hdr, data, &sw), -1);
	assert_string_equal(cas_t0host_error(&r.h), "unexpected procedure byte 42 after INS 26");
	rig_stop(&r);
}

/* A card that answers a line flush with its ATR, as cardemu does: the
 * master in packet mode sees the host's tcflush as a status byte. */
static void reset_reads_the_atr(void **state)
{
	(void)state;
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	int one = 1;
	assert_int_equal(ioctl(master, TIOCPKT, &one), 0);
	struct cas_t0host h;
	struct cas_t0host_opts o;
	cas_t0host_default_opts(&o);
	o.reset_tries = 1;
	assert_int_equal(cas_t0host_open(&h, ptsname(master), &o), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		uint8_t b[64];
		for (;;) {
			ssize_t n = read(master, b, sizeof b);
			if (n <= 0)
				_exit(2);
			if (b[0] & TIOCPKT_FLUSHREAD)
				break;
		}
		static const uint8_t atr[7] = { 0x3B, 0x24, 0x00, 0x30, 0x42, 0x30, 0x30 };
		_exit(write(master, atr, 7) == 7 ? 0 : 3);
	}
	assert_int_equal(cas_t0host_reset(&h), 0);
	assert_int_equal(h.atr_len, 7);
	assert_int_equal(h.atr[6], 0x30);
	int st;
	waitpid(child, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* no card answers: the reset fails after its timeout */
	h.o.atr_timeout_ms = 100;
	assert_int_equal(cas_t0host_reset(&h), -1);
	assert_string_equal(cas_t0host_error(&h), "timeout waiting for the ATR (0 of 1 bytes)");
	/* a pty has no modem lines: an RTS reset says so */
	h.o.reset = CAS_T0_RESET_RTS;
	assert_int_equal(cas_t0host_reset(&h), -1);
	assert_non_null(strstr(cas_t0host_error(&h), "unable to read the modem lines"));
	cas_t0host_close(&h);
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(atr_lengths),
		cmocka_unit_test(procedure_bytes_send),
		cmocka_unit_test(procedure_bytes_recv),
		cmocka_unit_test(conax_chain_and_6c),
		cmocka_unit_test(echo_mismatch_and_timeout),
		cmocka_unit_test(reset_reads_the_atr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
