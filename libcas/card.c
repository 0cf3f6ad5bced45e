/*
 * The smartcard logic (card.h).  Freestanding: <stdint.h>, <string.h> and
 * the freestanding parts of libcas (buf, tdes, the card side of tvcas3).
 * Nothing here allocates, does I/O or keeps global state.
 */
#include <stdint.h>
#include <string.h>

#include "card.h"
#include "buf.h"
#include "tdes.h"
#include "tvcas3.h"

const uint8_t cas_card_atr[CAS_CARD_ATR_LEN] = { 0x3B, 0x24, 0x00, 0x30, 0x42, 0x30, 0x30 };

/* Status words */
#define SW_OK 0x9000
#define SW_DENIED 0x9012		/* conax-card.md §2.7 "access denied" */
#define SW_PIN_WRONG 0x9017		/* tvcas3.md §6 (1E/1F) */
#define SW_WRONG_LENGTH 0x6700
#define SW_SECURITY 0x6982
#define SW_NOT_ALLOWED 0x6985
#define SW_BAD_DATA 0x6A80
#define SW_BAD_OFFSET 0x6B00
#define SW_BAD_INS 0x6D00
#define SW_BAD_CLA 0x6E00
#define SW_INTERNAL 0x6F00
#define SW_MORE(n) (0x9800 | (n))	/* n bytes wait for DD CA */
#define SW_LE(n) (0x6C00 | (n))

/* Nano tags (tvcas3.md §6 dispatch table, conax-card.md §2) */
#define TAG_INFO 0x10
#define TAG_ADDR 0x11
#define TAG_EMM 0x12
#define TAG_ECM 0x14
#define TAG_SUBS 0x1C
#define TAG_PIN 0x1D
#define TAG_PIN_CHANGE 0x1E
#define TAG_MATURITY 0x1F
#define TAG_SERIAL 0x66

/* INS 82 from a Forbis FTA receiver: Lc 0E, answered 90 00 (tvcas3.md §6) */
#define LC_FORBIS_PROBE 0x0E

enum { T0_HDR = 0, T0_DATA = 1, T0_PPS = 2 };

static const uint8_t DEFAULT_PIN[4] = { '1', '2', '3', '4' };
#define DEFAULT_MATURITY 0x02

/* The firmware's 3DES self-test (tvcas3.md §1, vector des3_firmware_selftest):
 * the public default ECM key half and the block its comment pairs. */
static const uint8_t SELFTEST_KEY[16] = {
	0x7E, 0x33, 0xA2, 0x78, 0xB3, 0x61, 0x7A, 0x30,
	0x9B, 0x18, 0x22, 0x2F, 0x37, 0x2A, 0x23, 0x19,
};
static const uint8_t SELFTEST_CT[8] = { 0x45, 0x90, 0x4C, 0x4A, 0xD8, 0x46, 0x54, 0x99 };
static const uint8_t SELFTEST_PT[8] = { 0x5F, 0x22, 0x34, 0x02, 0xAD, 0xF6, 0x14, 0xB7 };

/* Wipes secrets in a way the compiler may not drop (no libsodium here). */
static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

/* Constant-time comparison for the PIN and the host id. */
static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

static void mark_dirty(struct cas_card_chip *c)
{
	c->dirty = 1;
	if (c->on_dirty != NULL)
		c->on_dirty(c->dirty_ctx);
}

void cas_card_default_options(struct cas_card_options *o)
{
	o->deny = CAS_CARD_DENY_TVCAS;
	o->max_channels = 2;
	o->block_seconds = 86400;
	o->min_age = 60;
	o->sustain = 30;
}

static void clear_tracker(struct cas_card_persist *p)
{
	memset(p->streams, 0, sizeof p->streams);
	p->excess = 0;
	p->excess_since = 0;
}

void cas_card_chip_wipe(struct cas_card_chip *c)
{
	wipe(c, sizeof *c);
}

void cas_card_init_blank(struct cas_card_chip *c)
{
	wipe(c, sizeof *c);
	cas_card_default_options(&c->opt);
	c->p.life = CAS_CARD_BLANK;
	c->t0_fresh = 1;
}

/* A BIN is usable if its serial can be a unique address: the top byte of
 * a UA must be non-zero (conax-card.md §2.4). */
static int bin_valid(const uint8_t bin[CAS_CARD_BIN_LEN])
{
	return bin[0] != 0;
}

/* BIN -> card memory (tvcas3.md §5): 23..38 start, finish, AC, dates;
 * 39 pair; 40 protect; 42..73 ECM key; 74..89 card key.  The rest of the
 * state starts fresh. */
static void apply_bin(struct cas_card_chip *c)
{
	struct cas_card_persist *p = &c->p;
	const uint8_t *b = p->bin;
	p->start = cas_be32(b + 23);
	p->finish = cas_be32(b + 27);
	p->ac = cas_be32(b + 31);
	memcpy(p->cdate_start, b + 35, 2);
	memcpy(p->cdate_finish, b + 37, 2);
	p->pair = b[39] != 0;
	p->protect = b[40] != 0;
	p->bound = 0;
	memset(p->cam_id, 0, sizeof p->cam_id);
	memcpy(p->pin, DEFAULT_PIN, 4);
	p->maturity = DEFAULT_MATURITY;
	p->blocked = 0;
	p->block_time = 0;
	p->clock = 0;
	p->emm_count = 0;
	p->emm_sum_calc = 0xFF;		/* as the firmware's initialiser */
	p->emm_sum_recv = 0xFF;
	clear_tracker(p);
}

int cas_card_init_bin(struct cas_card_chip *c, const uint8_t bin[CAS_CARD_BIN_LEN])
{
	cas_card_init_blank(c);
	if (!bin_valid(bin))
		return -1;
	memcpy(c->p.bin, bin, CAS_CARD_BIN_LEN);
	memset(c->p.written, 0xFF, sizeof c->p.written);
	c->p.life = CAS_CARD_LOCKED;
	apply_bin(c);
	return 0;
}

void cas_card_reset(struct cas_card_chip *c)
{
	c->host_known = 0;
	memset(c->host_id, 0, sizeof c->host_id);
	c->pending_len = 0;
	c->pending_pos = 0;
	c->t0_state = T0_HDR;
	c->t0_n = 0;
	c->t0_need = 0;
	c->t0_fresh = 1;
	memset(&c->last, 0, sizeof c->last);
}

uint32_t cas_card_serial(const struct cas_card_chip *c)
{
	return c->p.life == CAS_CARD_BLANK ? 0 : cas_be32(c->p.bin);
}

