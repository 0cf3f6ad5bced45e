#ifndef CAS_CAROUSEL_H
#define CAS_CAROUSEL_H
/*
 * The EMM carousel of emmgd: which card's EMM goes on air next, for each of
 * up to CAS_CAROUSEL_MAX_OUTPUTS outputs (multiplexers), and the pacer that
 * keeps each output at its bandwidth.
 *
 * Cards.  The carousel holds every card "on air" (tvcas3.md §3.4, §8): a
 * card whose finish or last change is less than off_days days old, so that
 * reduced and expired rights still reach the card.  A card is kept
 * in 48 bytes (serial, card key, rights, status, on-air limit), so 1,000,000
 * cards take about 60 MB with the serial index.  EMMs are built on the fly
 * from these fields through the profile, with the effective rights of
 * rights.h at the moment of sending (a block that has ended opens the card
 * again without waiting for anyone).
 *
 * Order, for each output:
 *   1. changed cards (cas_carousel_apply with CAS_CAROUSEL_CHANGED), oldest
 *      change first, each once however often it changed meanwhile;
 *   2. repetitions of changed cards: `repeat` more times, `repeat_ms` apart;
 *   3. the background cycle over all cards, in slot order, each once per
 *      cycle, a cycle lasting at least min_cycle_ms;
 *   4. the profile's dummy EMM when `filler` is set; else nothing.
 * Changed cards always come first, so a change goes out with the next
 * datagram whatever the size of the carousel.
 *
 * Time: now_ms is Unix time in milliseconds (the rights depend on the date);
 * the carousel never reads a clock itself, so tests drive it.
 *
 * No I/O and no threads: one thread owns a carousel.
 */
#include <stddef.h>
#include <stdint.h>

struct cas_profile;

#define CAS_CAROUSEL_MAX_OUTPUTS 8

/* A card as the database reports it (only what an EMM needs). */
struct cas_carousel_update {
	uint32_t serial;
	uint8_t key[16];	/* card key in clear: wiped by the carousel's copy only */
	uint32_t ac;
	int64_t start, finish;	/* 0..2^32-1 */
	int64_t blocked_until;	/* 0 = not blocked */
	int64_t edited;		/* Unix seconds of the last change */
	int status;		/* cards.status: 0 disabled, 1 active, 2 expired */
	int pair, type;		/* cards.pair, cards.type */
	int deleted;		/* the card was deleted (only serial is set) */
};

struct cas_carousel_params {
	int off_days;		/* stay on air this long after a change */
	int repeat;		/* repetitions of a changed card after the first send */
	int64_t repeat_ms;	/* between them */
	int64_t min_cycle_ms;	/* shortest background cycle (0 = none) */
	int filler;		/* send the profile's dummy EMM when nothing is due */
};

/* How cas_carousel_apply treats an update. */
enum cas_carousel_how {
	CAS_CAROUSEL_LOADED = 0,	/* from a full load: background only */
	CAS_CAROUSEL_CHANGED = 1,	/* the card changed: on air first, then repeated */
};

/* What cas_carousel_next returned. */
enum cas_carousel_kind {
	CAS_CAROUSEL_NONE = 0,
	CAS_CAROUSEL_CHANGE = 1,	/* first send after a change */
	CAS_CAROUSEL_REPEAT = 2,	/* a repetition of a change */
	CAS_CAROUSEL_BACKGROUND = 3,	/* the background cycle */
	CAS_CAROUSEL_FILLER = 4,	/* the profile's dummy EMM */
};

struct cas_carousel_pick {
	enum cas_carousel_kind kind;
	uint32_t serial;
};

struct cas_carousel;

/* A carousel for n_outputs outputs (1..CAS_CAROUSEL_MAX_OUTPUTS) building
 * EMMs with `profile`.  NULL when out of memory or n_outputs is out of
 * range. */
struct cas_carousel *cas_carousel_new(const struct cas_profile *profile, unsigned n_outputs,
				      const struct cas_carousel_params *params);
/* Frees it, wiping every card key. */
void cas_carousel_free(struct cas_carousel *c);
/* New parameters (a reload); the cards and the queues stay. */
void cas_carousel_set_params(struct cas_carousel *c, const struct cas_carousel_params *params);

/*
 * Takes a card from the database.  A card whose on-air limit
 * max(finish, edited) + off_days is past is removed (or not added); a
 * CHANGED card counts as changed at now_ms even if its `edited` is older
 * (a change made behind the library's back).  A deleted card that the
 * carousel holds is revoked: its EMM says AC 0 for off_days more days.  A
 * card the profile cannot encode (a date outside its range) is kept out of
 * the queues and logged once, with its serial and the reason.
 * Returns 0, or -1 when out of memory (the card is then not on air).
 */
