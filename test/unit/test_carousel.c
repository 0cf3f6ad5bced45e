/*
 * The EMM carousel, the pacer and the effective-rights rule (carousel.h,
 * rights.h), driven with a fake clock: the EMM bytes against the TVCAS 3
 * reference vectors (tvcas3_vectors.h), the order (changes, repetitions,
 * background, filler), the on-air rule with the revocation trap, deletion,
 * unencodable cards, full loads, several outputs, and the pacer's
 * arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carousel.h"
#include "hex.h"
#include "log.h"
#include "profile.h"
#include "rand.h"
#include "rights.h"
#include "tvcas3.h"

#include "tvcas3_vectors.h"

#define T0_MS 1720000000000LL	/* 2024-07-03, inside the vector's window */
#define DAY 86400

static char last_log[1024];
static int log_count;

static void hook(void *ctx, enum cas_log_level level, const char *msg)
{
	(void)ctx;
	(void)level;
	snprintf(last_log, sizeof last_log, "%s", msg);
	log_count++;
}

static int setup(void **state)
{
	(void)state;
	cas_log_set_hook(hook, NULL);
	cas_log_set_level(CAS_LOG_INFO);
	return cas_rand_init();
}

static const struct cas_carousel_params base_params = {
	.off_days = 7, .repeat = 2, .repeat_ms = 20000, .min_cycle_ms = 0, .filler = 0,
};

static void card(struct cas_carousel_update *u, uint32_t serial, uint32_t ac)
{
	memset(u, 0, sizeof *u);
	u->serial = serial;
	for (int i = 0; i < 16; i++)
		u->key[i] = (uint8_t)(serial + (uint32_t)i * 7);
	u->ac = ac;
	u->start = T0_MS / 1000 - 10 * DAY;
	u->finish = T0_MS / 1000 + 30 * DAY;
	u->edited = T0_MS / 1000 - 30 * DAY;
	u->status = 1;
	u->type = 1;
}

/* Next EMM, decrypted with the card's key as the card would. */
static uint32_t next_ac(struct cas_carousel *c, unsigned out, int64_t now, uint32_t *serial,
			enum cas_carousel_kind *kind)
{
	uint8_t sec[256];
	struct cas_carousel_pick pick;
	long n = cas_carousel_next(c, out, now, sec, sizeof sec, &pick);
	*kind = pick.kind;
	*serial = pick.serial;
	if (n == 0)
		return 0xDEADBEEF;
	assert_int_equal(n, CAS_TVCAS3_EMM_LEN);
	uint32_t addr;
	assert_int_equal(cas_tvcas3_emm_address(sec, (size_t)n, &addr), CAS_TVCAS3_OK);
	if (pick.kind != CAS_CAROUSEL_FILLER)
		assert_int_equal(addr, pick.serial);
	struct cas_carousel_update u;
	card(&u, addr, 0);
	if (pick.kind == CAS_CAROUSEL_FILLER) {
		struct cas_rights d;
		cas_tvcas3_dummy_card(0, &d);
		assert_int_equal(addr, CAS_TVCAS3_DUMMY_SERIAL);
		memcpy(u.key, d.key, 16);
	}
	struct cas_tvcas3_emm e;
	assert_int_equal(cas_tvcas3_emm_parse(u.key, sec, (size_t)n, &e), CAS_TVCAS3_OK);
	return e.ac;
}

static void test_rights(void **state)
{
	(void)state;
	enum cas_rights_state st;
	assert_int_equal(cas_rights_effective_ac(1, 0, 0x55, 1000, &st), 0x55);
	assert_int_equal(st, CAS_RIGHTS_ACTIVE);
	assert_int_equal(cas_rights_effective_ac(0, 0, 0x55, 1000, &st), 0);
	assert_int_equal(st, CAS_RIGHTS_DISABLED);
	assert_int_equal(cas_rights_effective_ac(2, 0, 0x55, 1000, &st), 0);
	assert_int_equal(st, CAS_RIGHTS_EXPIRED);
	assert_int_equal(cas_rights_effective_ac(1, 1001, 0x55, 1000, &st), 0);
	assert_int_equal(st, CAS_RIGHTS_BLOCKED);
	/* the block ends at blocked_until */
	assert_int_equal(cas_rights_effective_ac(1, 1000, 0x55, 1000, &st), 0x55);
	assert_int_equal(cas_rights_effective_ac(7, 0, 0x55, 1000, NULL), 0);
	assert_string_equal(cas_rights_state_name(CAS_RIGHTS_BLOCKED), "blocked");
}

