/*
 * demo-receiver: a software set-top box for `make demo`.
 *
 * It reads a scrambled transport stream as it is written, finds the
 * programme like a receiver does (PAT -> PMT -> CA_descriptor for the ECM
 * PID; CAT -> CA_descriptor for the EMM PID), hands the EMMs addressed to
 * its card and every new ECM to a smartcard through a Phoenix-style serial
 * line (libcas t0host; in the demo the card is cardemu on a pty), takes the
 * two control words the card releases, descrambles the elementary stream
 * with DVB-CSA (libdvbcsa) and compares every packet, byte for byte, with
 * the clear stream the scrambler wrote alongside.
 *
 * Per crypto-period (a run of packets on one CSA key parity) it reports:
 *   OK    every packet descrambled and equal to the clear input
 *   NOCW  no control word for any packet (the card refused the ECM)
 *   PART  some packets without a control word, the others equal
 *   BAD   a packet descrambled to something else than the clear input
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

#include <dvbcsa/dvbcsa.h>

#include "buf.h"
#include "cdate.h"
#include "cli.h"
#include "hex.h"
#include "log.h"
#include "psi.h"
#include "t0host.h"
#include "ts.h"

#define TS_LEN 188
#define MAX_ES 8
#define HISTORY 64

static const char usage[] =
	"usage: demo-receiver --card TTY --ts FILE --clear FILE [options]\n"
	"\n"
	"A software receiver: reads a scrambled MPEG transport stream as it grows,\n"
	"feeds its card (on a Phoenix-style serial line or a cardemu pty) with the\n"
	"EMMs addressed to it and the ECMs, descrambles with the control words the\n"
	"card returns (DVB-CSA) and compares every packet with the clear stream.\n"
	"\n"
	"  --card TTY          the card's serial line (cardemu --pty PATH)\n"
	"  --ts FILE           scrambled transport stream (followed as it is written)\n"
	"  --clear FILE        the clear stream, packet for packet\n"
	"  --done FILE         stop at the end of the stream once FILE exists\n"
	"  --status FILE       live figures, key=value, replaced 4 times a second\n"
	"  --name NAME         name in the log (default: the card's serial)\n"
	"  --caid N            CA_system_id to look for (default 0x0B00)\n"
	"  -v, --verbose       log every ECM and EMM\n"
	"  -h, --help          this help;  -V, --version  version\n"
	"\n"
	"Exit codes: 0 end of stream, 100 usage, 111 system or card error.\n";

int main(int argc, char **argv);

enum verdict { V_NONE = 0, V_OK, V_NOCW, V_PART, V_BAD };
static const char *const verdict_name[] = { "-", "OK", "NOCW", "PART", "BAD" };
static const char verdict_char[] = { ' ', 'O', '.', 'p', 'X' };

/* One PID's section assembly (ISO/IEC 13818-1 §2.4.4.2, pointer_field). */
struct sect {
	uint8_t buf[4200];
	size_t len;
	int active;
};

struct rx {
	const char *name;
	const char *status_path;
	uint16_t caid;
	struct cas_t0host card;
	uint32_t serial;
	uint8_t host_id[3];
	/* the card's subscription, as it reports it (INS C6) */
	uint32_t card_ac;
	char card_start[16], card_finish[16];
	/* the programme */
	uint16_t pmt_pid, ecm_pid, emm_pid;
	uint16_t es_pid[MAX_ES];
	unsigned n_es;
	int have_pmt_pid, have_ecm_pid, have_emm_pid;
	struct sect s_pat, s_cat, s_pmt, s_ecm, s_emm;
	/* conditional access */
	uint8_t last_ecm[256];
	size_t last_ecm_len;
	int ecm_retry;			/* resend the current ECM (after an EMM) */
	uint8_t last_emm[256];
	size_t last_emm_len;
	struct dvbcsa_key_s *key[2];	/* even, odd */
	int have_key[2];
	uint64_t ecm_ok, ecm_refused, ecm_errors, emm_seen, emm_sent;
	const char *ecm_last;
	/* verdicts */
	int seg_parity;			/* -1 before the first scrambled packet */
	uint64_t seg_ok, seg_nocw, seg_bad;
	uint64_t cp[5];			/* by enum verdict */
	uint64_t pkts_ok, pkts_nocw, pkts_bad, pkts_clear, pkts_unknown, other_diff, packets;
	enum verdict last;
	char history[HISTORY + 1];
	int stop;
	/* input not yet compared: scrambled and clear */
	uint8_t in[512 * TS_LEN], cl[512 * TS_LEN];
};

