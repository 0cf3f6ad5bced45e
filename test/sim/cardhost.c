/*
 * cardhost: a scripted smartcard host on a serial line or pty, built on
 * libcas/t0host (the T=0 host casprog uses).  Tests drive cardemu with it.
 *
 *   cardhost [--no-echo] [--reset flush|rts|dtr] [--timeout MS] DEVICE [SCRIPT]
 *
 * The script (stdin without SCRIPT) has one step per line; hex may contain
 * spaces inside a quoted-free run of words only at the end (see below), and
 * "??" in expected hex matches any byte.  "-" means "no bytes".
 *   reset ATR                   reset the card, compare the ATR
 *   raw SEND EXPECT             write SEND, read len(EXPECT) bytes and compare
 *                               (the echo included: checks echo and procedure
 *                               bytes exactly)
 *   send HDR+DATA SW            a TPDU carrying data to the card (case 1/3)
 *   recv HDR DATA SW            a TPDU reading Le bytes (case 2)
 *   conax INS DATA SW ANSWER    DD INS 00 00 Lc DATA, then DD CA reads while
 *                               98 LL; SW is the last status word
 *   sleep MS
 * Lines starting with # are comments.  Prints one line per step; exits 0
 * if every step matched, 1 at the first mismatch, 111 on a line error.
 * At the end it prints the characters each way and their time at 9600 baud.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "t0host.h"

int main(int argc, char **argv);

struct hexpat {
	uint8_t b[600];
	uint8_t any[600];	/* 1 = "??" */
	size_t n;
};

