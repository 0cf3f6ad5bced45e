#ifndef CAS_T0HOST_H
#define CAS_T0HOST_H
/*
 * The host side of ISO 7816-3 T=0 on a serial line: a Phoenix/Smartmouse
 * reader (casprog), or the pseudo-terminal of contrib/cardemu (tests).
 * reference/conax-card.md §1.3 (procedure bytes), §1.5-§1.6 (reader), §2.1
 * (98 LL / DD CA).
 *
 *   - 9600 baud, 8 data bits, even parity, 2 stop bits (8E2 = 12 etu).
 *   - Echo: the reader's TXD and RXD share the card's I/O line, so every
 *     byte the host sends comes back; with echo on (the default) the host
 *     reads it back and checks it before reading the card.
 *   - Reset: the reader holds the card in reset while RTS (or DTR, some
 *     adapters) is asserted, polarity configurable.  A pty has no modem
 *     lines: CAS_T0_RESET_FLUSH flushes the line instead, which cardemu
 *     (master in packet mode) sees and answers with the ATR
 *     (conax-card.md §6.3; doc/cardemu.1).
 *   - Procedure bytes: ACK (= INS) moves all remaining bytes, ~INS one
 *     byte, 60 waits (at most 200 in a row, as OSCam), 6x/9x is SW1.
 *   - Conax answers (98 LL) are fetched with DD CA 00 00 LL until 90 00.
 *
 * Every function returns 0 or -1; after -1, cas_t0host_error() says why
 * ("timeout waiting for the procedure byte", "echo mismatch", ...).
 */
#include <stddef.h>
#include <stdint.h>

enum cas_t0_reset {
	CAS_T0_RESET_FLUSH = 0,		/* pty / cardemu: tcflush(TCIOFLUSH) */
	CAS_T0_RESET_RTS = 1,		/* Phoenix: RTS asserted = card in reset */
	CAS_T0_RESET_DTR = 2,		/* some adapters and the TVCAS uploader */
};

struct cas_t0host_opts {
	enum cas_t0_reset reset;
	int reset_invert;		/* line released (not asserted) = reset */
	int echo;			/* 1: the line echoes what the host sends */
	int byte_timeout_ms;		/* per byte from the card (default 2000) */
	int atr_timeout_ms;		/* first ATR byte after a reset (default 1500) */
	int reset_tries;		/* reset attempts (default 3) */
};

struct cas_t0host {
	int fd;
	int owned;			/* opened by cas_t0host_open */
	struct cas_t0host_opts o;
	uint8_t atr[33];
	size_t atr_len;
	/* line statistics, for benchmarks: characters each way */
	unsigned long tx_chars, rx_chars, proc_chars, null_chars;
	uint8_t last_proc[4];		/* procedure bytes of the last TPDU */
	size_t n_proc;
	char err[160];
};

void cas_t0host_default_opts(struct cas_t0host_opts *o);
/* Opens a serial device (or pty) and sets 9600 8E2 raw.  o may be NULL. */
int cas_t0host_open(struct cas_t0host *h, const char *path, const struct cas_t0host_opts *o);
/* Uses an fd that is already open (not closed by cas_t0host_close). */
int cas_t0host_attach(struct cas_t0host *h, int fd, const struct cas_t0host_opts *o);
void cas_t0host_close(struct cas_t0host *h);
const char *cas_t0host_error(const struct cas_t0host *h);

/* Resets the card and reads its ATR (length from its own structure,
 * ISO 7816-3 §8.2) into h->atr. */
int cas_t0host_reset(struct cas_t0host *h);

/* A TPDU whose data (if any) goes to the card: CLA INS P1 P2 P3 + P3
 * bytes (P3 = 0: no data).  *sw = SW1 SW2. */
int cas_t0host_send(struct cas_t0host *h, const uint8_t hdr[5], const uint8_t *data,
		    uint16_t *sw);
/* A TPDU whose data comes from the card: P3 = Le (0 = 256).  Writes up to
 * cap bytes to out, *n = bytes received (0 if the card answered only a
 * status word, e.g. 6C xx). */
int cas_t0host_recv(struct cas_t0host *h, const uint8_t hdr[5], uint8_t *out, size_t cap,
		    size_t *n, uint16_t *sw);

/* A Conax command: DD ins 00 00 len | data, then while the card answers
 * 98 LL, DD CA 00 00 LL; the answers are concatenated into resp.  *sw is
 * the last status word (90 00 after a complete read, 90 12 for a Conax
 * refusal, ...). */
int cas_t0host_conax(struct cas_t0host *h, uint8_t ins, const uint8_t *data, size_t len,
		     uint8_t *resp, size_t cap, size_t *resp_len, uint16_t *sw);

/* Raw bytes on the line (tests): writes n bytes (and, with echo on, reads
 * and checks their echo). */
int cas_t0host_write(struct cas_t0host *h, const uint8_t *p, size_t n);
/* Reads exactly n bytes from the card, each within byte_timeout_ms. */
int cas_t0host_read(struct cas_t0host *h, uint8_t *p, size_t n, int timeout_ms);

/* Length of an ATR from its first bytes: 0 = need more bytes (*need set
 * to the bytes known to be needed), -1 = malformed, else the length. */
int cas_t0_atr_length(const uint8_t *atr, size_t have, size_t *need);

/* Time in ms that n characters take on the line at 9600 baud with
 * 12 etu per character (conax-card.md §1.2). */
double cas_t0_line_ms(unsigned long chars);

#endif