/* ---- the card ---- */

static void fmt_cdate(const uint8_t d[2], char *out, size_t cap)
{
	int y, m, dd;
	if (cas_cdate_decode(d, &y, &m, &dd) < 0)
		snprintf(out, cap, "?");
	else
		snprintf(out, cap, "%04d-%02d-%02d", y, m, dd);
}

/* INS C6: the package record (conax-card.md §2.6): the first 30 02 is the
 * start date, the second the end date, 20 04 the access criteria. */
static int card_subscription(struct rx *r)
{
	static const uint8_t req[] = { 0x1C, 0x01, 0x00 };
	uint8_t resp[512];
	size_t n;
	uint16_t sw;
	if (cas_t0host_conax(&r->card, 0xC6, req, sizeof req, resp, sizeof resp, &n, &sw) < 0) {
		cas_log(CAS_LOG_ERROR, "%s: subscription read failed: %s", r->name,
			cas_t0host_error(&r->card));
		return -1;
	}
	struct cas_buf b;
	cas_buf_init(&b, resp, n);
	while (cas_buf_left(&b) >= 2) {
		uint8_t tag = cas_buf_get_u8(&b), len = cas_buf_get_u8(&b);
		struct cas_buf rec;
		if (cas_buf_get_sub(&b, len, &rec) < 0)
			break;
		if (tag != 0x32 || cas_buf_skip(&rec, 2) < 0)
			continue;
		int dates = 0, acs = 0;
		while (cas_buf_left(&rec) >= 2) {
			uint8_t t = cas_buf_get_u8(&rec), l = cas_buf_get_u8(&rec);
			const uint8_t *v = cas_buf_get_ptr(&rec, l);
			if (v == NULL)
				break;
			if (t == 0x30 && l == 2 && dates < 2)
				fmt_cdate(v, dates++ == 0 ? r->card_start : r->card_finish,
					  sizeof r->card_start);
			else if (t == 0x20 && l == 4 && acs++ == 0)
				r->card_ac = cas_be32(v);
		}
		return 0;
	}
	cas_log(CAS_LOG_WARN, "%s: the card reports no subscription (SW %04X)", r->name, sw);
	return 0;
}

