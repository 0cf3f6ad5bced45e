#ifndef CAS_PROFILE_H
#define CAS_PROFILE_H
/*
 * ECM/EMM profiles.  A profile is one module (tvcas3.c today, a hardened
 * profile later) that turns profile-neutral inputs (a CW_provision, a card
 * row) into the bytes on the wire.  ecmgd, emmgd and casprog look the
 * profile up by the config key `profile` and call it only through this
 * table, never a profile module directly.
 */
#include <stddef.h>
#include <stdint.h>

/* One CP_CW_combination of a CW_provision (ETSI TS 103 197 §5.5). */
struct cas_cp_cw {
	uint16_t cp;
	uint8_t cw[8];
};

/* Everything an ECM is made from. */
struct cas_ecm_req {
	uint16_t cp;			/* CP_number of the CW_provision */
	const struct cas_cp_cw *cws;	/* the CP_CW_combinations, any order */
	size_t n_cws;
	const uint8_t *ac;		/* access_criteria (NULL if absent) */
	size_t ac_len;
	int64_t now;			/* Unix time (UTC) of the CW_provision */
	/* Tests only: fixed filler bytes instead of random ones (NULL = the
	 * profile draws them from cas_rand). */
	const uint8_t *filler;
	size_t filler_len;
};

/* What an EMM or a personalisation file carries for one card: the rights
 * as they should be on air (see cas_db for the stored card, struct cas_card;
 * a caller maps one to the other, applying status and blocks). */
struct cas_rights {
	uint32_t serial;
	uint8_t key[16];		/* card (EMM) key, in clear */
	uint32_t ac;			/* access criteria bit mask */
	int64_t start, finish;		/* Unix, UTC; the card may decrypt while
					 * start < t <= finish */
	int pair;			/* DB pair: > 0 = paired to a CAM */
	int type;			/* DB type: 1 = protect on */
};

/* What a personalisation file needs besides the card. */
struct cas_bin_opts {
	const uint8_t *ecm_key;		/* the profile's full ECM key */
	size_t ecm_key_len;
	uint16_t ca_system_id;		/* high 16 bits of super_cas_id */
	const char *trademark;		/* config `trademark` */
};

struct cas_profile {
	const char *name;		/* value of the config key `profile` */
	size_t ecm_key_len;		/* bytes of the config key `ecm_key` */
	size_t ecm_max_len;		/* longest ECM section */
	size_t emm_max_len;		/* longest EMM section */
	size_t bin_len;			/* personalisation file size */

	/* Expands the ECM key once (key schedules); *ctx is freed, and the
	 * key material wiped, by ecm_key_free.  -1 on a wrong length or no
	 * memory. */
	int (*ecm_key_new)(const uint8_t *key, size_t len, void **ctx);
	void (*ecm_key_free)(void *ctx);
	/* One ECM section for a CW_provision; returns its length, or -1 if
	 * the CWs it needs are missing or an input is out of range. */
	long (*ecm_build)(const void *ctx, const struct cas_ecm_req *req,
			  uint8_t *out, size_t cap);
	/* The EMM section that brings one card up to date with its row;
	 * returns its length or -1 (the row cannot be encoded). */
	long (*emm_build)(const struct cas_rights *card, int64_t now,
			  uint8_t *out, size_t cap);
	/* The EMM sent when no card needs one, or 0 if the profile sends
	 * none. */
	long (*emm_dummy)(int64_t now, uint8_t *out, size_t cap);
	/* The serial an EMM section is addressed to; -1 if not an EMM. */
	int (*emm_address)(const uint8_t *sec, size_t len, uint32_t *serial);
	/* The card personalisation file; returns its length or -1. */
	long (*bin_build)(const struct cas_rights *card, const struct cas_bin_opts *opts,
			  uint8_t *out, size_t cap);
};

/* The profile called name, or NULL. */
const struct cas_profile *cas_profile_find(const char *name);
/* The i-th known profile (for help texts), NULL past the end. */
const struct cas_profile *cas_profile_at(size_t i);

#endif