int cas_carousel_apply(struct cas_carousel *c, const struct cas_carousel_update *u,
		       enum cas_carousel_how how, int64_t now_ms);

/* A full load: cards applied between mark_begin and mark_end are the whole
 * on-air set; mark_end removes the cards not applied meanwhile (except
 * revoked ones, which the database no longer lists). */
void cas_carousel_mark_begin(struct cas_carousel *c);
void cas_carousel_mark_end(struct cas_carousel *c);

/* Removes the cards whose on-air limit is past (also done lazily by the
 * background cycle).  Returns how many were removed. */
size_t cas_carousel_sweep(struct cas_carousel *c, int64_t now_ms);

/*
 * The next EMM section due for output `out` at now_ms, written into buf
 * (cap bytes, at least the profile's emm_max_len).  Returns its length, 0
 * when nothing is due, -1 if the profile failed (not expected: cards are
 * checked when applied).  *pick (may be NULL) says what it was.
 */
long cas_carousel_next(struct cas_carousel *c, unsigned out, int64_t now_ms, uint8_t *buf,
		       size_t cap, struct cas_carousel_pick *pick);

/* Counters. */
size_t cas_carousel_count(const struct cas_carousel *c);		/* cards on air */
size_t cas_carousel_queue_len(const struct cas_carousel *c, unsigned out); /* changes + repeats pending */
int64_t cas_carousel_cycle_ms(const struct cas_carousel *c, unsigned out);	/* last full cycle, 0 before */
uint64_t cas_carousel_cycles(const struct cas_carousel *c, unsigned out);	/* cycles completed */
/* Whether the card is on air, and the AC its EMM carries at now_ms. */
int cas_carousel_lookup(const struct cas_carousel *c, uint32_t serial, int64_t now_ms, uint32_t *ac);

/* ---- pacer ----
 *
 * Keeps one output at its bandwidth with evenly spaced messages: a virtual
 * clock advances by cost / rate for every datagram sent, a message may be
 * sent once the virtual clock has caught up with real time, and an idle
 * output does not save up credit beyond one message interval (no burst
 * after a pause).  Costs are counted as the multiplexer puts them on air:
 *   - TS-packet mode: the 188-byte packets;
 *   - section mode, CAS_PACER_SECTION_PACKETS: each section in whole TS
 *     packets of its own, ceil((len + 1) / 184) * 188 bytes (the pointer
 *     field is the + 1): never above the allocation, whatever the MUX does;
 *   - section mode, CAS_PACER_SECTION_BYTES: len * 188 / 184 bytes, for a
 *     MUX that packs sections back to back (TSDuck datainject).
 * Costs are kept in 1/184 byte units, so all of this is exact integers.
 */
enum cas_pacer_mode {
	CAS_PACER_TS = 0,
	CAS_PACER_SECTION_PACKETS = 1,
	CAS_PACER_SECTION_BYTES = 2,
};

/* Shortest interval between two messages (ns) unless a message is full. */
#define CAS_PACER_MIN_INTERVAL_NS 10000000LL

struct cas_pacer {
	enum cas_pacer_mode mode;
	uint32_t kbit;			/* rate, kbit/s (1000 bit/s); 0 = send nothing */
	int64_t vclock_ns;		/* virtual time of the next datagram */
	uint64_t rem;			/* remainder of the last division */
	uint64_t sent_units;		/* total cost charged, 1/184 byte units */
};

void cas_pacer_init(struct cas_pacer *p, enum cas_pacer_mode mode, uint32_t kbit, int64_t now_ns);
/* Changes the rate from now on. */
void cas_pacer_set_rate(struct cas_pacer *p, uint32_t kbit, int64_t now_ns);
/* Cost in 1/184 byte units of one datagram of len bytes (len of a section,
 * or n * 188 in TS mode). */
uint64_t cas_pacer_cost(enum cas_pacer_mode mode, size_t len);
/* Call once per message, before filling it: drops credit older than one
 * message interval.  Returns 1 if a datagram may be sent now. */
int cas_pacer_begin(struct cas_pacer *p, int64_t now_ns);
/* Whether another datagram may go into the message being built. */
int cas_pacer_may_send(const struct cas_pacer *p, int64_t now_ns);
/* Accounts a datagram. */
void cas_pacer_charge(struct cas_pacer *p, uint64_t cost_units);
/* When the next datagram may be sent (ns, same clock as now_ns); INT64_MAX
 * at rate 0. */
int64_t cas_pacer_next_ns(const struct cas_pacer *p);

#endif