static int card_init(struct rx *r, const char *tty)
{
	struct cas_t0host_opts o;
	cas_t0host_default_opts(&o);
	/* cardemu may still be starting: a few tries */
	int tries = 0;
	for (;;) {
		if (cas_t0host_open(&r->card, tty, &o) == 0 && cas_t0host_reset(&r->card) == 0)
			break;
		cas_t0host_close(&r->card);
		if (++tries == 50 || r->stop) {
			cas_log(CAS_LOG_FATAL, "no card on %s: %s", tty, cas_t0host_error(&r->card));
			return -1;
		}
		usleep(100 * 1000);
	}
	uint8_t resp[256];
	size_t n;
	uint16_t sw;
	static const uint8_t host_version[] = { 0x10, 0x01, 0x40 };
	if (cas_t0host_conax(&r->card, 0x26, host_version, sizeof host_version, resp, sizeof resp,
			     &n, &sw) < 0 || sw != 0x9000) {
		cas_log(CAS_LOG_FATAL, "card on %s: INS 26 failed: %s (SW %04X)", tty,
			cas_t0host_error(&r->card), sw);
		return -1;
	}
	/* INS 82 as a CAM sends it: the CAT's CA_descriptor and our host id at
	 * data bytes 14..16 (tvcas3.md §6) */
	uint8_t emm_init[17] = { 0x11, 0x0F, 0x01, 0xB0, 0x0F, 0xFF, 0xFF, 0xFB, 0x00, 0x00,
				 0x09, 0x04, (uint8_t)(r->caid >> 8), (uint8_t)r->caid,
				 r->host_id[0], r->host_id[1], r->host_id[2] };
	if (cas_t0host_conax(&r->card, 0x82, emm_init, sizeof emm_init, resp, sizeof resp, &n,
			     &sw) < 0 || sw != 0x9000 || n < 2 || resp[0] != 0x22) {
		cas_log(CAS_LOG_FATAL, "card on %s: INS 82 failed: %s (SW %04X)", tty,
			cas_t0host_error(&r->card), sw);
		return -1;
	}
	/* the unique address: the 23 07 record whose a3 is not 00 */
	struct cas_buf b;
	cas_buf_init(&b, resp + 2, n - 2);
	while (cas_buf_left(&b) >= 2) {
		uint8_t t = cas_buf_get_u8(&b), l = cas_buf_get_u8(&b);
		const uint8_t *v = cas_buf_get_ptr(&b, l);
		if (v == NULL)
			break;
		if (t == 0x23 && l == 7 && v[3] != 0) {
			r->serial = cas_be32(v + 3);
			break;
		}
	}
	if (r->serial == 0) {
		cas_log(CAS_LOG_FATAL, "card on %s: no unique address in the INS 82 answer", tty);
		return -1;
	}
	card_subscription(r);
	return 0;
}

static void clear_keys(struct rx *r)
{
	r->have_key[0] = r->have_key[1] = 0;
}

static void on_ecm(struct rx *r, const uint8_t *sec, size_t len)
{
	if ((sec[0] & 0xFE) != 0x80 || len > 252)
		return;
	if (!r->ecm_retry && len == r->last_ecm_len && memcmp(sec, r->last_ecm, len) == 0)
		return;	/* a repetition: the card already answered it */
	memcpy(r->last_ecm, sec, len);
	r->last_ecm_len = len;
	r->ecm_retry = 0;
	/* DD A2: nano 14, length, mode 00, the whole section (conax-card.md §2.7) */
	uint8_t cmd[256], resp[256];
	cmd[0] = 0x14;
	cmd[1] = (uint8_t)(len + 1);
	cmd[2] = 0x00;
	memcpy(cmd + 3, sec, len);
	size_t n;
	uint16_t sw;
	if (cas_t0host_conax(&r->card, 0xA2, cmd, len + 3, resp, sizeof resp, &n, &sw) < 0) {
		cas_log(CAS_LOG_ERROR, "%s: ECM exchange failed: %s", r->name, cas_t0host_error(&r->card));
		r->ecm_errors++;
		clear_keys(r);
		return;
	}
	uint8_t cw[2][8];
	int got = 0;
	struct cas_buf b;
	cas_buf_init(&b, resp, n);
	while (sw == 0x9000 && cas_buf_left(&b) >= 2) {
		uint8_t t = cas_buf_get_u8(&b), l = cas_buf_get_u8(&b);
		const uint8_t *v = cas_buf_get_ptr(&b, l);
		if (v == NULL)
			break;
		/* 25 0D x x IDX y y CW(8): IDX 0 = even, 1 = odd */
		if (t == 0x25 && l >= 0x0D && v[2] <= 1) {
			memcpy(cw[v[2]], v + 5, 8);
			got |= 1 << v[2];
		}
	}
	if (got == 3) {
		/* The key of the parity on air is kept if we have one: the ECM
		 * of the next crypto-period may arrive before the CW changes
		 * (a negative delay_start), and its CW of this parity is the
		 * one after next.  The other parity's key is always loaded. */
		for (int k = 0; k < 2; k++) {
			if (k == r->seg_parity && r->have_key[k])
				continue;
			dvbcsa_key_set(cw[k], r->key[k]);
			r->have_key[k] = 1;
		}
		r->ecm_ok++;
		if (r->ecm_last == NULL || strcmp(r->ecm_last, "ok") != 0)
			cas_log(CAS_LOG_INFO, "%s: card %u releases the control words", r->name, r->serial);
		r->ecm_last = "ok";
	} else {
		/* no access: what a CAM shows is a black screen */
		clear_keys(r);
		r->ecm_refused++;
		if (r->ecm_last == NULL || strcmp(r->ecm_last, "refused") != 0)
			cas_log(CAS_LOG_INFO, "%s: card %u refuses the ECM (SW %04X)", r->name, r->serial, sw);
		r->ecm_last = "refused";
	}
	memset(cw, 0, sizeof cw);
	memset(resp, 0, sizeof resp);
	cas_log(CAS_LOG_DEBUG, "%s: ECM table %02X: %s", r->name, sec[0], r->ecm_last);
}

