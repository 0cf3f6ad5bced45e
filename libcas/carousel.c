/* The EMM carousel and its pacer (see carousel.h). */
#include "carousel.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cdate.h"
#include "log.h"
#include "profile.h"
#include "rights.h"

#define F_USED 1u
#define F_BAD 2u	/* the profile cannot encode it: not sent */
#define F_REVOKED 4u	/* deleted from the database: sent with AC 0 */

struct slot {
	uint32_t serial;
	uint32_t ac;
	uint32_t start, finish;
	uint32_t until;		/* on air while now <= until (Unix seconds) */
	uint32_t blocked_until;
	uint32_t gen;		/* changes with every change of the card */
	uint8_t key[16];
	uint8_t status, pair, type, flags;
	uint8_t epoch;		/* of the full load that last listed it */
	uint8_t inq;		/* bit o: queued as changed for output o */
};

struct rep {
	uint32_t slot, gen;
	uint32_t left;		/* sends still to come, this one included */
	int64_t due_ms;
};

struct output {
	uint32_t *fresh;	/* ring of slot indices */
	size_t fhead, flen, fcap;
	struct rep *rep;	/* ring, due times in increasing order */
	size_t rhead, rlen, rcap;
	size_t cursor;		/* next slot of the background cycle */
	int64_t cycle_start_ms;	/* -1 before the first background send */
	int64_t bg_due_ms;	/* background waits for min_cycle until then */
	int64_t last_cycle_ms;
	uint64_t cycles;
};

struct cas_carousel {
	const struct cas_profile *profile;
	struct cas_carousel_params par;
	unsigned n_out;
	struct slot *slots;
	size_t nslots, cap_slots;
	uint32_t *freelist;
	size_t nfree, cap_free;
	size_t count;		/* slots in use */
	uint32_t *index;	/* open addressing, linear probing: slot + 1, 0 = empty */
	size_t index_cap;	/* power of two */
	uint32_t gen_counter;
	uint8_t epoch;
	struct output out[CAS_CAROUSEL_MAX_OUTPUTS];
};

static uint32_t clamp_u32(int64_t v)
{
	if (v < 0)
		return 0;
	if (v > (int64_t)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)v;
}