enum cas_card_life cas_card_life(const struct cas_card_chip *c)
{
	return (enum cas_card_life)c->p.life;
}

const struct cas_card_report *cas_card_last(const struct cas_card_chip *c)
{
	return &c->last;
}

int cas_card_dirty(const struct cas_card_chip *c)
{
	return c->dirty;
}

void cas_card_clear_dirty(struct cas_card_chip *c)
{
	c->dirty = 0;
}

void cas_card_set_dirty_hook(struct cas_card_chip *c, void (*fn)(void *ctx), void *ctx)
{
	c->on_dirty = fn;
	c->dirty_ctx = ctx;
}

/* ---- anti-sharing ---- */

/* A 32-bit fingerprint of a CW (FNV-1a): enough to chain the ECMs of one
 * stream, and what the state holds instead of the CW. */
static uint32_t cw_fp(const uint8_t cw[8])
{
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < 8; i++) {
		h ^= cw[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t stream_tail(const struct cas_card_stream *s)
{
	return 2 * s->cp + 2;
}

/* Does stream s count as an open channel at clock now? */
static int stream_counts(const struct cas_card_chip *c, const struct cas_card_stream *s,
			 uint32_t now)
{
	if (!s->used || s->links == 0)
		return 0;
	uint32_t age = s->last - s->first;
	uint32_t need = c->opt.min_age;
	if (s->cp <= UINT32_MAX / 3 && 3 * s->cp > need)
		need = 3 * s->cp;
	if (age < need)
		return 0;
	/* still alive: its next ECM is due by last + cp, allow one more */
	return now <= s->last || now - s->last <= stream_tail(s);
}

/* Records one ECM that passed every other check; returns 1 if the card
 * must block now. */
static int track_ecm(struct cas_card_chip *c, uint32_t t, const uint8_t cw_odd[8],
		     const uint8_t cw_even[8])
{
	struct cas_card_persist *p = &c->p;
	uint32_t fo = cw_fp(cw_odd), fe = cw_fp(cw_even);
	struct cas_card_stream *cur = NULL;

	for (unsigned i = 0; i < CAS_CARD_STREAMS && cur == NULL; i++) {
		struct cas_card_stream *s = &p->streams[i];
		if (s->used && s->fp[0] == fo && s->fp[1] == fe)
			cur = s;		/* the same ECM again */
	}
	for (unsigned i = 0; i < CAS_CARD_STREAMS && cur == NULL; i++) {
		struct cas_card_stream *s = &p->streams[i];
		if (!s->used || !(s->fp[0] == fo || s->fp[1] == fe || s->fp[0] == fe || s->fp[1] == fo))
			continue;
		cur = s;
		if (t > s->last) {		/* the next CP of this stream */
			s->cp = t - s->last;
			s->last = t;
			s->fp[0] = fo;
			s->fp[1] = fe;
			if (s->links < 255)
				s->links++;
		}				/* else a late ECM of an earlier CP */
	}
	if (cur == NULL) {
		/* a new stream: a free slot, else the one heard from longest ago */
		unsigned victim = 0;
		for (unsigned i = 0; i < CAS_CARD_STREAMS; i++) {
			if (!p->streams[i].used) {
				victim = i;
				break;
			}
			if (p->streams[i].last < p->streams[victim].last)
				victim = i;
		}
		cur = &p->streams[victim];
		memset(cur, 0, sizeof *cur);
		cur->used = 1;
		cur->fp[0] = fo;
		cur->fp[1] = fe;
		cur->first = t;
		cur->last = t;
	}

	uint32_t now = p->clock;
	unsigned open = 0;
	for (unsigned i = 0; i < CAS_CARD_STREAMS; i++)
		open += (unsigned)stream_counts(c, &p->streams[i], now);
	if (open <= c->opt.max_channels) {
		p->excess = 0;
		return 0;
	}
	if (!p->excess) {
		p->excess = 1;
		p->excess_since = now;
		return 0;
	}
	return now - p->excess_since >= c->opt.sustain;
}

static void block_start(struct cas_card_chip *c)
{
	c->p.blocked = 1;
	c->p.block_time = c->p.clock;
	clear_tracker(&c->p);
	c->last.block_started = 1;
	mark_dirty(c);
}

static void block_end(struct cas_card_chip *c)
{
	c->p.blocked = 0;
	c->p.block_time = 0;
	clear_tracker(&c->p);
	c->last.block_ended = 1;
	mark_dirty(c);
}

/* ---- ECM ---- */

enum cas_card_event cas_card_ecm(struct cas_card_chip *c, const uint8_t *sec, size_t len,
				 uint8_t cw_odd[8], uint8_t cw_even[8])
{
	struct cas_card_persist *p = &c->p;
	struct cas_tvcas3_ecm_key k;
	struct cas_tvcas3_ecm e;
	enum cas_card_event ev;

	memset(cw_odd, 0, 8);
	memset(cw_even, 0, 8);
	if (p->life == CAS_CARD_BLANK)
		return CAS_CARD_EV_NOT_ALLOWED;
	if (len > 0)
		c->last.table = sec[0];
	/* The key schedules live only for this ECM: no expanded key in the
	 * card's RAM between commands (a few microseconds per ECM). */
	cas_tvcas3_ecm_key_init(&k, p->bin + 42);
	int rc = cas_tvcas3_ecm_parse(&k, sec, len, &e);
	wipe(&k, sizeof k);
	if (rc == CAS_TVCAS3_EFORMAT)
		return CAS_CARD_EV_ECM_FORMAT;
	c->ecm_count++;
	if (rc != CAS_TVCAS3_OK) {
		ev = CAS_CARD_EV_ECM_CHECKSUM;
		goto out;
	}
	c->last.time = e.time;

	/* The card's only clock is the ECM time (tvcas3.md §2.3). */
	if (e.time > p->clock)
		p->clock = e.time;
	if (p->blocked && p->clock - p->block_time >= c->opt.block_seconds)
		block_end(c);

	/* tvcas3.md §2.3, strict and unsigned */
	if (!(p->start < e.time)) {
		ev = CAS_CARD_EV_ECM_NOT_STARTED;
		goto out;
	}
	if (!(e.time < p->finish)) {
		ev = CAS_CARD_EV_ECM_EXPIRED;
		goto out;
	}
	if ((p->ac & e.ac) == 0) {
		ev = CAS_CARD_EV_ECM_NO_PACKAGE;
		goto out;
	}
	if (p->pair) {
		if (!c->host_known) {
			ev = CAS_CARD_EV_ECM_NO_HOST;
			goto out;
		}
		if (!p->bound) {
			/* the first host that uses a paired card gets it */
			memcpy(p->cam_id, c->host_id, 3);
			p->bound = 1;
			mark_dirty(c);
		} else if (!ct_equal(p->cam_id, c->host_id, 3)) {
			ev = CAS_CARD_EV_ECM_OTHER_HOST;
			goto out;
		}
	}
	if (p->blocked) {
		ev = CAS_CARD_EV_ECM_BLOCKED;
		goto out;
	}
	if (p->protect && track_ecm(c, e.time, e.cw_odd, e.cw_even)) {
		block_start(c);
		ev = CAS_CARD_EV_ECM_BLOCK_START;
		goto out;
	}
	memcpy(cw_odd, e.cw_odd, 8);
	memcpy(cw_even, e.cw_even, 8);
	ev = CAS_CARD_EV_ECM_OK;
out:
	wipe(&e, sizeof e);
	return ev;
}

/* ---- EMM ---- */

/* Binds to the current host if the TVCAS rule says so (tvcas3.md §6 EMM
 * step 6): pair off, or nothing stored yet. */
static int capture_host(struct cas_card_chip *c)
{
	struct cas_card_persist *p = &c->p;
	if (!c->host_known || (p->pair && p->bound))
		return 0;
	if (p->bound && memcmp(p->cam_id, c->host_id, 3) == 0)
		return 0;
	memcpy(p->cam_id, c->host_id, 3);
	p->bound = 1;
	return 1;
}

enum cas_card_event cas_card_emm(struct cas_card_chip *c, const uint8_t *sec, size_t len)
{
	struct cas_card_persist *p = &c->p;
	struct cas_tvcas3_emm e;
	uint32_t addr;

	if (p->life == CAS_CARD_BLANK)
		return CAS_CARD_EV_NOT_ALLOWED;
	if (cas_tvcas3_emm_address(sec, len, &addr) != CAS_TVCAS3_OK)
		return CAS_CARD_EV_EMM_FORMAT;
	c->last.serial = addr;
	if (addr != cas_be32(p->bin))
		return CAS_CARD_EV_EMM_OTHER_CARD;
	int rc = cas_tvcas3_emm_parse(p->bin + 74, sec, len, &e);
	if (rc == CAS_TVCAS3_EFORMAT) {
		wipe(&e, sizeof e);
		return CAS_CARD_EV_EMM_FORMAT;
	}
	if (rc != CAS_TVCAS3_OK) {
		/* a corrupt EMM changes nothing (both sums checked, tvcas3.md §1) */
		wipe(&e, sizeof e);
		return CAS_CARD_EV_EMM_CORRUPT;
	}

	int changed = 0;
#define SET(field, value) do { if ((field) != (value)) { (field) = (value); changed = 1; } } while (0)
	SET(p->ac, e.ac);
	SET(p->start, e.start);
	SET(p->finish, e.finish_plus1);		/* effective rule start < t <= DB finish */
	SET(p->pair, (uint8_t)(e.pair != 0));
	SET(p->protect, (uint8_t)(e.protect != 0));
#undef SET
	if (memcmp(p->cdate_start, e.cdate_start, 2) != 0 ||
	    memcmp(p->cdate_finish, e.cdate_finish, 2) != 0) {
		memcpy(p->cdate_start, e.cdate_start, 2);
		memcpy(p->cdate_finish, e.cdate_finish, 2);
		changed = 1;
	}
	if (capture_host(c))
		changed = 1;
	if (!p->protect) {
		/* counter disabled (tvcas3.md §6.3): no block, no tracking */
		if (p->blocked)
			block_end(c);
		clear_tracker(p);
	}
	/* diagnostics shown in the subscription record; not worth a write */
	p->emm_count++;
	p->emm_sum_calc = cas_tvcas3_sum8(e.pt, 47);
	p->emm_sum_recv = e.pt[47];
	wipe(&e, sizeof e);
	if (changed) {
		mark_dirty(c);
		return CAS_CARD_EV_EMM_APPLIED;
	}
	return CAS_CARD_EV_EMM_UNCHANGED;
}

/* ---- APDU layer ---- */

struct rsp {
	uint8_t *p;
	size_t cap;
	size_t n;
};

static size_t finish(struct cas_card_chip *c, struct rsp *r, uint16_t sw)
{
	if (r->n + 2 > r->cap)
		r->n = 0;	/* cannot happen with cap >= CAS_CARD_RESP_MAX */
	r->p[r->n++] = (uint8_t)(sw >> 8);
	r->p[r->n++] = (uint8_t)sw;
	c->last.sw = sw;
	return r->n;
}

/* Queues an answer for DD CA and returns its 98 LL. */
static uint16_t queue(struct cas_card_chip *c, const struct cas_wbuf *w)
{
	if (cas_wbuf_error(w) || w->len == 0 || w->len > CAS_CARD_PENDING_MAX)
		return SW_INTERNAL;
	c->pending_len = (uint8_t)w->len;
	c->pending_pos = 0;
	return (uint16_t)SW_MORE(w->len);
}

static uint16_t do_info(struct cas_card_chip *c)
{
	/* tvcas3.md §6: card version 0x40, CAID 0B cc, 2F 02 00 2C, maturity,
	 * 23 01 02 */
	struct cas_wbuf w;
	cas_wbuf_init(&w, c->pending, sizeof c->pending);
	static const uint8_t head[] = { 0x20, 0x01, 0x40, 0x28, 0x02, 0x0B };
	cas_wbuf_put_bytes(&w, head, sizeof head);
	cas_wbuf_put_u8(&w, c->p.bin[4]);
	static const uint8_t mid[] = { 0x2F, 0x02, 0x00, 0x2C, 0x30, 0x01 };
	cas_wbuf_put_bytes(&w, mid, sizeof mid);
	cas_wbuf_put_u8(&w, c->p.maturity);
	static const uint8_t tail[] = { 0x23, 0x01, 0x02 };
	cas_wbuf_put_bytes(&w, tail, sizeof tail);
	c->last.ev = CAS_CARD_EV_INFO;
	return queue(c, &w);
}

static uint16_t do_addr(struct cas_card_chip *c, const uint8_t *d, size_t lc)
{
	if (lc == LC_FORBIS_PROBE) {
		c->last.ev = CAS_CARD_EV_OTHER;
		return SW_OK;
	}
	if (lc >= 17) {
		memcpy(c->host_id, d + 14, 3);
		c->host_known = 1;
	} else {
		memset(c->host_id, 0, 3);
		c->host_known = 0;
	}
	/* tvcas3.md §6: 22 18 | 09 04 0B cc h0 h1 | 23 07 00 00 00 SN |
	 * 23 07 00 00 00 00 SA: OSCam reads UA = SN, SA = 00 SA(3) */
	struct cas_wbuf w;
	cas_wbuf_init(&w, c->pending, sizeof c->pending);
	static const uint8_t head[] = { 0x22, 0x18, 0x09, 0x04, 0x0B };
	cas_wbuf_put_bytes(&w, head, sizeof head);
	cas_wbuf_put_u8(&w, c->p.bin[4]);
	cas_wbuf_put_bytes(&w, c->host_id, 2);
	static const uint8_t ua[] = { 0x23, 0x07, 0x00, 0x00, 0x00 };
	cas_wbuf_put_bytes(&w, ua, sizeof ua);
	cas_wbuf_put_bytes(&w, c->p.bin, 4);
	static const uint8_t sa[] = { 0x23, 0x07, 0x00, 0x00, 0x00, 0x00 };
	cas_wbuf_put_bytes(&w, sa, sizeof sa);
	cas_wbuf_put_bytes(&w, c->p.bin + 5, 3);
	c->last.ev = CAS_CARD_EV_ADDR;
	return queue(c, &w);
}

static uint16_t do_subs(struct cas_card_chip *c)
{
	/* The 49-byte record of tvcas3.md §6: package 1010, the name (last
	 * byte '+' when paired, "CARD BLOCKED" when blocked), start and end
	 * dates with the class mask, then the same dates with the diagnostic
	 * counters in place of a second class. */
	const struct cas_card_persist *p = &c->p;
	uint8_t name[15];
	if (p->blocked) {
		memcpy(name, "CARD BLOCKED   ", 15);
	} else {
		memcpy(name, p->bin + 8, 15);
		if (p->pair)
			name[14] = '+';
	}
	struct cas_wbuf w;
	cas_wbuf_init(&w, c->pending, sizeof c->pending);
	static const uint8_t head[] = { 0x32, 0x2F, 0x10, 0x10, 0x01, 0x0F };
	cas_wbuf_put_bytes(&w, head, sizeof head);
	cas_wbuf_put_bytes(&w, name, sizeof name);
	for (int round = 0; round < 2; round++) {
		cas_wbuf_put_u8(&w, 0x30);
		cas_wbuf_put_u8(&w, 0x02);
		cas_wbuf_put_bytes(&w, p->cdate_start, 2);
		cas_wbuf_put_u8(&w, 0x30);
		cas_wbuf_put_u8(&w, 0x02);
		cas_wbuf_put_bytes(&w, p->cdate_finish, 2);
		cas_wbuf_put_u8(&w, 0x20);
		cas_wbuf_put_u8(&w, 0x04);
		if (round == 0) {
			cas_wbuf_put_u32(&w, p->ac);
		} else {
			cas_wbuf_put_u8(&w, p->emm_count);
			cas_wbuf_put_u8(&w, p->emm_sum_calc);
			cas_wbuf_put_u8(&w, p->emm_sum_recv);
			cas_wbuf_put_u8(&w, c->ecm_count);
		}
	}
	c->last.ev = CAS_CARD_EV_SUBS;
	return queue(c, &w);
}

static uint16_t deny(struct cas_card_chip *c)
{
	if (c->opt.deny == CAS_CARD_DENY_9012)
		return SW_DENIED;
	struct cas_wbuf w;
	cas_wbuf_init(&w, c->pending, sizeof c->pending);
	cas_wbuf_put_u32(&w, 0x31020000);	/* "no access" (tvcas3.md §2.4) */
	return queue(c, &w);
}

static uint16_t do_ecm(struct cas_card_chip *c, const uint8_t *v, size_t vlen)
{
	uint8_t odd[8], even[8];
	enum cas_card_event ev;
	/* v = PP (mode byte, ignored as the TVCAS card does) + ECM section */
	if (vlen < 1)
		ev = CAS_CARD_EV_ECM_FORMAT;
	else
		ev = cas_card_ecm(c, v + 1, vlen - 1, odd, even);
	c->last.ev = ev;
	if (ev != CAS_CARD_EV_ECM_OK) {
		wipe(odd, 8);
		wipe(even, 8);
		return deny(c);
	}
	/* tvcas3.md §2.4: IDX 1 = odd CW first, then IDX 0 = even, then 31 02 40 00 */
	struct cas_wbuf w;
	cas_wbuf_init(&w, c->pending, sizeof c->pending);
	static const uint8_t rec_odd[] = { 0x25, 0x0D, 0x00, 0x00, 0x01, 0x00, 0x00 };
	static const uint8_t rec_even[] = { 0x25, 0x0D, 0x00, 0x00, 0x00, 0x00, 0x00 };
	cas_wbuf_put_bytes(&w, rec_odd, sizeof rec_odd);
	cas_wbuf_put_bytes(&w, odd, 8);
	cas_wbuf_put_bytes(&w, rec_even, sizeof rec_even);
	cas_wbuf_put_bytes(&w, even, 8);
	cas_wbuf_put_u32(&w, 0x31024000);
	wipe(odd, 8);
	wipe(even, 8);
	return queue(c, &w);
}

static uint16_t do_emm(struct cas_card_chip *c, const uint8_t *v, size_t vlen)
{
	c->last.ev = cas_card_emm(c, v, vlen);
	/* The TVCAS card answers 90 00 to every EMM; OSCam counts an EMM as
	 * written only on 90 00, and a CAM should not retry a foreign one. */
	return SW_OK;
}

static uint16_t do_pin(struct cas_card_chip *c, uint8_t tag, const uint8_t *v, size_t vlen)
{
	struct cas_card_persist *p = &c->p;
	switch (tag) {
	case TAG_PIN:		/* 1D 05 01 PIN(4) (conax-card.md §2.9) */
		if (vlen < 5 || !ct_equal(v + 1, p->pin, 4))
			goto wrong;
		c->last.ev = CAS_CARD_EV_PIN_OK;
		return SW_OK;
	case TAG_PIN_CHANGE:	/* 1E 08 old(4) new(4) */
		if (vlen < 8 || !ct_equal(v, p->pin, 4))
			goto wrong;
		if (memcmp(p->pin, v + 4, 4) != 0) {
			memcpy(p->pin, v + 4, 4);
			mark_dirty(c);
		}
		c->last.ev = CAS_CARD_EV_PIN_CHANGED;
		return SW_OK;
	default:		/* 1F 05 PIN(4) level */
		if (vlen < 5 || !ct_equal(v, p->pin, 4))
			goto wrong;
		if (p->maturity != v[4]) {
			p->maturity = v[4];
			mark_dirty(c);
		}
		c->last.ev = CAS_CARD_EV_MATURITY;
		return SW_OK;
	}
wrong:
	c->last.ev = CAS_CARD_EV_PIN_WRONG;
	return SW_PIN_WRONG;
}

/* A data-carrying Conax command: dispatched on its first nano, whatever
 * the INS (tvcas3.md §6 "The card dispatches on the nano tag"). */
static uint16_t do_conax(struct cas_card_chip *c, const uint8_t *d, size_t lc)
{
	struct cas_buf b;
	cas_buf_init(&b, d, lc);
	uint8_t tag = cas_buf_get_u8(&b);
	uint8_t nlen = cas_buf_get_u8(&b);
	const uint8_t *v = cas_buf_get_ptr(&b, nlen);
	if (cas_buf_error(&b)) {
		c->last.ev = CAS_CARD_EV_BAD_APDU;
		return SW_WRONG_LENGTH;
	}
	switch (tag) {
	case TAG_INFO:
		return do_info(c);
	case TAG_ADDR:
		return do_addr(c, d, lc);
	case TAG_EMM:
		return do_emm(c, v, nlen);
	case TAG_ECM:
		return do_ecm(c, v, nlen);
	case TAG_SUBS:
		if (nlen >= 1 && v[0] == 0x00)
			return do_subs(c);
		c->last.ev = CAS_CARD_EV_OTHER;	/* PPV list: no events */
		return SW_OK;
	case TAG_PIN:
	case TAG_PIN_CHANGE:
	case TAG_MATURITY:
		return do_pin(c, tag, v, nlen);
	case TAG_SERIAL: {
		struct cas_wbuf w;
		cas_wbuf_init(&w, c->pending, sizeof c->pending);
		cas_wbuf_put_u8(&w, 0x74);
		cas_wbuf_put_u8(&w, 0x04);
		cas_wbuf_put_bytes(&w, c->p.bin, 4);
		c->last.ev = CAS_CARD_EV_INFO;
		return queue(c, &w);
	}
	default:
		/* pairing probe 6C, CAM menus 15/66/1B, ...: acknowledged */
		c->last.ev = CAS_CARD_EV_OTHER;
		return SW_OK;
	}
}

static uint16_t do_read_pending(struct cas_card_chip *c, uint8_t le, struct rsp *r)
{
	size_t left = (size_t)c->pending_len - c->pending_pos;
	if (left == 0) {
		c->last.ev = CAS_CARD_EV_NOT_ALLOWED;
		return SW_NOT_ALLOWED;
	}
	if (le == 0 || le > left) {
		c->last.ev = CAS_CARD_EV_BAD_APDU;
		return (uint16_t)SW_LE(left);
	}
	memcpy(r->p + r->n, c->pending + c->pending_pos, le);
	r->n += le;
	c->pending_pos = (uint8_t)(c->pending_pos + le);
	left -= le;
	c->last.ev = CAS_CARD_EV_READ;
	if (left > 0)
		return (uint16_t)SW_MORE(left);
	wipe(c->pending, sizeof c->pending);	/* may have held CWs */
	c->pending_len = 0;
	c->pending_pos = 0;
	return SW_OK;
}

/* ---- personalisation ---- */

static unsigned written_count(const struct cas_card_persist *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < CAS_CARD_BIN_LEN; i++)
		n += (p->written[i / 8] >> (i % 8)) & 1u;
	return n;
}

static uint16_t do_write(struct cas_card_chip *c, uint8_t p1, uint8_t off, const uint8_t *d,
			 size_t n)
{
	struct cas_card_persist *p = &c->p;
	if (p->life == CAS_CARD_LOCKED) {
		c->last.ev = CAS_CARD_EV_REFUSED;
		return SW_SECURITY;
	}
	if (p1 != 0 || (size_t)off + n > CAS_CARD_BIN_LEN) {
		c->last.ev = CAS_CARD_EV_BAD_APDU;
		return SW_BAD_OFFSET;
	}
	memcpy(p->bin + off, d, n);
	for (size_t i = off; i < off + n; i++)
		p->written[i / 8] |= (uint8_t)(1u << (i % 8));
	mark_dirty(c);
	c->last.ev = CAS_CARD_EV_PERSO_WRITE;
	if (written_count(p) < CAS_CARD_BIN_LEN)
		return SW_OK;
	if (!bin_valid(p->bin)) {
		/* keep the bytes: the writer can correct them */
		p->life = CAS_CARD_BLANK;
		c->last.ev = CAS_CARD_EV_PERSO_INVALID;
		return SW_BAD_DATA;
	}
	/* Complete: the card works from now on, and every later write before
	 * LOCK re-personalises it. */
	p->life = CAS_CARD_OPEN;
	apply_bin(c);
	c->last.ev = CAS_CARD_EV_PERSONALISED;
	return SW_OK;
}

static uint16_t do_read_bin(struct cas_card_chip *c, uint8_t p1, uint8_t off, uint8_t le,
			    struct rsp *r)
{
	size_t n = le == 0 ? 256 : le;
	if (p1 != 0 || off + n > CAS_CARD_BIN_LEN) {
		c->last.ev = CAS_CARD_EV_BAD_APDU;
		return SW_BAD_OFFSET;
	}
	if (c->p.life == CAS_CARD_LOCKED && off + n > CAS_CARD_BIN_PUBLIC) {
		c->last.ev = CAS_CARD_EV_REFUSED;	/* the keys never leave a locked card */
		return SW_SECURITY;
	}
	memcpy(r->p + r->n, c->p.bin + off, n);
	r->n += n;
	c->last.ev = CAS_CARD_EV_PERSO_READ;
	return SW_OK;
}

static uint16_t do_lock(struct cas_card_chip *c)
{
	if (c->p.life == CAS_CARD_BLANK) {
		c->last.ev = CAS_CARD_EV_NOT_ALLOWED;
		return SW_NOT_ALLOWED;
	}
	if (c->p.life != CAS_CARD_LOCKED) {
		c->p.life = CAS_CARD_LOCKED;
		mark_dirty(c);
	}
	c->last.ev = CAS_CARD_EV_LOCKED;
	return SW_OK;
}

static uint16_t do_erase(struct cas_card_chip *c)
{
	if (c->p.life == CAS_CARD_LOCKED && c->p.protect) {
		c->last.ev = CAS_CARD_EV_REFUSED;
		return SW_SECURITY;
	}
	struct cas_card_options opt = c->opt;
	void (*fn)(void *) = c->on_dirty;
	void *ctx = c->dirty_ctx;
	cas_card_init_blank(c);
	c->opt = opt;
	c->on_dirty = fn;
	c->dirty_ctx = ctx;
	c->t0_fresh = 0;
	mark_dirty(c);
	c->last.ins = CAS_CARD_INS_ERASE;
	c->last.ev = CAS_CARD_EV_ERASED;
	return SW_OK;
}

static uint16_t do_status(struct cas_card_chip *c, uint8_t le, struct rsp *r)
{
	if (le != CAS_CARD_STATUS_LEN) {
		c->last.ev = CAS_CARD_EV_BAD_APDU;
		return (uint16_t)SW_LE(CAS_CARD_STATUS_LEN);
	}
	const struct cas_card_persist *p = &c->p;
	uint8_t *o = r->p + r->n;
	uint8_t flags = 0;
	if (p->life != CAS_CARD_BLANK) {
		flags |= p->protect ? CAS_CARD_ST_PROTECT : 0;
		flags |= p->pair ? CAS_CARD_ST_PAIR : 0;
		flags |= p->blocked ? CAS_CARD_ST_BLOCKED : 0;
		flags |= p->bound ? CAS_CARD_ST_BOUND : 0;
	}
	o[0] = CAS_CARD_STATUS_VERSION;
	o[1] = p->life;
	o[2] = flags;
	o[3] = (uint8_t)written_count(p);
	if (p->life == CAS_CARD_BLANK)
		memset(o + 4, 0, 4);
	else
		memcpy(o + 4, p->bin, 4);
	r->n += CAS_CARD_STATUS_LEN;
	c->last.ev = CAS_CARD_EV_STATUS;
	return SW_OK;
}

static uint16_t do_selftest(struct cas_card_chip *c)
{
	struct cas_tdes_key k;
	uint8_t out[8];
	cas_tdes_set_key2(&k, SELFTEST_KEY);
	cas_tdes_decrypt_block(&k, SELFTEST_CT, out);
	int ok = memcmp(out, SELFTEST_PT, 8) == 0;
	wipe(&k, sizeof k);
	c->last.ev = CAS_CARD_EV_SELFTEST;
	return ok ? SW_OK : SW_INTERNAL;
}

enum cas_card_case cas_card_ins_case(uint8_t cla, uint8_t ins)
{
	if (cla != CAS_CARD_CLA)
		return CAS_CARD_CASE_NONE;
	switch (ins) {
	case 0x26: case 0x82: case 0x84: case 0xA2: case 0xB2: case 0xC2:
	case 0xC4: case 0xC6: case 0xC8: case CAS_CARD_INS_WRITE:
		return CAS_CARD_CASE_IN;
	case 0xCA: case CAS_CARD_INS_READ: case CAS_CARD_INS_STATUS:
		return CAS_CARD_CASE_OUT;
	default:
		return CAS_CARD_CASE_NONE;
	}
}

size_t cas_card_apdu(struct cas_card_chip *c, const uint8_t *apdu, size_t len,
		     uint8_t *resp, size_t cap)
{
	struct rsp r = { resp, cap, 0 };
	uint16_t sw;

	if (cap < 2)
		return 0;
	memset(&c->last, 0, sizeof c->last);
	c->last.ev = CAS_CARD_EV_BAD_APDU;
	if (len < 4)
		return finish(c, &r, SW_WRONG_LENGTH);
	uint8_t cla = apdu[0], ins = apdu[1], p1 = apdu[2], p2 = apdu[3];
	uint8_t p3 = len >= 5 ? apdu[4] : 0;
	const uint8_t *data = apdu + 5;
	c->last.ins = ins;
	if (cla != CAS_CARD_CLA)
		return finish(c, &r, SW_BAD_CLA);

	enum cas_card_case cs = cas_card_ins_case(cla, ins);
	int known = cs != CAS_CARD_CASE_NONE || ins == CAS_CARD_INS_LOCK ||
		    ins == CAS_CARD_INS_ERASE || ins == 0x99 || ins == 0x11;
	if (!known)
		return finish(c, &r, SW_BAD_INS);
	if ((cs == CAS_CARD_CASE_IN && len != 5 + (size_t)p3 && !(len == 4 && p3 == 0)) ||
	    (cs == CAS_CARD_CASE_OUT && len != 5) ||
	    (cs == CAS_CARD_CASE_NONE && (len > 5 || p3 != 0)))
		return finish(c, &r, SW_WRONG_LENGTH);
	if (cs == CAS_CARD_CASE_OUT && cap < 2 + (size_t)(p3 == 0 ? 256 : p3))
		return finish(c, &r, SW_WRONG_LENGTH);

	int perso = ins >= CAS_CARD_INS_WRITE && ins <= CAS_CARD_INS_STATUS;
	if (c->p.life == CAS_CARD_BLANK && !perso) {
		c->last.ev = CAS_CARD_EV_NOT_ALLOWED;
		return finish(c, &r, SW_NOT_ALLOWED);
	}
	if (ins == 0xCA) {
		sw = do_read_pending(c, p3, &r);
		return finish(c, &r, sw);
	}
	/* any other command replaces the answer waiting for DD CA */
	wipe(c->pending, sizeof c->pending);
	c->pending_len = 0;
	c->pending_pos = 0;

	switch (ins) {
	case CAS_CARD_INS_WRITE:
		sw = p3 == 0 ? SW_WRONG_LENGTH : do_write(c, p1, p2, data, p3);
		break;
	case CAS_CARD_INS_READ:
		sw = do_read_bin(c, p1, p2, p3, &r);
		break;
	case CAS_CARD_INS_LOCK:
		sw = do_lock(c);
		break;
	case CAS_CARD_INS_ERASE:
		sw = do_erase(c);
		break;
	case CAS_CARD_INS_STATUS:
		sw = do_status(c, p3, &r);
		break;
	case 0x11:
		sw = do_selftest(c);
		break;
	case 0x99:
		c->last.ev = CAS_CARD_EV_OTHER;
		sw = SW_OK;
		break;
	default:		/* a Conax data-carrying command */
		if (p3 == 0) {
			c->last.ev = CAS_CARD_EV_OTHER;
			sw = SW_OK;
		} else {
			sw = do_conax(c, data, p3);
		}
		break;
	}
	return finish(c, &r, sw);
}

/* ---- T=0 byte engine ---- */

size_t cas_card_t0_reset(struct cas_card_chip *c, uint8_t *out, size_t cap)
{
	cas_card_reset(c);
	if (cap < CAS_CARD_ATR_LEN)
		return 0;
	memcpy(out, cas_card_atr, CAS_CARD_ATR_LEN);
	return CAS_CARD_ATR_LEN;
}

int cas_card_t0_idle(const struct cas_card_chip *c)
{
	return c->t0_state == T0_HDR && c->t0_n == 0;
}

static size_t t0_run(struct cas_card_chip *c, size_t len, uint8_t *out, size_t cap)
{
	uint8_t resp[CAS_CARD_RESP_MAX];
	size_t n = cas_card_apdu(c, c->t0_buf, len, resp, sizeof resp);
	size_t o = 0;
	if (n > 2) {
		/* CASE_OUT with data: ACK, data, SW */
		if (1 + n > cap)
			return 0;
		out[o++] = c->t0_buf[1];
	}
	if (o + n > cap)
		return 0;
	memcpy(out + o, resp, n);
	wipe(resp, sizeof resp);
	c->t0_state = T0_HDR;
	c->t0_n = 0;
	return o + n;
}

size_t cas_card_t0_rx(struct cas_card_chip *c, uint8_t byte, uint8_t *out, size_t cap)
{
	if (c->t0_state == T0_PPS) {
		/* ISO 7816-3 §9: FF PPS0 [PPS1..3] PCK */
		c->t0_buf[c->t0_n++] = byte;
		if (c->t0_n == 2) {
			uint8_t y = c->t0_buf[1] >> 4;
			c->t0_need = (uint8_t)(3 + (y & 1) + ((y >> 1) & 1) + ((y >> 2) & 1));
		}
		if (c->t0_n < 2 || c->t0_n < c->t0_need)
			return 0;
		uint8_t x = 0;
		for (unsigned i = 0; i < c->t0_n; i++)
			x ^= c->t0_buf[i];
		uint8_t pps0 = c->t0_buf[1];
		c->t0_state = T0_HDR;
		c->t0_n = 0;
		if (x != 0 || cap < 3)
			return 0;	/* a bad PCK gets silence: the host resets */
		/* keep T and drop PPS1: the default F/D, 9600 baud */
		out[0] = 0xFF;
		out[1] = (uint8_t)(pps0 & 0x0F);
		out[2] = (uint8_t)(0xFF ^ out[1]);
		return 3;
	}
	if (c->t0_state == T0_DATA) {
		c->t0_buf[c->t0_n++] = byte;
		if (c->t0_n < 5 + c->t0_need)
			return 0;
		return t0_run(c, c->t0_n, out, cap);
	}
	/* T0_HDR */
	if (c->t0_n == 0 && byte == 0xFF && c->t0_fresh) {
		c->t0_state = T0_PPS;
		c->t0_buf[0] = byte;
		c->t0_n = 1;
		c->t0_need = 0;
		return 0;
	}
	c->t0_buf[c->t0_n++] = byte;
	if (c->t0_n < 5)
		return 0;
	c->t0_fresh = 0;
	uint8_t p3 = c->t0_buf[4];
	if (cas_card_ins_case(c->t0_buf[0], c->t0_buf[1]) == CAS_CARD_CASE_IN && p3 > 0) {
		if (cap < 1)
			return 0;
		/* ACK with exactly INS (conax-card.md §1.3) and take all P3 bytes */
		c->t0_state = T0_DATA;
		c->t0_need = p3;
		out[0] = c->t0_buf[1];
		return 1;
	}
	return t0_run(c, 5, out, cap);
}

/* ---- persistent image ---- */

#define IMAGE_MAGIC 0x46434331u		/* "FCC1" */
#define IMAGE_VERSION 1

static uint32_t crc32(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

size_t cas_card_save(const struct cas_card_chip *c, uint8_t *out, size_t cap)
{
	const struct cas_card_persist *p = &c->p;
	struct cas_wbuf w;
	if (cap < CAS_CARD_IMAGE_LEN)
		return 0;
	cas_wbuf_init(&w, out, CAS_CARD_IMAGE_LEN);
	cas_wbuf_put_u32(&w, IMAGE_MAGIC);
	cas_wbuf_put_u8(&w, IMAGE_VERSION);
	cas_wbuf_put_u8(&w, p->life);
	cas_wbuf_put_bytes(&w, p->bin, sizeof p->bin);
	cas_wbuf_put_bytes(&w, p->written, sizeof p->written);
	cas_wbuf_put_u32(&w, p->start);
	cas_wbuf_put_u32(&w, p->finish);
	cas_wbuf_put_u32(&w, p->ac);
	cas_wbuf_put_bytes(&w, p->cdate_start, 2);
	cas_wbuf_put_bytes(&w, p->cdate_finish, 2);
	cas_wbuf_put_u8(&w, p->pair);
	cas_wbuf_put_u8(&w, p->protect);
	cas_wbuf_put_u8(&w, p->bound);
	cas_wbuf_put_bytes(&w, p->cam_id, 3);
	cas_wbuf_put_bytes(&w, p->pin, 4);
	cas_wbuf_put_u8(&w, p->maturity);
	cas_wbuf_put_u8(&w, p->blocked);
	cas_wbuf_put_u32(&w, p->block_time);
	cas_wbuf_put_u32(&w, p->clock);
	cas_wbuf_put_u8(&w, p->emm_count);
	cas_wbuf_put_u8(&w, p->emm_sum_calc);
	cas_wbuf_put_u8(&w, p->emm_sum_recv);
	cas_wbuf_put_u8(&w, p->excess);
	cas_wbuf_put_u32(&w, p->excess_since);
	for (unsigned i = 0; i < CAS_CARD_STREAMS; i++) {
		const struct cas_card_stream *s = &p->streams[i];
		cas_wbuf_put_u32(&w, s->fp[0]);
		cas_wbuf_put_u32(&w, s->fp[1]);
		cas_wbuf_put_u32(&w, s->first);
		cas_wbuf_put_u32(&w, s->last);
		cas_wbuf_put_u32(&w, s->cp);
		cas_wbuf_put_u8(&w, s->links);
		cas_wbuf_put_u8(&w, s->used);
	}
	cas_wbuf_put_u32(&w, crc32(out, w.len));
	if (cas_wbuf_error(&w) || w.len != CAS_CARD_IMAGE_LEN)
		return 0;
	return w.len;
}

int cas_card_load(struct cas_card_chip *c, const uint8_t *in, size_t len)
{
	struct cas_card_persist p;
	struct cas_buf b;
	if (len != CAS_CARD_IMAGE_LEN || crc32(in, len - 4) != cas_be32(in + len - 4))
		return -1;
	memset(&p, 0, sizeof p);
	cas_buf_init(&b, in, len - 4);
	uint32_t magic = cas_buf_get_u32(&b);
	uint8_t version = cas_buf_get_u8(&b);
	p.life = cas_buf_get_u8(&b);
	cas_buf_get_bytes(&b, p.bin, sizeof p.bin);
	cas_buf_get_bytes(&b, p.written, sizeof p.written);
	p.start = cas_buf_get_u32(&b);
	p.finish = cas_buf_get_u32(&b);
	p.ac = cas_buf_get_u32(&b);
	cas_buf_get_bytes(&b, p.cdate_start, 2);
	cas_buf_get_bytes(&b, p.cdate_finish, 2);
	p.pair = cas_buf_get_u8(&b);
	p.protect = cas_buf_get_u8(&b);
	p.bound = cas_buf_get_u8(&b);
	cas_buf_get_bytes(&b, p.cam_id, 3);
	cas_buf_get_bytes(&b, p.pin, 4);
	p.maturity = cas_buf_get_u8(&b);
	p.blocked = cas_buf_get_u8(&b);
	p.block_time = cas_buf_get_u32(&b);
	p.clock = cas_buf_get_u32(&b);
	p.emm_count = cas_buf_get_u8(&b);
	p.emm_sum_calc = cas_buf_get_u8(&b);
	p.emm_sum_recv = cas_buf_get_u8(&b);
	p.excess = cas_buf_get_u8(&b);
	p.excess_since = cas_buf_get_u32(&b);
	for (unsigned i = 0; i < CAS_CARD_STREAMS; i++) {
		struct cas_card_stream *s = &p.streams[i];
		s->fp[0] = cas_buf_get_u32(&b);
		s->fp[1] = cas_buf_get_u32(&b);
		s->first = cas_buf_get_u32(&b);
		s->last = cas_buf_get_u32(&b);
		s->cp = cas_buf_get_u32(&b);
		s->links = cas_buf_get_u8(&b);
		s->used = cas_buf_get_u8(&b);
	}
	if (cas_buf_error(&b) || cas_buf_left(&b) != 0 || magic != IMAGE_MAGIC ||
	    version != IMAGE_VERSION || p.life > CAS_CARD_LOCKED ||
	    (p.life != CAS_CARD_BLANK && !bin_valid(p.bin))) {
		wipe(&p, sizeof p);
		return -1;
	}
	wipe(&c->p, sizeof c->p);
	c->p = p;
	wipe(&p, sizeof p);
	cas_card_reset(c);
	return 0;
}

/* ---- names for the host's log ---- */

static const char *const EVENT_NAMES[CAS_CARD_EV_COUNT] = {
	[CAS_CARD_EV_NONE] = "none",
	[CAS_CARD_EV_INFO] = "card info",
	[CAS_CARD_EV_ADDR] = "addresses",
	[CAS_CARD_EV_SUBS] = "subscriptions",
	[CAS_CARD_EV_READ] = "read",
	[CAS_CARD_EV_ECM_OK] = "ecm: cw released",
	[CAS_CARD_EV_ECM_FORMAT] = "ecm refused: not a TVCAS 3 ECM",
	[CAS_CARD_EV_ECM_CHECKSUM] = "ecm refused: bad checksum",
	[CAS_CARD_EV_ECM_NOT_STARTED] = "ecm refused: subscription not started",
	[CAS_CARD_EV_ECM_EXPIRED] = "ecm refused: subscription expired",
	[CAS_CARD_EV_ECM_NO_PACKAGE] = "ecm refused: package not subscribed",
	[CAS_CARD_EV_ECM_NO_HOST] = "ecm refused: paired card, host sent no id",
	[CAS_CARD_EV_ECM_OTHER_HOST] = "ecm refused: paired to another host",
	[CAS_CARD_EV_ECM_BLOCKED] = "ecm refused: card blocked",
	[CAS_CARD_EV_ECM_BLOCK_START] = "ecm refused: more channels than allowed, card blocked",
	[CAS_CARD_EV_EMM_APPLIED] = "emm applied",
	[CAS_CARD_EV_EMM_UNCHANGED] = "emm valid, nothing changed",
	[CAS_CARD_EV_EMM_OTHER_CARD] = "emm for another card",
	[CAS_CARD_EV_EMM_CORRUPT] = "emm ignored: corrupt",
	[CAS_CARD_EV_EMM_FORMAT] = "emm ignored: not a TVCAS 3 EMM",
	[CAS_CARD_EV_PIN_OK] = "pin ok",
	[CAS_CARD_EV_PIN_WRONG] = "wrong pin",
	[CAS_CARD_EV_PIN_CHANGED] = "pin changed",
	[CAS_CARD_EV_MATURITY] = "maturity level set",
	[CAS_CARD_EV_OTHER] = "acknowledged",
	[CAS_CARD_EV_PERSO_WRITE] = "personalisation write",
	[CAS_CARD_EV_PERSONALISED] = "personalised",
	[CAS_CARD_EV_PERSO_INVALID] = "personalisation refused: invalid BIN",
	[CAS_CARD_EV_PERSO_READ] = "personalisation read",
	[CAS_CARD_EV_LOCKED] = "locked",
	[CAS_CARD_EV_ERASED] = "erased",
	[CAS_CARD_EV_REFUSED] = "refused: card protected",
	[CAS_CARD_EV_STATUS] = "status",
	[CAS_CARD_EV_NOT_ALLOWED] = "not allowed in this state",
	[CAS_CARD_EV_BAD_APDU] = "bad command",
	[CAS_CARD_EV_SELFTEST] = "3des self-test",
};

const char *cas_card_event_name(enum cas_card_event ev)
{
	if ((unsigned)ev >= CAS_CARD_EV_COUNT || EVENT_NAMES[ev] == NULL)
		return "unknown";
	return EVENT_NAMES[ev];
}