static void on_emm(struct rx *r, const uint8_t *sec, size_t len)
{
	/* unique EMMs: table 0x82, card address at section bytes 6..9
	 * (conax-card.md §3) */
	if (sec[0] != 0x82 || len < 10 || len > 253 || cas_be32(sec + 6) != r->serial)
		return;
	r->emm_seen++;
	if (len == r->last_emm_len && memcmp(sec, r->last_emm, len) == 0)
		return;	/* the carousel repeats it; the card has it */
	memcpy(r->last_emm, sec, len);
	r->last_emm_len = len;
	uint8_t cmd[260], resp[64];
	cmd[0] = 0x12;
	cmd[1] = (uint8_t)len;
	memcpy(cmd + 2, sec, len);
	size_t n;
	uint16_t sw;
	if (cas_t0host_conax(&r->card, 0x84, cmd, len + 2, resp, sizeof resp, &n, &sw) < 0 ||
	    sw != 0x9000) {
		cas_log(CAS_LOG_ERROR, "%s: EMM not taken: %s (SW %04X)", r->name,
			cas_t0host_error(&r->card), sw);
		return;
	}
	r->emm_sent++;
	uint32_t old_ac = r->card_ac;
	char old_finish[16];
	memcpy(old_finish, r->card_finish, sizeof old_finish);
	card_subscription(r);
	if (old_ac != r->card_ac || strcmp(old_finish, r->card_finish) != 0)
		cas_log(CAS_LOG_INFO, "%s: EMM for card %u: access criteria %08X, %s..%s", r->name,
			r->serial, r->card_ac, r->card_start, r->card_finish);
	/* new rights: ask again with the ECM on air instead of waiting for
	 * the next one */
	r->ecm_retry = 1;
}

/* ---- the stream ---- */

static void on_pat(struct rx *r, const uint8_t *sec, size_t len)
{
	struct cas_psi_hdr h;
	if (cas_psi_parse(sec, len, &h) < 0 || h.table_id != CAS_PSI_TABLE_PAT)
		return;
	struct cas_buf b;
	cas_buf_init(&b, h.body, h.body_len);
	while (cas_buf_left(&b) >= 4) {
		uint16_t prog = cas_buf_get_u16(&b), pid = cas_buf_get_u16(&b) & 0x1FFF;
		if (prog != 0) {	/* programme 0 is the NIT */
			if (!r->have_pmt_pid || r->pmt_pid != pid)
				cas_log(CAS_LOG_DEBUG, "%s: programme %u, PMT PID 0x%04X", r->name, prog, pid);
			r->pmt_pid = pid;
			r->have_pmt_pid = 1;
			return;
		}
	}
}

static void on_cat(struct rx *r, const uint8_t *sec, size_t len)
{
	struct cas_psi_hdr h;
	uint16_t pid;
	if (cas_psi_parse(sec, len, &h) < 0 || h.table_id != CAS_PSI_TABLE_CAT)
		return;
	if (cas_psi_find_ca(h.body, h.body_len, r->caid, &pid) == 0) {
		if (!r->have_emm_pid)
			cas_log(CAS_LOG_INFO, "%s: EMM PID 0x%04X (CAT)", r->name, pid);
		r->emm_pid = pid;
		r->have_emm_pid = 1;
	}
}