static int parse_hex(const char *s, struct hexpat *h)
{
	h->n = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	size_t len = strlen(s);
	if (len % 2 != 0 || len / 2 > sizeof h->b)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		if (s[i] == '?' && s[i + 1] == '?') {
			h->any[h->n] = 1;
			h->b[h->n++] = 0;
			continue;
		}
		int hi = cas_hex_digit(s[i]), lo = cas_hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		h->any[h->n] = 0;
		h->b[h->n++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int matches(const struct hexpat *h, const uint8_t *p, size_t n)
{
	if (n != h->n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!h->any[i] && h->b[i] != p[i])
			return 0;
	return 1;
}

static void show(const char *what, const uint8_t *p, size_t n)
{
	char buf[1300];
	if (n > 600)
		n = 600;
	cas_hex_encode(p, n, buf);
	printf("  %s: %s\n", what, n ? buf : "-");
}

/* Splits a line into at most max words; returns the count. */
static int words(char *line, char **w, int max)
{
	int n = 0;
	for (char *tok = strtok(line, " \t\r\n"); tok != NULL && n < max; tok = strtok(NULL, " \t\r\n"))
		w[n++] = tok;
	return n;
}

static int sw_of(const char *s, uint16_t *sw)
{
	struct hexpat h;
	if (parse_hex(s, &h) < 0 || h.n != 2)
		return -1;
	*sw = (uint16_t)(h.b[0] << 8 | h.b[1]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-echo", no_argument, NULL, 'e' },
		{ "reset", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct cas_t0host_opts o;
	struct cas_t0host h;
	int c;
	cas_t0host_default_opts(&o);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			o.echo = 0;
			break;
		case 'r':
			if (strcmp(optarg, "flush") == 0)
				o.reset = CAS_T0_RESET_FLUSH;
			else if (strcmp(optarg, "rts") == 0)
				o.reset = CAS_T0_RESET_RTS;
			else if (strcmp(optarg, "dtr") == 0)
				o.reset = CAS_T0_RESET_DTR;
			else
				return 100;
			break;
		case 't':
			o.byte_timeout_ms = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: cardhost [--no-echo] [--reset flush|rts|dtr] [--timeout MS] DEVICE [SCRIPT]\n");
			return 100;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: cardhost [--no-echo] [--reset flush|rts|dtr] [--timeout MS] DEVICE [SCRIPT]\n");
		return 100;
	}
	FILE *in = stdin;
	if (optind + 1 < argc && (in = fopen(argv[optind + 1], "r")) == NULL) {
		perror(argv[optind + 1]);
		return 111;
	}
	if (cas_t0host_open(&h, argv[optind], &o) < 0) {
		fprintf(stderr, "cardhost: %s\n", cas_t0host_error(&h));
		return 111;
	}

	char line[4096];
	int lineno = 0, rc = 0, steps = 0;
	static uint8_t buf[4096];
	while (rc == 0 && fgets(line, sizeof line, in) != NULL) {
		lineno++;
		char *w[8];
		char copy[4096];
		snprintf(copy, sizeof copy, "%s", line);
		int n = words(copy, w, 8);
		if (n == 0 || w[0][0] == '#')
			continue;
		struct hexpat a, b;
		uint16_t sw = 0, want_sw = 0;
		size_t got = 0;
		const char *step = w[0];
		int ok = 0, err = 0;
		if (strcmp(step, "reset") == 0 && n == 2 && parse_hex(w[1], &a) == 0) {
			err = cas_t0host_reset(&h) < 0;
			ok = !err && matches(&a, h.atr, h.atr_len);
			if (!ok && !err)
				show("ATR", h.atr, h.atr_len);
		} else if (strcmp(step, "raw") == 0 && n == 3 && parse_hex(w[1], &a) == 0 &&
			   parse_hex(w[2], &b) == 0) {
			int echo = h.o.echo;
			h.o.echo = 0;	/* the expectation includes the echo */
			err = cas_t0host_write(&h, a.b, a.n) < 0 ||
			      (b.n > 0 && cas_t0host_read(&h, buf, b.n, h.o.byte_timeout_ms) < 0);
			h.o.echo = echo;
			ok = !err && matches(&b, buf, b.n);
			if (!ok && !err)
				show("got", buf, b.n);
		} else if (strcmp(step, "send") == 0 && n == 3 && parse_hex(w[1], &a) == 0 &&
			   a.n >= 5 && a.n == 5u + a.b[4] && sw_of(w[2], &want_sw) == 0) {
			err = cas_t0host_send(&h, a.b, a.b + 5, &sw) < 0;
			ok = !err && sw == want_sw;
		} else if (strcmp(step, "recv") == 0 && n == 4 && parse_hex(w[1], &a) == 0 &&
			   a.n == 5 && parse_hex(w[2], &b) == 0 && sw_of(w[3], &want_sw) == 0) {
			err = cas_t0host_recv(&h, a.b, buf, sizeof buf, &got, &sw) < 0;
			ok = !err && sw == want_sw && matches(&b, buf, got);
			if (!ok && !err)
				show("data", buf, got);
		} else if (strcmp(step, "conax") == 0 && n == 5 && parse_hex(w[1], &a) == 0 &&
			   a.n == 1 && parse_hex(w[2], &b) == 0 && sw_of(w[3], &want_sw) == 0) {
			struct hexpat ans;
			if (parse_hex(w[4], &ans) < 0) {
				fprintf(stderr, "cardhost: line %d: bad hex\n", lineno);
				rc = 111;
				break;
			}
			err = cas_t0host_conax(&h, a.b[0], b.b, b.n, buf, sizeof buf, &got, &sw) < 0;
			ok = !err && sw == want_sw && matches(&ans, buf, got);
			if (!ok && !err)
				show("answer", buf, got);
		} else if (strcmp(step, "sleep") == 0 && n == 2) {
			long ms = atol(w[1]);
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
			ok = 1;
		} else {
			fprintf(stderr, "cardhost: line %d: cannot parse: %s", lineno, line);
			rc = 111;
			break;
		}
		steps++;
		if (ok) {
			printf("ok: line %d: %s\n", lineno, step);
		} else {
			printf("FAIL: line %d: %s", lineno, line);
			if (err)
				printf("  %s\n", cas_t0host_error(&h));
			else if (strcmp(step, "send") == 0 || strcmp(step, "recv") == 0 ||
				 strcmp(step, "conax") == 0)
				printf("  SW %04X, want %04X\n", sw, want_sw);
			rc = 1;
		}
	}
	memset(buf, 0, sizeof buf);
	if (in != stdin)
		fclose(in);
	printf("cardhost: %d steps, %lu characters to the card, %lu from it "
	       "(%lu procedure, %lu NULL), %.1f ms of line time at 9600 baud\n",
	       steps, h.tx_chars, h.rx_chars, h.proc_chars, h.null_chars,
	       cas_t0_line_ms(h.tx_chars + h.rx_chars));
	cas_t0host_close(&h);
	return rc;
}