/* The carousel's EMM is the reference EMM, byte for byte (tvcas3.md §9). */
static void test_reference_vector(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof V_EMM / sizeof V_EMM[0]; v++) {
		if (V_EMM[v].dummy)
			continue;
		struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
		assert_non_null(c);
		struct cas_carousel_update u;
		memset(&u, 0, sizeof u);
		u.serial = V_EMM[v].serial;
		assert_int_equal(cas_hex_decode(V_EMM[v].key, 32, u.key, 16), 0);
		uint8_t acb[4];
		assert_int_equal(cas_hex_decode(V_EMM[v].ac, 8, acb, 4), 0);
		u.ac = (uint32_t)acb[0] << 24 | (uint32_t)acb[1] << 16 | (uint32_t)acb[2] << 8 | acb[3];
		u.start = V_EMM[v].start;
		u.finish = V_EMM[v].finish;
		u.edited = u.start;
		u.status = 1;
		u.pair = V_EMM[v].pair;
		u.type = V_EMM[v].type;
		int64_t now = (u.start + 3600) * 1000;
		assert_int_equal(cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, now), 0);
		uint8_t sec[256], want[62];
		struct cas_carousel_pick pick;
		assert_int_equal(cas_carousel_next(c, 0, now, sec, sizeof sec, &pick), 62);
		assert_int_equal(pick.kind, CAS_CAROUSEL_CHANGE);
		assert_int_equal(cas_hex_decode(V_EMM[v].section, 124, want, 62), 0);
		assert_memory_equal(sec, want, 62);
		cas_carousel_free(c);
	}
}

static void test_background_cycle(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	for (uint32_t i = 0; i < 5; i++) {
		card(&u, 2100000000u + i, 1);
		assert_int_equal(cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS), 0);
	}
	assert_int_equal(cas_carousel_count(c), 5);
	assert_int_equal(cas_carousel_queue_len(c, 0), 0);
	uint32_t serial;
	enum cas_carousel_kind kind;
	/* Three cycles, each card once per cycle, in load order. */
	for (int cycle = 0; cycle < 3; cycle++)
		for (uint32_t i = 0; i < 5; i++) {
			assert_int_equal(next_ac(c, 0, T0_MS + cycle * 100 + i, &serial, &kind), 1);
			assert_int_equal(kind, CAS_CAROUSEL_BACKGROUND);
			assert_int_equal(serial, 2100000000u + i);
		}
	assert_int_equal(cas_carousel_cycles(c, 0), 2);
	assert_int_equal(cas_carousel_cycle_ms(c, 0), 100);
	cas_carousel_free(c);
}

static void test_min_cycle_and_filler(void **state)
{
	(void)state;
	struct cas_carousel_params p = base_params;
	p.min_cycle_ms = 60000;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &p);
	struct cas_carousel_update u;
	uint8_t sec[256];
	uint32_t serial;
	enum cas_carousel_kind kind;
	/* No card: nothing due, nothing sent. */
	assert_int_equal(cas_carousel_next(c, 0, T0_MS, sec, sizeof sec, NULL), 0);
	card(&u, 2100000001u, 1);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 1);
	/* The cycle is over; the next may start 60 s after this one did. */
	assert_int_equal(cas_carousel_next(c, 0, T0_MS + 1000, sec, sizeof sec, NULL), 0);
	assert_int_equal(cas_carousel_next(c, 0, T0_MS + 59999, sec, sizeof sec, NULL), 0);
	assert_int_equal(next_ac(c, 0, T0_MS + 60000, &serial, &kind), 1);
	assert_int_equal(serial, 2100000001u);
	/* With the filler on, the gap carries the dummy EMM (tvcas3.md §3.4). */
	p.filler = 1;
	cas_carousel_set_params(c, &p);
	assert_int_equal(next_ac(c, 0, T0_MS + 61000, &serial, &kind), 0xFFFFFFFFu);
	assert_int_equal(kind, CAS_CAROUSEL_FILLER);
	cas_carousel_free(c);
}