static void on_pmt(struct rx *r, const uint8_t *sec, size_t len)
{
	struct cas_psi_hdr h;
	uint16_t pid;
	if (cas_psi_parse(sec, len, &h) < 0 || h.table_id != CAS_PSI_TABLE_PMT)
		return;
	struct cas_buf b, d;
	cas_buf_init(&b, h.body, h.body_len);
	cas_buf_skip(&b, 2);	/* PCR_PID */
	uint16_t pil = cas_buf_get_u16(&b) & 0x0FFF;
	if (cas_buf_get_sub(&b, pil, &d) < 0)
		return;
	int ca = cas_psi_find_ca(d.data, d.len, r->caid, &pid);
	unsigned n = 0;
	while (cas_buf_left(&b) >= 5 && n < MAX_ES) {
		cas_buf_skip(&b, 1);	/* stream_type */
		uint16_t es = cas_buf_get_u16(&b) & 0x1FFF;
		uint16_t il = cas_buf_get_u16(&b) & 0x0FFF;
		if (cas_buf_get_sub(&b, il, &d) < 0)
			return;
		/* a component-level CA_descriptor counts too */
		if (ca != 0)
			ca = cas_psi_find_ca(d.data, d.len, r->caid, &pid);
		r->es_pid[n++] = es;
	}
	r->n_es = n;
	if (ca == 0) {
		if (!r->have_ecm_pid)
			cas_log(CAS_LOG_INFO, "%s: ECM PID 0x%04X, %u elementary stream(s) (PMT)",
				r->name, pid, n);
		r->ecm_pid = pid;
		r->have_ecm_pid = 1;
	}
}

typedef void sect_fn(struct rx *r, const uint8_t *sec, size_t len);

/* Emits every whole section in s->buf; keeps an unfinished one. */
static void sect_drain(struct rx *r, struct sect *s, sect_fn *fn)
{
	while (s->active && s->len >= 3) {
		if (s->buf[0] == 0xFF) {	/* stuffing: no more sections here */
			s->active = 0;
			s->len = 0;
			return;
		}
		size_t need = 3 + (size_t)(((s->buf[1] & 0x0F) << 8) | s->buf[2]);
		if (s->len < need)
			return;
		fn(r, s->buf, need);
		memmove(s->buf, s->buf + need, s->len - need);
		s->len -= need;
		if (s->len == 0)
			s->active = 0;
	}
}

