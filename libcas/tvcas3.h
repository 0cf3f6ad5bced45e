#ifndef CAS_TVCAS3_H
#define CAS_TVCAS3_H
/*
 * The tvcas3 profile: ECM, EMM and card personalisation file bit-compatible
 * with TVCAS 3 (reference/tvcas3.md §1-§3, §5).  Programs reach it through
 * profile.h (cas_tvcas3_profile); the functions below are for the profile
 * itself, the software card and the tests.
 *
 * Parsers return one of enum cas_tvcas3_status; builders return 0 or -1.
 */
#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "tdes.h"

#define CAS_TVCAS3_ECM_LEN 55
#define CAS_TVCAS3_EMM_LEN 62
#define CAS_TVCAS3_BIN_LEN 90
#define CAS_TVCAS3_PT_LEN 48		/* plaintext of ECM and EMM */
#define CAS_TVCAS3_FILLER_LEN 23	/* ECM plaintext bytes 24..46 */
#define CAS_TVCAS3_ECM_KEY_LEN 32
#define CAS_TVCAS3_CARD_KEY_LEN 16
#define CAS_TVCAS3_TABLE_EVEN 0x80
#define CAS_TVCAS3_TABLE_ODD 0x81
#define CAS_TVCAS3_TABLE_EMM 0x82
/* The dummy EMM (tvcas3.md §3.4) */
#define CAS_TVCAS3_DUMMY_SERIAL 2199999999u

enum cas_tvcas3_status {
	CAS_TVCAS3_OK = 0,
	CAS_TVCAS3_EFORMAT = -1,	/* wrong length or header: not this message */
	CAS_TVCAS3_ECHECKSUM = -2,	/* decrypted, but a sum8 does not match */
	CAS_TVCAS3_ESERIAL = -3,	/* EMM: plaintext serial != address */
};

extern const struct cas_profile cas_tvcas3_profile;

/* Sum of the bytes mod 256 (tvcas3.md §1 "Checksums"). */
uint8_t cas_tvcas3_sum8(const uint8_t *p, size_t n);

/* ---- ECM (§2) ---- */

/* The ECM key expanded once: half[0] = ecm_key[0..15] (table 0x80, even
 * CP), half[1] = ecm_key[16..31] (table 0x81, odd CP). */
struct cas_tvcas3_ecm_key {
	struct cas_tdes_key half[2];
};

void cas_tvcas3_ecm_key_init(struct cas_tvcas3_ecm_key *k, const uint8_t key[CAS_TVCAS3_ECM_KEY_LEN]);
void cas_tvcas3_ecm_key_wipe(struct cas_tvcas3_ecm_key *k);

/*
 * Builds the 55-byte ECM section for CP req->cp from the CWs of CP cp and
 * cp + 1 (mod 65536) found in req->cws.  Each CW goes by the parity of its
 * own CP number: odd CW at plaintext offset 4, even CW at 12.  Table and
 * key follow the parity of req->cp.  Filler: req->filler (exactly 23 bytes)
 * or cas_rand.  Returns -1 if a CW is missing, req->now is outside
 * 0..2^32-1 or the filler has another length.
 */
int cas_tvcas3_ecm_build(const struct cas_tvcas3_ecm_key *k, const struct cas_ecm_req *req,
			 uint8_t out[CAS_TVCAS3_ECM_LEN]);

/* An ECM as a card sees it after decryption. */
struct cas_tvcas3_ecm {
	uint8_t table_id;
	uint32_t time;
	uint8_t cw_odd[8];		/* card CW index 1 */
	uint8_t cw_even[8];		/* card CW index 0 */
	uint32_t ac;
	int checksum_ok;		/* sum8(pt[0..46]) == pt[47] */
	uint8_t pt[CAS_TVCAS3_PT_LEN];
};

/* Decrypts a 55-byte ECM section.  OK, EFORMAT (out untouched) or
 * ECHECKSUM (out filled: the card refuses such an ECM).  The constant at
 * section bytes 5..6 is not checked, as the card does not. */