static void test_change_first_then_repeats(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	uint32_t serial;
	enum cas_carousel_kind kind;
	for (uint32_t i = 0; i < 100; i++) {
		card(&u, 2100000000u + i, 1);
		cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	}
	next_ac(c, 0, T0_MS, &serial, &kind);
	/* Card 50 changes twice before anything is sent: one send, the latest rights. */
	card(&u, 2100000050u, 0x10);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS + 1);
	card(&u, 2100000050u, 0x20);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS + 2);
	assert_int_equal(cas_carousel_queue_len(c, 0), 1);
	assert_int_equal(next_ac(c, 0, T0_MS + 3, &serial, &kind), 0x20);
	assert_int_equal(kind, CAS_CAROUSEL_CHANGE);
	assert_int_equal(serial, 2100000050u);
	/* then the background goes on where it was */
	assert_int_equal(next_ac(c, 0, T0_MS + 4, &serial, &kind), 1);
	assert_int_equal(kind, CAS_CAROUSEL_BACKGROUND);
	assert_int_equal(serial, 2100000001u);
	/* repetition 1 at +20 s, repetition 2 at +40 s, then no more */
	int64_t t = T0_MS + 3 + 20000;
	assert_int_equal(next_ac(c, 0, t - 1, &serial, &kind), 1);
	assert_int_equal(kind, CAS_CAROUSEL_BACKGROUND);
	assert_int_equal(next_ac(c, 0, t, &serial, &kind), 0x20);
	assert_int_equal(kind, CAS_CAROUSEL_REPEAT);
	assert_int_equal(next_ac(c, 0, t + 20000, &serial, &kind), 0x20);
	assert_int_equal(kind, CAS_CAROUSEL_REPEAT);
	for (int i = 0; i < 300; i++) {
		next_ac(c, 0, t + 40000 + i, &serial, &kind);
		assert_int_equal(kind, CAS_CAROUSEL_BACKGROUND);
	}
	assert_int_equal(cas_carousel_queue_len(c, 0), 0);
	cas_carousel_free(c);
}

static void test_change_restarts_repeats(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	uint32_t serial;
	enum cas_carousel_kind kind;
	card(&u, 2100000007u, 1);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 1);
	/* A new change before the first repetition: the old chain is dropped. */
	card(&u, 2100000007u, 2);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS + 5000);
	assert_int_equal(next_ac(c, 0, T0_MS + 5000, &serial, &kind), 2);
	assert_int_equal(kind, CAS_CAROUSEL_CHANGE);
	/* at +20 s the old chain's repetition is skipped (the card goes by in
	 * the background instead); the new chain repeats at +25 s and +45 s */
	next_ac(c, 0, T0_MS + 20000, &serial, &kind);
	assert_int_equal(kind, CAS_CAROUSEL_BACKGROUND);
	assert_int_equal(next_ac(c, 0, T0_MS + 25000, &serial, &kind), 2);
	assert_int_equal(kind, CAS_CAROUSEL_REPEAT);
	assert_int_equal(next_ac(c, 0, T0_MS + 45000, &serial, &kind), 2);
	assert_int_equal(kind, CAS_CAROUSEL_REPEAT);
	cas_carousel_free(c);
}

static void test_effective_rights_on_air(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	uint32_t serial, ac;
	enum cas_carousel_kind kind;
	card(&u, 2100000001u, 0x0F);
	u.status = 0;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 0);
	card(&u, 2100000002u, 0x0F);
	u.blocked_until = T0_MS / 1000 + 100;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 0);
	assert_int_equal(serial, 2100000002u);
	/* Once the block is over, the same row opens the card again. */
	assert_int_equal(cas_carousel_lookup(c, 2100000002u, T0_MS + 100000, &ac), 1);
	assert_int_equal(ac, 0x0F);
	assert_int_equal(cas_carousel_lookup(c, 2100000002u, T0_MS, &ac), 1);
	assert_int_equal(ac, 0);
	cas_carousel_free(c);
}

/* tvcas3.md §8: a card whose finish was moved into the past must still get
 * the EMM that says so, for off_days; so does a card that expired less than
 * off_days ago; one that expired before, untouched since, is off air. */
static void test_revocation_trap(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	uint32_t serial;
	enum cas_carousel_kind kind;
	card(&u, 2100000001u, 1);
	u.finish = T0_MS / 1000 - 8 * DAY;	/* expired 8 days ago, not changed for 30 */
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	assert_int_equal(cas_carousel_count(c), 0);
	/* The same row, changed now (edited older: a change behind the library's back) */
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(cas_carousel_count(c), 1);
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 1);
	assert_int_equal(serial, 2100000001u);
	/* still on air 7 days later, gone after */
	assert_int_equal(cas_carousel_sweep(c, T0_MS + 7LL * DAY * 1000), 0);
	assert_int_equal(cas_carousel_sweep(c, T0_MS + 7LL * DAY * 1000 + 1000), 1);
	assert_int_equal(cas_carousel_count(c), 0);
	/* a card loaded with a recent edit is on air although expired */
	u.edited = T0_MS / 1000 - DAY;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	assert_int_equal(cas_carousel_count(c), 1);
	/* so is one that expired yesterday, edited long ago, until 7 days
	 * after its finish */
	card(&u, 2100000002u, 1);
	u.finish = T0_MS / 1000 - DAY;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	assert_int_equal(cas_carousel_count(c), 2);
	assert_int_equal(cas_carousel_sweep(c, T0_MS + 6LL * DAY * 1000), 0);
	assert_int_equal(cas_carousel_sweep(c, T0_MS + 6LL * DAY * 1000 + 1000), 2);	/* both */
	cas_carousel_free(c);
}