static void sect_append(struct sect *s, const uint8_t *p, size_t n)
{
	if (s->len + n > sizeof s->buf) {
		s->active = 0;	/* longer than any section: lost */
		s->len = 0;
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void sect_feed(struct rx *r, struct sect *s, const uint8_t *pkt, sect_fn *fn)
{
	unsigned afc = (pkt[3] >> 4) & 3;
	size_t off = 4;
	if (afc == 0 || afc == 2 || (pkt[3] & 0xC0))
		return;	/* no payload, or scrambled */
	if (afc == 3)
		off += 1 + (size_t)pkt[4];
	if (off >= TS_LEN)
		return;
	const uint8_t *p = pkt + off;
	size_t n = TS_LEN - off;
	if (pkt[1] & 0x40) {
		size_t ptr = p[0];
		p++;
		n--;
		if (ptr > n) {
			s->active = 0;
			s->len = 0;
			return;
		}
		if (s->active) {	/* the end of the previous section */
			sect_append(s, p, ptr);
			sect_drain(r, s, fn);
		}
		s->len = 0;
		s->active = 1;
		sect_append(s, p + ptr, n - ptr);
		sect_drain(r, s, fn);
	} else if (s->active) {
		sect_append(s, p, n);
		sect_drain(r, s, fn);
	}
}

static void close_segment(struct rx *r)
{
	if (r->seg_ok + r->seg_nocw + r->seg_bad == 0)
		return;
	enum verdict v = r->seg_bad ? V_BAD : r->seg_nocw == 0 ? V_OK : r->seg_ok == 0 ? V_NOCW : V_PART;
	r->cp[v]++;
	if (r->last != V_NONE && (v == V_OK) != (r->last == V_OK))
		cas_log(CAS_LOG_INFO, "%s: %s", r->name,
			v == V_OK ? "picture back: descrambled stream equals the clear input"
			: v == V_BAD ? "descrambled stream differs from the clear input"
			: "picture lost: no control word");
	else if (r->last == V_NONE)
		cas_log(CAS_LOG_INFO, "%s: first crypto-period %s", r->name, verdict_name[v]);
	r->last = v;
	memmove(r->history, r->history + 1, HISTORY - 1);
	r->history[HISTORY - 1] = verdict_char[v];
	r->seg_ok = r->seg_nocw = r->seg_bad = 0;
}

static int is_es(const struct rx *r, uint16_t pid)
{
	for (unsigned i = 0; i < r->n_es; i++)
		if (r->es_pid[i] == pid)
			return 1;
	return 0;
}

static void on_packet(struct rx *r, const uint8_t *in, const uint8_t *clear)
{
	uint8_t p[TS_LEN];
	r->packets++;
	if (in[0] != CAS_TS_SYNC) {
		r->other_diff++;
		return;
	}
	uint16_t pid = (uint16_t)(((in[1] & 0x1F) << 8) | in[2]);
	if (is_es(r, pid)) {
		unsigned tsc = in[3] >> 6;
		if (tsc < 2) {	/* clear */
			if (memcmp(in, clear, TS_LEN) == 0)
				r->pkts_clear++;
			else
				r->other_diff++;
			return;
		}
		int parity = tsc & 1;
		if (parity != r->seg_parity) {
			close_segment(r);
			r->seg_parity = parity;
		}
		if (!r->have_key[parity]) {
			r->seg_nocw++;
			r->pkts_nocw++;
			return;
		}
		memcpy(p, in, TS_LEN);
		size_t off = 4;
		if (((p[3] >> 4) & 3) == 3)
			off += 1 + (size_t)p[4];
		if (off < TS_LEN)
			dvbcsa_decrypt(r->key[parity], p + off, (unsigned)(TS_LEN - off));
		p[3] &= 0x3F;
		if (memcmp(p, clear, TS_LEN) == 0) {
			r->seg_ok++;
			r->pkts_ok++;
		} else {
			r->seg_bad++;
			r->pkts_bad++;
		}
		return;
	}
	/* a scrambled packet of a stream the PMT has not shown us yet */
	if (in[3] & 0xC0) {
		r->pkts_unknown++;
		return;
	}
	/* everything else travels in clear: it must be the scrambler's input */
	if (memcmp(in, clear, TS_LEN) != 0)
		r->other_diff++;
	if (pid == CAS_PSI_PID_PAT)
		sect_feed(r, &r->s_pat, in, on_pat);
	else if (pid == CAS_PSI_PID_CAT)
		sect_feed(r, &r->s_cat, in, on_cat);
	else if (r->have_pmt_pid && pid == r->pmt_pid)
		sect_feed(r, &r->s_pmt, in, on_pmt);
	else if (r->have_ecm_pid && pid == r->ecm_pid)
		sect_feed(r, &r->s_ecm, in, on_ecm);
	else if (r->have_emm_pid && pid == r->emm_pid)
		sect_feed(r, &r->s_emm, in, on_emm);
}

static void write_status(struct rx *r, const char *state)
{
	if (r->status_path == NULL)
		return;
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", r->status_path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "state=%s\nname=%s\nserial=%u\n", state, r->name, r->serial);
	fprintf(f, "card_ac=%08X\ncard_start=%s\ncard_finish=%s\n", r->card_ac,
		r->card_start[0] ? r->card_start : "-", r->card_finish[0] ? r->card_finish : "-");
	fprintf(f, "ecm_ok=%llu\necm_refused=%llu\necm_errors=%llu\necm_last=%s\n",
		(unsigned long long)r->ecm_ok, (unsigned long long)r->ecm_refused,
		(unsigned long long)r->ecm_errors, r->ecm_last ? r->ecm_last : "-");
	fprintf(f, "emm_seen=%llu\nemm_sent=%llu\n", (unsigned long long)r->emm_seen,
		(unsigned long long)r->emm_sent);
	fprintf(f, "cp_ok=%llu\ncp_nocw=%llu\ncp_part=%llu\ncp_bad=%llu\n",
		(unsigned long long)r->cp[V_OK], (unsigned long long)r->cp[V_NOCW],
		(unsigned long long)r->cp[V_PART], (unsigned long long)r->cp[V_BAD]);
	fprintf(f, "pkts_ok=%llu\npkts_nocw=%llu\npkts_bad=%llu\npkts_clear=%llu\npkts_unknown=%llu\n"
		"other_diff=%llu\npackets=%llu\n",
		(unsigned long long)r->pkts_ok, (unsigned long long)r->pkts_nocw,
		(unsigned long long)r->pkts_bad, (unsigned long long)r->pkts_clear,
		(unsigned long long)r->pkts_unknown, (unsigned long long)r->other_diff,
		(unsigned long long)r->packets);
	fprintf(f, "last=%s\nhistory=%s\n", verdict_name[r->last], r->history);
	if (fclose(f) == 0)
		rename(tmp, r->status_path);
	else
		unlink(tmp);
}

/* Reads up to cap bytes; waits for more while the file grows. */
static ssize_t read_some(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n;
	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	return n;
}

static int open_in(const char *path, int *fd, int *stop, int sigfd)
{
	for (int i = 0; i < 300 && !*stop; i++) {
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
			*stop = 1;
		usleep(100 * 1000);
	}
	cas_log(CAS_LOG_FATAL, "unable to open %s: %s", path, strerror(errno));
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	static struct rx r;	/* large (input buffers): not on the stack */
	uint8_t *in = r.in, *cl = r.cl;
	enum { O_CARD = 1, O_TS, O_CLEAR, O_DONE, O_STATUS, O_NAME, O_CAID };
	static const struct option opts[] = {
		{ "card", required_argument, NULL, O_CARD },
		{ "ts", required_argument, NULL, O_TS },
		{ "clear", required_argument, NULL, O_CLEAR },
		{ "done", required_argument, NULL, O_DONE },
		{ "status", required_argument, NULL, O_STATUS },
		{ "name", required_argument, NULL, O_NAME },
		{ "caid", required_argument, NULL, O_CAID },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tty = NULL, *ts_path = NULL, *clear_path = NULL, *done_path = NULL;
	int c, rc = CAS_EXIT_SYSTEM, ts_fd = -1, clear_fd = -1, sigfd = -1;
	char namebuf[32];

	cas_log_start("demo-receiver", CAS_LOG_INFO, 0);
	r.caid = 0x0B00;
	r.seg_parity = -1;
	memset(r.history, ' ', HISTORY);
	while ((c = getopt_long(argc, argv, "vhV", opts, NULL)) != -1) {
		switch (c) {
		case O_CARD:
			tty = optarg;
			break;
		case O_TS:
			ts_path = optarg;
			break;
		case O_CLEAR:
			clear_path = optarg;
			break;
		case O_DONE:
			done_path = optarg;
			break;
		case O_STATUS:
			r.status_path = optarg;
			break;
		case O_NAME:
			r.name = optarg;
			break;
		case O_CAID: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 0);
			if (*end != '\0' || end == optarg || v > 0xFFFF) {
				cas_log(CAS_LOG_FATAL, "usage: bad value '%s' for --caid", optarg);
				return CAS_EXIT_USAGE;
			}
			r.caid = (uint16_t)v;
			break;
		}
		case 'v':
			cas_log_set_level(CAS_LOG_DEBUG);
			break;
		case 'h':
			fputs(usage, stdout);
			return CAS_EXIT_OK;
		case 'V':
			printf("demo-receiver %s\n", CAS_VERSION);
			return CAS_EXIT_OK;
		default:
			fputs(usage, stderr);
			return CAS_EXIT_USAGE;
		}
	}
	if (tty == NULL || ts_path == NULL || clear_path == NULL || optind != argc) {
		cas_log(CAS_LOG_FATAL, "usage: --card, --ts and --clear are needed (see demo-receiver --help)");
		return CAS_EXIT_USAGE;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	r.key[0] = dvbcsa_key_alloc();
	r.key[1] = dvbcsa_key_alloc();
	if (sigfd < 0 || r.key[0] == NULL || r.key[1] == NULL) {
		cas_log(CAS_LOG_FATAL, "unable to start: %s", strerror(errno));
		goto out;
	}
	/* a CAM's own id for the INS 82 command */
	uint32_t hid = (uint32_t)getpid() * 2654435761u;
	r.host_id[0] = (uint8_t)(hid >> 16);
	r.host_id[1] = (uint8_t)(hid >> 8);
	r.host_id[2] = (uint8_t)hid;
	if (r.name == NULL)
		r.name = "receiver";
	write_status(&r, "starting");
	if (card_init(&r, tty) < 0)
		goto out;
	if (strcmp(r.name, "receiver") == 0) {
		snprintf(namebuf, sizeof namebuf, "%u", r.serial);
		r.name = namebuf;
	}
	cas_log(CAS_LOG_INFO, "%s: card %u, access criteria %08X, %s..%s", r.name, r.serial,
		r.card_ac, r.card_start, r.card_finish);
	write_status(&r, "running");
	if (open_in(ts_path, &ts_fd, &r.stop, sigfd) < 0 || open_in(clear_path, &clear_fd, &r.stop, sigfd) < 0)
		goto out;

	size_t have_in = 0, have_cl = 0;
	int64_t last_status = 0;
	int finished = 0;
	while (!r.stop && !finished) {
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			cas_log(CAS_LOG_INFO, "%s: stopping on signal %u", r.name, si.ssi_signo);
			r.stop = 1;
			break;
		}
		/* did the stream end before this read?  Then what the read
		 * returns is all there is. */
		int ended = done_path != NULL && access(done_path, F_OK) == 0;
		ssize_t a = read_some(ts_fd, in + have_in, sizeof r.in - have_in);
		ssize_t b = read_some(clear_fd, cl + have_cl, sizeof r.cl - have_cl);
		if (a < 0 || b < 0) {
			cas_log(CAS_LOG_FATAL, "%s: unable to read the stream: %s", r.name, strerror(errno));
			goto out;
		}
		have_in += (size_t)a;
		have_cl += (size_t)b;
		size_t whole = (have_in < have_cl ? have_in : have_cl) / TS_LEN;
		for (size_t i = 0; i < whole; i++)
			on_packet(&r, in + i * TS_LEN, cl + i * TS_LEN);
		memmove(in, in + whole * TS_LEN, have_in - whole * TS_LEN);
		memmove(cl, cl + whole * TS_LEN, have_cl - whole * TS_LEN);
		have_in -= whole * TS_LEN;
		have_cl -= whole * TS_LEN;
		if (a == 0 && b == 0) {
			if (ended)
				finished = 1;
			else
				usleep(10 * 1000);
		}
		int64_t now = now_ms();
		if (now - last_status >= 250) {
			write_status(&r, "running");
			last_status = now;
		}
	}
	close_segment(&r);
	cas_log(CAS_LOG_INFO, "%s: %llu packets; crypto-periods: %llu OK, %llu NOCW, %llu PART, %llu BAD",
		r.name, (unsigned long long)r.packets, (unsigned long long)r.cp[V_OK],
		(unsigned long long)r.cp[V_NOCW], (unsigned long long)r.cp[V_PART],
		(unsigned long long)r.cp[V_BAD]);
	write_status(&r, finished ? "done" : "stopped");
	rc = CAS_EXIT_OK;
out:
	if (rc != CAS_EXIT_OK)
		write_status(&r, "failed");
	cas_t0host_close(&r.card);
	for (int i = 0; i < 2; i++)
		if (r.key[i] != NULL)
			dvbcsa_key_free(r.key[i]);
	if (ts_fd >= 0)
		close(ts_fd);
	if (clear_fd >= 0)
		close(clear_fd);
	if (sigfd >= 0)
		close(sigfd);
	return rc;
}