int cas_tvcas3_ecm_parse(const struct cas_tvcas3_ecm_key *k, const uint8_t *sec, size_t len,
			 struct cas_tvcas3_ecm *out);

/* ---- EMM (§3) ---- */

/*
 * The 48-byte EMM plaintext for a card row (§3.2): fully deterministic,
 * finish + 1 at 12..15, Conax dates of start and of the plain finish, MD5
 * filler.  -1 if start or finish is outside 0..2^32-2 or outside the Conax
 * date range 1990-01-01..2069-12-31 (TVCAS 3 would write garbage dates).
 */
int cas_tvcas3_emm_plaintext(const struct cas_rights *card, uint8_t pt[CAS_TVCAS3_PT_LEN]);
/* The 62-byte EMM section for a card row; -1 as above. */
int cas_tvcas3_emm_build(const struct cas_rights *card, uint8_t out[CAS_TVCAS3_EMM_LEN]);

/* The card row of the dummy EMM sent when nothing else is due (§3.4):
 * serial 2199999999, its fixed key, AC FFFFFFFF, start now - 86400, finish
 * now + 300, pair 0, type 0. */
void cas_tvcas3_dummy_card(int64_t now, struct cas_rights *out);
int cas_tvcas3_emm_build_dummy(int64_t now, uint8_t out[CAS_TVCAS3_EMM_LEN]);

/* The serial an EMM section is addressed to (section bytes 6..9), after
 * checking its header.  OK or EFORMAT. */
int cas_tvcas3_emm_address(const uint8_t *sec, size_t len, uint32_t *serial);

/* An EMM as the addressed card decrypts it. */
struct cas_tvcas3_emm {
	uint32_t serial;		/* address = plaintext serial */
	uint32_t ac;
	uint32_t start;
	uint32_t finish_plus1;		/* plaintext 12..15: DB finish + 1 */
	uint8_t cdate_start[2];
	uint8_t cdate_finish[2];
	uint8_t pair;
	uint8_t protect;
	uint8_t pt[CAS_TVCAS3_PT_LEN];
};

/* Decrypts an EMM section with the card key and checks it, as FreeCAS
 * cards do (TVCAS 3 cards do not): c1 = sum8(pt[0..22]) at 23, sum8(pt[0..46])
 * at 47, plaintext serial == address.  OK, EFORMAT (out untouched),
 * ECHECKSUM or ESERIAL (out filled in both cases). */
int cas_tvcas3_emm_parse(const uint8_t card_key[CAS_TVCAS3_CARD_KEY_LEN], const uint8_t *sec,
			 size_t len, struct cas_tvcas3_emm *out);

/* ---- BIN personalisation file (§5) ---- */

/* The 90-byte file.  -1 if opts->ecm_key is not 32 bytes, or the card row
 * cannot be encoded (as for the EMM). */
int cas_tvcas3_bin_build(const struct cas_rights *card, const struct cas_bin_opts *opts,
			 uint8_t out[CAS_TVCAS3_BIN_LEN]);

struct cas_tvcas3_bin {
	uint32_t serial;
	uint8_t caid_lo;		/* low byte of the CA_system_id, 0 for 0B00 */
	uint8_t shared[3];		/* "shared address" */
	int shared_ok;			/* shared == MD5(hex text of ecm_key)[0..2] */
	char trademark[16];		/* trailing spaces removed, NUL-terminated */
	uint32_t start;
	uint32_t finish;		/* raw, not + 1 */
	uint32_t ac;
	uint8_t cdate_start[2];
	uint8_t cdate_finish[2];
	uint8_t pair;
	uint8_t protect;
	uint8_t ecm_key[CAS_TVCAS3_ECM_KEY_LEN];
	uint8_t card_key[CAS_TVCAS3_CARD_KEY_LEN];
};

/* Splits a 90-byte file into its fields.  OK or EFORMAT (wrong length). */
int cas_tvcas3_bin_parse(const uint8_t *bin, size_t len, struct cas_tvcas3_bin *out);

#endif