static int64_t floor_div_1000(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* ---- serial index ---- */

static size_t hash_serial(uint32_t serial, size_t mask)
{
	return (size_t)((serial * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static long index_find(const struct cas_carousel *c, uint32_t serial)
{
	if (c->index_cap == 0)
		return -1;
	size_t mask = c->index_cap - 1;
	for (size_t i = hash_serial(serial, mask);; i = (i + 1) & mask) {
		uint32_t v = c->index[i];
		if (v == 0)
			return -1;
		if (c->slots[v - 1].serial == serial)
			return (long)(v - 1);
	}
}

static void index_put(uint32_t *index, size_t cap, const struct slot *slots, uint32_t slot)
{
	size_t mask = cap - 1;
	size_t i = hash_serial(slots[slot].serial, mask);
	while (index[i] != 0)
		i = (i + 1) & mask;
	index[i] = slot + 1;
}

static int index_insert(struct cas_carousel *c, uint32_t slot)
{
	/* Load factor at most 1/2: short probes. */
	if ((c->count + 1) * 2 > c->index_cap) {
		size_t cap = c->index_cap ? c->index_cap * 2 : 1024;
		uint32_t *n = calloc(cap, sizeof *n);
		if (n == NULL)
			return -1;
		for (size_t i = 0; i < c->index_cap; i++)
			if (c->index[i] != 0)
				index_put(n, cap, c->slots, c->index[i] - 1);
		free(c->index);
		c->index = n;
		c->index_cap = cap;
	}
	index_put(c->index, c->index_cap, c->slots, slot);
	return 0;
}

/* Deletion with backward shift (no tombstones). */
static void index_remove(struct cas_carousel *c, uint32_t serial)
{
	size_t mask = c->index_cap - 1;
	size_t i = hash_serial(serial, mask);
	while (c->index[i] != 0 && c->slots[c->index[i] - 1].serial != serial)
		i = (i + 1) & mask;
	if (c->index[i] == 0)
		return;
	c->index[i] = 0;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (c->index[j] == 0)
			break;
		size_t home = hash_serial(c->slots[c->index[j] - 1].serial, mask);
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		int keep = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
		if (!keep) {
			c->index[i] = c->index[j];
			c->index[j] = 0;
			i = j;
		}
	}
}

/* ---- rings ---- */

static int fresh_push(struct output *o, uint32_t v)
{
	if (o->flen == o->fcap) {
		size_t cap = o->fcap ? o->fcap * 2 : 256;
		uint32_t *n = malloc(cap * sizeof *n);
		if (n == NULL)
			return -1;
		for (size_t i = 0; i < o->flen; i++)
			n[i] = o->fresh[(o->fhead + i) & (o->fcap - 1)];
		free(o->fresh);
		o->fresh = n;
		o->fcap = cap;
		o->fhead = 0;
	}
	o->fresh[(o->fhead + o->flen) & (o->fcap - 1)] = v;
	o->flen++;
	return 0;
}

static uint32_t fresh_pop(struct output *o)
{
	uint32_t v = o->fresh[o->fhead];
	o->fhead = (o->fhead + 1) & (o->fcap - 1);
	o->flen--;
	return v;
}

static int rep_push(struct output *o, const struct rep *r)
{
	if (o->rlen == o->rcap) {
		size_t cap = o->rcap ? o->rcap * 2 : 256;
		struct rep *n = malloc(cap * sizeof *n);
		if (n == NULL)
			return -1;
		for (size_t i = 0; i < o->rlen; i++)
			n[i] = o->rep[(o->rhead + i) & (o->rcap - 1)];
		free(o->rep);
		o->rep = n;
		o->rcap = cap;
		o->rhead = 0;
	}
	o->rep[(o->rhead + o->rlen) & (o->rcap - 1)] = *r;
	o->rlen++;
	return 0;
}

static struct rep rep_pop(struct output *o)
{
	struct rep r = o->rep[o->rhead];
	o->rhead = (o->rhead + 1) & (o->rcap - 1);
	o->rlen--;
	return r;
}

/* ---- slots ---- */

static long slot_alloc(struct cas_carousel *c)
{
	if (c->nfree > 0)
		return (long)c->freelist[--c->nfree];
	if (c->nslots == UINT32_MAX - 1)
		return -1;
	if (c->nslots == c->cap_slots) {
		/* Copy by hand rather than realloc, so the old block's card keys
		 * are wiped before it is freed. */
		size_t cap = c->cap_slots ? c->cap_slots * 2 : 1024;
		struct slot *n = calloc(cap, sizeof *n);
		if (n == NULL)
			return -1;
		if (c->slots != NULL) {
			memcpy(n, c->slots, c->nslots * sizeof *n);
			sodium_memzero(c->slots, c->cap_slots * sizeof *c->slots);
			free(c->slots);
		}
		c->slots = n;
		c->cap_slots = cap;
	}
	memset(&c->slots[c->nslots], 0, sizeof c->slots[0]);
	return (long)c->nslots++;
}

static void slot_free(struct cas_carousel *c, uint32_t idx)
{
	struct slot *s = &c->slots[idx];
	index_remove(c, s->serial);
	/* inq stays: queued entries of this slot are skipped (or serve the
	 * next card put here, which is harmless). gen moves on so repeats
	 * queued for the old card are dropped. */
	uint8_t inq = s->inq;
	sodium_memzero(s, sizeof *s);
	s->inq = inq;
	s->gen = ++c->gen_counter;
	if (c->nfree == c->cap_free) {
		size_t cap = c->cap_free ? c->cap_free * 2 : 1024;
		uint32_t *n = realloc(c->freelist, cap * sizeof *n);
		if (n == NULL) {
			/* The slot is lost until the carousel is freed: harmless. */
			c->count--;
			return;
		}
		c->freelist = n;
		c->cap_free = cap;
	}
	c->freelist[c->nfree++] = idx;
	c->count--;
}

/* ---- building ---- */

static long build(const struct cas_carousel *c, const struct slot *s, int64_t now_ms,
		  uint8_t *buf, size_t cap)
{
	int64_t now_s = floor_div_1000(now_ms);
	struct cas_rights card;
	card.serial = s->serial;
	memcpy(card.key, s->key, sizeof card.key);
	card.ac = (s->flags & F_REVOKED) ? 0
		: cas_rights_effective_ac(s->status, s->blocked_until, s->ac, now_s, NULL);
	card.start = s->start;
	card.finish = s->finish;
	card.pair = s->pair;
	card.type = s->type;
	long n = c->profile->emm_build(&card, now_s, buf, cap);
	sodium_memzero(card.key, sizeof card.key);
	return n;
}

/* Logs why the profile refuses a card: the serial and the dates, never the
 * key.  The Conax date covers 1990-01-01..2069-12-31 (cdate.h), and finish + 1
 * must fit in 32 bits (tvcas3.md §3.2). */
static void log_unencodable(const struct cas_carousel *c, const struct slot *s)
{
	uint8_t d[2];
	const char *what = NULL;
	uint32_t v = 0;
	if (s->finish == UINT32_MAX) {
		what = "finish";
		v = s->finish;
	} else if (cas_cdate_from_time(s->start, d) < 0) {
		what = "start";
		v = s->start;
	} else if (cas_cdate_from_time(s->finish, d) < 0) {
		what = "finish";
		v = s->finish;
	}
	if (what != NULL)
		cas_log(CAS_LOG_WARN, "card %u not sent: %s %u is outside what profile %s can encode "
			"(dates 1990-01-01..2069-12-31)", s->serial, what, v, c->profile->name);
	else
		cas_log(CAS_LOG_WARN, "card %u not sent: profile %s cannot encode it",
			s->serial, c->profile->name);
}

/* ---- life cycle ---- */

struct cas_carousel *cas_carousel_new(const struct cas_profile *profile, unsigned n_outputs,
				      const struct cas_carousel_params *params)
{
	if (profile == NULL || n_outputs == 0 || n_outputs > CAS_CAROUSEL_MAX_OUTPUTS)
		return NULL;
	struct cas_carousel *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->profile = profile;
	c->n_out = n_outputs;
	c->par = *params;
	for (unsigned o = 0; o < n_outputs; o++)
		c->out[o].cycle_start_ms = -1;
	return c;
}

void cas_carousel_free(struct cas_carousel *c)
{
	if (c == NULL)
		return;
	if (c->slots != NULL) {
		sodium_memzero(c->slots, c->cap_slots * sizeof *c->slots);
		free(c->slots);
	}
	free(c->freelist);
	free(c->index);
	for (unsigned o = 0; o < c->n_out; o++) {
		free(c->out[o].fresh);
		free(c->out[o].rep);
	}
	free(c);
}

void cas_carousel_set_params(struct cas_carousel *c, const struct cas_carousel_params *params)
{
	c->par = *params;
}

static int queue_change(struct cas_carousel *c, uint32_t idx)
{
	int ret = 0;
	for (unsigned o = 0; o < c->n_out; o++) {
		uint8_t bit = (uint8_t)(1u << o);
		if (c->slots[idx].inq & bit)
			continue;	/* already queued: sent with its latest rights */
		if (fresh_push(&c->out[o], idx) < 0) {
			ret = -1;
			continue;
		}
		c->slots[idx].inq |= bit;
	}
	return ret;
}

int cas_carousel_apply(struct cas_carousel *c, const struct cas_carousel_update *u,
		       enum cas_carousel_how how, int64_t now_ms)
{
	int64_t now_s = floor_div_1000(now_ms);
	int64_t off = (int64_t)c->par.off_days * 86400;
	long found = index_find(c, u->serial);

	if (u->deleted) {
		if (found < 0)
			return 0;
		struct slot *s = &c->slots[found];
		if (off == 0) {
			slot_free(c, (uint32_t)found);
			return 0;
		}
		/* Revoke what the card may still hold (its key is still known
		 * here, no longer in the database). */
		s->flags |= F_REVOKED;
		s->until = clamp_u32(now_s + off);
		s->gen = ++c->gen_counter;
		s->epoch = c->epoch;
		return (s->flags & F_BAD) ? 0 : queue_change(c, (uint32_t)found);
	}

	int64_t changed = u->edited;
	if (how == CAS_CAROUSEL_CHANGED && changed < now_s)
		changed = now_s;
	/* off_days past the finish or the last change, whichever is later:
	 * an expired card keeps hearing that it is (cascron's expiry is not a
	 * change of edited). */
	int64_t until = (u->finish > changed ? u->finish : changed) + off;
	if (until < now_s) {
		if (found >= 0)
			slot_free(c, (uint32_t)found);
		return 0;
	}

	struct slot n;
	memset(&n, 0, sizeof n);
	n.serial = u->serial;
	n.ac = u->ac;
	n.start = clamp_u32(u->start);
	n.finish = clamp_u32(u->finish);
	n.until = clamp_u32(until);
	n.blocked_until = clamp_u32(u->blocked_until);
	memcpy(n.key, u->key, sizeof n.key);
	n.status = (uint8_t)(u->status < 0 || u->status > 255 ? 0 : u->status);
	n.pair = (uint8_t)(u->pair > 0);
	n.type = (uint8_t)(u->type < 0 || u->type > 255 ? 0 : u->type);
	n.flags = F_USED;
	n.epoch = c->epoch;

	int queue = how == CAS_CAROUSEL_CHANGED;
	long idx = found;
	if (found >= 0) {
		struct slot *s = &c->slots[found];
		int same = s->ac == n.ac && s->start == n.start && s->finish == n.finish &&
			   s->blocked_until == n.blocked_until && s->status == n.status &&
			   s->pair == n.pair && s->type == n.type && !(s->flags & F_REVOKED) &&
			   sodium_memcmp(s->key, n.key, sizeof n.key) == 0;
		if (same && !queue) {
			s->until = n.until;
			s->epoch = c->epoch;
			sodium_memzero(&n, sizeof n);
			return 0;
		}
		/* A full load that finds other rights than we hold: we missed
		 * a change (a database restored from a backup); treat it as one. */
		queue = 1;
		n.inq = s->inq;
	} else {
		idx = slot_alloc(c);
		if (idx < 0) {
			sodium_memzero(&n, sizeof n);
			return -1;
		}
		c->slots[idx].serial = n.serial;
		if (index_insert(c, (uint32_t)idx) < 0) {
			c->slots[idx].flags = 0;
			if (c->nfree < c->cap_free)
				c->freelist[c->nfree++] = (uint32_t)idx;
			sodium_memzero(&n, sizeof n);
			return -1;
		}
		n.inq = c->slots[idx].inq;
		c->count++;
	}
	struct slot *s = &c->slots[idx];
	*s = n;
	sodium_memzero(&n, sizeof n);
	s->gen = ++c->gen_counter;

	uint8_t probe[512];
	size_t cap = c->profile->emm_max_len < sizeof probe ? c->profile->emm_max_len : sizeof probe;
	if (build(c, s, now_ms, probe, cap) < 0) {
		s->flags |= F_BAD;
		log_unencodable(c, s);
		return 0;
	}
	return queue ? queue_change(c, (uint32_t)idx) : 0;
}

void cas_carousel_mark_begin(struct cas_carousel *c)
{
	c->epoch++;
}

void cas_carousel_mark_end(struct cas_carousel *c)
{
	for (size_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if ((s->flags & F_USED) && !(s->flags & F_REVOKED) && s->epoch != c->epoch)
			slot_free(c, (uint32_t)i);
	}
}

size_t cas_carousel_sweep(struct cas_carousel *c, int64_t now_ms)
{
	int64_t now_s = floor_div_1000(now_ms);
	size_t n = 0;
	for (size_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if ((s->flags & F_USED) && (int64_t)s->until < now_s) {
			slot_free(c, (uint32_t)i);
			n++;
		}
	}
	return n;
}

/* ---- scheduling ---- */

static void end_cycle(struct cas_carousel *c, struct output *o, int64_t now_ms)
{
	int64_t start = o->cycle_start_ms;
	int64_t next = now_ms;
	if (c->par.min_cycle_ms > 0 && now_ms - start < c->par.min_cycle_ms)
		next = start + c->par.min_cycle_ms;
	o->last_cycle_ms = now_ms - start;
	o->cycles++;
	o->cursor = 0;
	o->cycle_start_ms = next;
	o->bg_due_ms = next;
}

long cas_carousel_next(struct cas_carousel *c, unsigned out, int64_t now_ms, uint8_t *buf,
		       size_t cap, struct cas_carousel_pick *pick)
{
	struct cas_carousel_pick dummy;
	if (pick == NULL)
		pick = &dummy;
	pick->kind = CAS_CAROUSEL_NONE;
	pick->serial = 0;
	if (out >= c->n_out)
		return -1;
	struct output *o = &c->out[out];
	uint8_t bit = (uint8_t)(1u << out);
	int64_t now_s = floor_div_1000(now_ms);

	/* 1. changed cards */
	while (o->flen > 0) {
		uint32_t idx = fresh_pop(o);
		struct slot *s = &c->slots[idx];
		s->inq &= (uint8_t)~bit;
		if (!(s->flags & F_USED) || (s->flags & F_BAD))
			continue;
		long n = build(c, s, now_ms, buf, cap);
		if (n < 0)
			return -1;
		if (c->par.repeat > 0) {
			struct rep r = { idx, s->gen, (uint32_t)c->par.repeat, now_ms + c->par.repeat_ms };
			(void)rep_push(o, &r);	/* out of memory: no repetitions */
		}
		pick->kind = CAS_CAROUSEL_CHANGE;
		pick->serial = s->serial;
		return n;
	}

	/* 2. repetitions that are due (the ring is in due order) */
	while (o->rlen > 0 && o->rep[o->rhead].due_ms <= now_ms) {
		struct rep r = rep_pop(o);
		struct slot *s = &c->slots[r.slot];
		if (!(s->flags & F_USED) || (s->flags & F_BAD) || s->gen != r.gen)
			continue;	/* gone, or changed again: a newer chain runs */
		long n = build(c, s, now_ms, buf, cap);
		if (n < 0)
			return -1;
		if (r.left > 1) {
			r.left--;
			r.due_ms = now_ms + c->par.repeat_ms;
			(void)rep_push(o, &r);
		}
		pick->kind = CAS_CAROUSEL_REPEAT;
		pick->serial = s->serial;
		return n;
	}

	/* 3. the background cycle */
	if (c->count > 0 && now_ms >= o->bg_due_ms) {
		if (o->cycle_start_ms < 0)
			o->cycle_start_ms = now_ms;
		int wraps = 0;
		for (;;) {
			if (o->cursor >= c->nslots) {
				end_cycle(c, o, now_ms);
				/* A second wrap in one call: nothing sendable. */
				if (now_ms < o->bg_due_ms || ++wraps > 1 || c->count == 0)
					break;
			}
			uint32_t idx = (uint32_t)o->cursor++;
			struct slot *s = &c->slots[idx];
			if (!(s->flags & F_USED) || (s->flags & F_BAD))
				continue;
			if ((int64_t)s->until < now_s) {
				slot_free(c, idx);
				continue;
			}
			long n = build(c, s, now_ms, buf, cap);
			if (n < 0)
				return -1;
			pick->kind = CAS_CAROUSEL_BACKGROUND;
			pick->serial = s->serial;
			return n;
		}
	}

	/* 4. filler */
	if (c->par.filler && c->profile->emm_dummy != NULL) {
		long n = c->profile->emm_dummy(now_s, buf, cap);
		if (n > 0) {
			pick->kind = CAS_CAROUSEL_FILLER;
			return n;
		}
	}
	return 0;
}

size_t cas_carousel_count(const struct cas_carousel *c)
{
	return c->count;
}

size_t cas_carousel_queue_len(const struct cas_carousel *c, unsigned out)
{
	return out < c->n_out ? c->out[out].flen + c->out[out].rlen : 0;
}

int64_t cas_carousel_cycle_ms(const struct cas_carousel *c, unsigned out)
{
	return out < c->n_out ? c->out[out].last_cycle_ms : 0;
}

uint64_t cas_carousel_cycles(const struct cas_carousel *c, unsigned out)
{
	return out < c->n_out ? c->out[out].cycles : 0;
}

int cas_carousel_lookup(const struct cas_carousel *c, uint32_t serial, int64_t now_ms, uint32_t *ac)
{
	long i = index_find(c, serial);
	if (i < 0)
		return 0;
	const struct slot *s = &c->slots[i];
	if (ac != NULL)
		*ac = (s->flags & F_REVOKED) ? 0
		    : cas_rights_effective_ac(s->status, s->blocked_until, s->ac,
					      floor_div_1000(now_ms), NULL);
	return (s->flags & F_BAD) ? 0 : 1;
}

/* ---- pacer ---- */

/* 1/184 byte units per second at kbit kbit/s: kbit * 1000 / 8 * 184. */
static uint64_t units_per_s(uint32_t kbit)
{
	return (uint64_t)kbit * 23000u;
}

void cas_pacer_init(struct cas_pacer *p, enum cas_pacer_mode mode, uint32_t kbit, int64_t now_ns)
{
	memset(p, 0, sizeof *p);
	p->mode = mode;
	p->kbit = kbit;
	p->vclock_ns = now_ns;
}

void cas_pacer_set_rate(struct cas_pacer *p, uint32_t kbit, int64_t now_ns)
{
	p->kbit = kbit;
	p->rem = 0;
	if (p->vclock_ns < now_ns)
		p->vclock_ns = now_ns;
}

uint64_t cas_pacer_cost(enum cas_pacer_mode mode, size_t len)
{
	switch (mode) {
	case CAS_PACER_TS:
		return (uint64_t)len * 184u;
	case CAS_PACER_SECTION_PACKETS:
		/* pointer_field + section, in whole packets of 184 payload bytes */
		return (uint64_t)((len + 1 + 183) / 184) * 188u * 184u;
	case CAS_PACER_SECTION_BYTES:
		return (uint64_t)len * 188u;
	}
	return (uint64_t)len * 188u;
}

int cas_pacer_begin(struct cas_pacer *p, int64_t now_ns)
{
	if (p->kbit == 0)
		return 0;
	/* An idle output keeps at most two message intervals of credit: a
	 * late timer loses nothing, a pause does not turn into a burst. */
	int64_t floor = now_ns - 2 * CAS_PACER_MIN_INTERVAL_NS;
	if (p->vclock_ns < floor) {
		p->vclock_ns = floor;
		p->rem = 0;
	}
	return p->vclock_ns <= now_ns;
}

int cas_pacer_may_send(const struct cas_pacer *p, int64_t now_ns)
{
	return p->kbit != 0 && p->vclock_ns <= now_ns;
}

void cas_pacer_charge(struct cas_pacer *p, uint64_t cost_units)
{
	p->sent_units += cost_units;
	if (p->kbit == 0)
		return;
	uint64_t den = units_per_s(p->kbit);
	uint64_t num = cost_units * 1000000000u + p->rem;
	p->vclock_ns += (int64_t)(num / den);
	p->rem = num % den;
}

int64_t cas_pacer_next_ns(const struct cas_pacer *p)
{
	return p->kbit == 0 ? INT64_MAX : p->vclock_ns;
}