static void test_deleted_card_revoked(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	uint32_t serial;
	enum cas_carousel_kind kind;
	card(&u, 2100000003u, 0xFF);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	memset(&u, 0, sizeof u);
	u.serial = 2100000003u;
	u.deleted = 1;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 0);
	assert_int_equal(kind, CAS_CAROUSEL_CHANGE);
	assert_int_equal(serial, 2100000003u);
	/* A full load no longer lists it: a revoked card stays for off_days. */
	cas_carousel_mark_begin(c);
	cas_carousel_mark_end(c);
	assert_int_equal(cas_carousel_count(c), 1);
	/* A deleted card never seen: nothing. */
	u.serial = 2100000099u;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(cas_carousel_count(c), 1);
	cas_carousel_free(c);
}

static void test_unencodable(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	uint32_t serial;
	enum cas_carousel_kind kind;
	card(&u, 2100000009u, 1);
	u.finish = 4294967295LL;
	log_count = 0;
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(log_count, 1);
	assert_string_equal(last_log, "card 2100000009 not sent: finish 4294967295 is outside what "
			    "profile tvcas3 can encode (dates 1990-01-01..2069-12-31)");
	card(&u, 2100000010u, 1);
	u.start = 600000000;	/* 1989 */
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	assert_string_equal(last_log, "card 2100000010 not sent: start 600000000 is outside what "
			    "profile tvcas3 can encode (dates 1990-01-01..2069-12-31)");
	card(&u, 2100000011u, 3);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	/* Only the good card goes out, cycle after cycle; no more log lines. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(next_ac(c, 0, T0_MS + i, &serial, &kind), 3);
		assert_int_equal(serial, 2100000011u);
	}
	assert_int_equal(log_count, 2);
	/* A fix of the row puts the card on air. */
	card(&u, 2100000009u, 4);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS + 10);
	assert_int_equal(next_ac(c, 0, T0_MS + 10, &serial, &kind), 4);
	assert_int_equal(serial, 2100000009u);
	cas_carousel_free(c);
}

static void test_full_load_marks(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	for (uint32_t i = 0; i < 10; i++) {
		card(&u, 2100000000u + i, 1);
		cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	}
	cas_carousel_mark_begin(c);
	for (uint32_t i = 0; i < 10; i += 2) {
		card(&u, 2100000000u + i, 1);
		cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	}
	/* a reload that finds other rights than held treats them as a change */
	card(&u, 2100000004u, 9);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	cas_carousel_mark_end(c);
	assert_int_equal(cas_carousel_count(c), 5);
	assert_int_equal(cas_carousel_lookup(c, 2100000001u, T0_MS, NULL), 0);
	assert_int_equal(cas_carousel_queue_len(c, 0), 1);
	/* slots freed by the reload are reused */
	for (uint32_t i = 0; i < 5; i++) {
		card(&u, 2200000000u + i, 1);
		cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	}
	assert_int_equal(cas_carousel_count(c), 10);
	cas_carousel_free(c);
}

static void test_outputs_independent(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 2, &base_params);
	struct cas_carousel_update u;
	uint32_t serial;
	enum cas_carousel_kind kind;
	for (uint32_t i = 0; i < 3; i++) {
		card(&u, 2100000000u + i, 1);
		cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS);
	}
	next_ac(c, 0, T0_MS, &serial, &kind);
	next_ac(c, 0, T0_MS, &serial, &kind);
	card(&u, 2100000002u, 5);
	cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	assert_int_equal(next_ac(c, 1, T0_MS, &serial, &kind), 5);
	assert_int_equal(kind, CAS_CAROUSEL_CHANGE);
	assert_int_equal(next_ac(c, 1, T0_MS, &serial, &kind), 1);
	assert_int_equal(serial, 2100000000u);	/* output 1's own cycle */
	assert_int_equal(next_ac(c, 0, T0_MS, &serial, &kind), 5);
	assert_int_equal(kind, CAS_CAROUSEL_CHANGE);
	assert_int_equal(cas_carousel_queue_len(c, 0), 1);	/* its repetitions */
	assert_null(cas_carousel_new(&cas_tvcas3_profile, CAS_CAROUSEL_MAX_OUTPUTS + 1, &base_params));
	cas_carousel_free(c);
}

