/*
 * The card side of the tvcas3 profile (reference/tvcas3.md §1-§3): the
 * ECM and EMM parsers a card runs.  Kept apart from the builders in
 * tvcas3.c because it must build freestanding (card firmware, libcas/card.c):
 * only <stdint.h>/<string.h>, buf, tdes and wipe.h.
 */
#include "tvcas3.h"

#include <string.h>

#include "buf.h"
#include "wipe.h"

/* Section headers (§3.1), as in tvcas3.c */
static const uint8_t EMM_HDR1[6] = { CAS_TVCAS3_TABLE_EMM, 0x70, 0x3B, 0x00, 0x00, 0x00 };
static const uint8_t EMM_HDR2[4] = { 0x70, 0x32, 0x64, 0x10 };

uint8_t cas_tvcas3_sum8(const uint8_t *p, size_t n)
{
	unsigned s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return (uint8_t)s;
}

/* ---- ECM ---- */

void cas_tvcas3_ecm_key_init(struct cas_tvcas3_ecm_key *k, const uint8_t key[CAS_TVCAS3_ECM_KEY_LEN])
{
	cas_tdes_set_key2(&k->half[0], key);
	cas_tdes_set_key2(&k->half[1], key + 16);
}

void cas_tvcas3_ecm_key_wipe(struct cas_tvcas3_ecm_key *k)
{
	cas_wipe(k, sizeof *k);
}

int cas_tvcas3_ecm_parse(const struct cas_tvcas3_ecm_key *k, const uint8_t *sec, size_t len,
			 struct cas_tvcas3_ecm *out)
{
	struct cas_buf b;
	cas_buf_init(&b, sec, len);
	uint8_t table = cas_buf_get_u8(&b);
	uint16_t slen = cas_buf_get_u16(&b) & 0x0FFF;
	uint8_t nano = cas_buf_get_u8(&b);
	uint8_t nlen = cas_buf_get_u8(&b);
	cas_buf_skip(&b, 2);			/* 64 21, unchecked (§2.1) */
	const uint8_t *ct = cas_buf_get_ptr(&b, CAS_TVCAS3_PT_LEN);
	if (cas_buf_error(&b) || cas_buf_left(&b) != 0 || ct == NULL ||
	    (table != CAS_TVCAS3_TABLE_EVEN && table != CAS_TVCAS3_TABLE_ODD) ||
	    slen != CAS_TVCAS3_ECM_LEN - 3 || nano != 0x70 || nlen != 0x32)
		return CAS_TVCAS3_EFORMAT;

	out->table_id = table;
	cas_tdes_ecb_decrypt(&k->half[table & 1], ct, out->pt, CAS_TVCAS3_PT_LEN);
	out->time = cas_be32(out->pt);
	memcpy(out->cw_odd, out->pt + 4, 8);
	memcpy(out->cw_even, out->pt + 12, 8);
	out->ac = cas_be32(out->pt + 20);
	out->checksum_ok = cas_tvcas3_sum8(out->pt, 47) == out->pt[47];
	return out->checksum_ok ? CAS_TVCAS3_OK : CAS_TVCAS3_ECHECKSUM;
}

/* ---- EMM ---- */

int cas_tvcas3_emm_address(const uint8_t *sec, size_t len, uint32_t *serial)
{
	if (sec == NULL || len != CAS_TVCAS3_EMM_LEN ||
	    memcmp(sec, EMM_HDR1, sizeof EMM_HDR1) != 0 ||
	    memcmp(sec + 10, EMM_HDR2, sizeof EMM_HDR2) != 0)
		return CAS_TVCAS3_EFORMAT;
	*serial = cas_be32(sec + 6);
	return CAS_TVCAS3_OK;
}

int cas_tvcas3_emm_parse(const uint8_t card_key[CAS_TVCAS3_CARD_KEY_LEN], const uint8_t *sec,
			 size_t len, struct cas_tvcas3_emm *out)
{
	uint32_t addr;
	if (cas_tvcas3_emm_address(sec, len, &addr) != CAS_TVCAS3_OK)
		return CAS_TVCAS3_EFORMAT;
	struct cas_tdes_key ks;
	cas_tdes_set_key2(&ks, card_key);
	cas_tdes_ecb_decrypt(&ks, sec + 14, out->pt, CAS_TVCAS3_PT_LEN);
	cas_wipe(&ks, sizeof ks);

	const uint8_t *pt = out->pt;
	out->serial = addr;
	out->ac = cas_be32(pt + 4);
	out->start = cas_be32(pt + 8);
	out->finish_plus1 = cas_be32(pt + 12);
	memcpy(out->cdate_start, pt + 16, 2);
	memcpy(out->cdate_finish, pt + 18, 2);
	out->pair = pt[20];
	out->protect = pt[21];
	if (cas_tvcas3_sum8(pt, 23) != pt[23] || cas_tvcas3_sum8(pt, 47) != pt[47])
		return CAS_TVCAS3_ECHECKSUM;
	if (cas_be32(pt) != addr)
		return CAS_TVCAS3_ESERIAL;
	return CAS_TVCAS3_OK;
}