/* Many cards: index growth, removal with backward shift, lookups. */
static void test_many_cards(void **state)
{
	(void)state;
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &base_params);
	struct cas_carousel_update u;
	for (uint32_t i = 0; i < 20000; i++) {
		card(&u, 2100000000u + i * 3, i);
		assert_int_equal(cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS), 0);
	}
	memset(&u, 0, sizeof u);
	u.deleted = 1;
	struct cas_carousel_params p = base_params;
	p.off_days = 0;		/* deleted cards leave at once */
	cas_carousel_set_params(c, &p);
	for (uint32_t i = 0; i < 20000; i += 2) {
		u.serial = 2100000000u + i * 3;
		cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS);
	}
	assert_int_equal(cas_carousel_count(c), 10000);
	for (uint32_t i = 0; i < 20000; i++) {
		uint32_t ac;
		int on = cas_carousel_lookup(c, 2100000000u + i * 3, T0_MS, &ac);
		assert_int_equal(on, i % 2);
		if (on)
			assert_int_equal(ac, i);
		assert_int_equal(cas_carousel_lookup(c, 2100000001u + i * 3, T0_MS, NULL), 0);
	}
	cas_carousel_free(c);
}

static void test_pacer(void **state)
{
	(void)state;
	/* Costs: 188-byte packets in TS mode; a 62-byte section takes one
	 * packet alone, 62 x 188/184 bytes packed; 184 bytes + pointer field
	 * take two packets. */
	assert_int_equal(cas_pacer_cost(CAS_PACER_TS, 376), 376 * 184);
	assert_int_equal(cas_pacer_cost(CAS_PACER_SECTION_PACKETS, 62), 188 * 184);
	assert_int_equal(cas_pacer_cost(CAS_PACER_SECTION_PACKETS, 183), 188 * 184);
	assert_int_equal(cas_pacer_cost(CAS_PACER_SECTION_PACKETS, 184), 2 * 188 * 184);
	assert_int_equal(cas_pacer_cost(CAS_PACER_SECTION_BYTES, 62), 62 * 188);

	/* 1000 kbit/s: a 188-byte packet every 1.504 ms exactly. */
	struct cas_pacer p;
	int64_t now = 5000000000LL;
	cas_pacer_init(&p, CAS_PACER_TS, 1000, now);
	assert_true(cas_pacer_begin(&p, now));
	for (int i = 0; i < 1000; i++)
		cas_pacer_charge(&p, cas_pacer_cost(CAS_PACER_TS, 188));
	assert_int_equal(cas_pacer_next_ns(&p), now + 1504000000LL);
	assert_false(cas_pacer_may_send(&p, now + 1503999999LL));
	assert_true(cas_pacer_may_send(&p, now + 1504000000LL));

	/* 64 kbit/s, 62-byte sections packed: 62*188/184 bytes each, so
	 * 125 sections take 125*62*188*8/184/64000 s = 0.9898097826... s; the
	 * remainder carries, nothing is lost to rounding. */
	cas_pacer_init(&p, CAS_PACER_SECTION_BYTES, 64, 0);
	for (int i = 0; i < 125; i++)
		cas_pacer_charge(&p, cas_pacer_cost(CAS_PACER_SECTION_BYTES, 62));
	assert_int_equal(cas_pacer_next_ns(&p), 989809782LL);

	/* An idle pacer keeps at most 2 intervals of credit: no burst. */
	cas_pacer_init(&p, CAS_PACER_TS, 1000, 0);
	assert_true(cas_pacer_begin(&p, 10000000000LL));
	assert_int_equal(cas_pacer_next_ns(&p), 10000000000LL - 2 * CAS_PACER_MIN_INTERVAL_NS);

	/* Rate 0: never. */
	cas_pacer_init(&p, CAS_PACER_TS, 0, 0);
	assert_false(cas_pacer_begin(&p, 1));
	assert_int_equal(cas_pacer_next_ns(&p), INT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rights),
		cmocka_unit_test(test_reference_vector),
		cmocka_unit_test(test_background_cycle),
		cmocka_unit_test(test_min_cycle_and_filler),
		cmocka_unit_test(test_change_first_then_repeats),
		cmocka_unit_test(test_change_restarts_repeats),
		cmocka_unit_test(test_effective_rights_on_air),
		cmocka_unit_test(test_revocation_trap),
		cmocka_unit_test(test_deleted_card_revoked),
		cmocka_unit_test(test_unencodable),
		cmocka_unit_test(test_full_load_marks),
		cmocka_unit_test(test_outputs_independent),
		cmocka_unit_test(test_many_cards),
		cmocka_unit_test(test_pacer),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
