/* The tvcas3 profile (reference/tvcas3.md). */
#include "tvcas3.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cdate.h"
#include "hex.h"
#include "md5.h"
#include "rand.h"

/* Section headers (§2.1, §3.1): table_id, then 0x70 = private section
 * without CRC and a section_length below 256, then the nano. */
static const uint8_t ECM_HDR[7] = { 0x00, 0x70, 0x34, 0x70, 0x32, 0x64, 0x21 };
static const uint8_t EMM_HDR1[6] = { CAS_TVCAS3_TABLE_EMM, 0x70, 0x3B, 0x00, 0x00, 0x00 };
static const uint8_t EMM_HDR2[4] = { 0x70, 0x32, 0x64, 0x10 };

/* The dummy EMM's card key (§3.4). */
static const uint8_t DUMMY_KEY[16] = {
	0x12, 0x34, 0x56, 0x78, 0x90, 0xA0, 0xB1, 0xC2,
	0x12, 0x34, 0x56, 0x78, 0x90, 0xA0, 0xB1, 0xC2,
};

/* ---- ECM ---- */

static const struct cas_cp_cw *find_cw(const struct cas_ecm_req *req, uint16_t cp)
{
	for (size_t i = 0; i < req->n_cws; i++)
		if (req->cws[i].cp == cp)
			return &req->cws[i];
	return NULL;
}

int cas_tvcas3_ecm_build(const struct cas_tvcas3_ecm_key *k, const struct cas_ecm_req *req,
			 uint8_t out[CAS_TVCAS3_ECM_LEN])
{
	if (req->now < 0 || req->now > (int64_t)UINT32_MAX)
		return -1;
	if (req->filler != NULL && req->filler_len != CAS_TVCAS3_FILLER_LEN)
		return -1;
	if (req->cws == NULL)
		return -1;
	/* The ECM of CP n carries the CWs of CP n and n + 1 (lead_CW 1,
	 * CW_per_msg 2); TVCAS 3 took them by item order, FreeCAS by their
	 * own CP numbers, which is the same for a standard SCS (§2.2). */
	const struct cas_cp_cw *cur = find_cw(req, req->cp);
	const struct cas_cp_cw *next = find_cw(req, (uint16_t)(req->cp + 1));
	if (cur == NULL || next == NULL)
		return -1;
	const struct cas_cp_cw *odd = (cur->cp & 1) ? cur : next;
	const struct cas_cp_cw *even = (cur->cp & 1) ? next : cur;

	uint8_t pt[CAS_TVCAS3_PT_LEN];
	cas_put_be32(pt, (uint32_t)req->now);
	memcpy(pt + 4, odd->cw, 8);
	memcpy(pt + 12, even->cw, 8);
	/* access_criteria: its first 4 bytes, or 0 if shorter (§2.2). */
	uint32_t ac = req->ac != NULL && req->ac_len >= 4 ? cas_be32(req->ac) : 0;
	cas_put_be32(pt + 20, ac);
	if (req->filler != NULL)
		memcpy(pt + 24, req->filler, CAS_TVCAS3_FILLER_LEN);
	else
		cas_rand_bytes(pt + 24, CAS_TVCAS3_FILLER_LEN);
	pt[47] = cas_tvcas3_sum8(pt, 47);

	int odd_cp = req->cp & 1;
	memcpy(out, ECM_HDR, sizeof ECM_HDR);
	out[0] = odd_cp ? CAS_TVCAS3_TABLE_ODD : CAS_TVCAS3_TABLE_EVEN;
	cas_tdes_ecb_encrypt(&k->half[odd_cp], pt, out + 7, CAS_TVCAS3_PT_LEN);
	sodium_memzero(pt, sizeof pt);
	return 0;
}

/* ---- EMM ---- */

/* A card row's times as the u32 the formats carry, and their Conax dates;
 * finish + 1 must fit as well (§3.2). */
static int card_times(const struct cas_rights *card, uint8_t cstart[2], uint8_t cfinish[2])
{
	if (card->start < 0 || card->start > (int64_t)UINT32_MAX ||
	    card->finish < 0 || card->finish >= (int64_t)UINT32_MAX)
		return -1;
	if (cas_cdate_from_time(card->start, cstart) < 0 ||
	    cas_cdate_from_time(card->finish, cfinish) < 0)
		return -1;
	return 0;
}

/* Writes the decimal text of v at p; returns its length. */
static size_t put_dec(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* MD5 of the decimal text of t followed by the decimal text of c1, as the
 * PHP concatenates them (§3.2).  t >= 0 (checked by card_times). */
static void md5_dec(int64_t t, uint8_t c1, uint8_t digest[CAS_MD5_LEN])
{
	char text[24];
	size_t n = put_dec(text, (uint64_t)t);
	n += put_dec(text + n, c1);
	cas_md5(text, n, digest);
}

int cas_tvcas3_emm_plaintext(const struct cas_rights *card, uint8_t pt[CAS_TVCAS3_PT_LEN])
{
	uint8_t cstart[2], cfinish[2];
	if (card_times(card, cstart, cfinish) < 0)
		return -1;
	cas_put_be32(pt, card->serial);
	cas_put_be32(pt + 4, card->ac);
	cas_put_be32(pt + 8, (uint32_t)card->start);
	cas_put_be32(pt + 12, (uint32_t)(card->finish + 1));
	memcpy(pt + 16, cstart, 2);
	memcpy(pt + 18, cfinish, 2);
	pt[20] = card->pair > 0;
	pt[21] = card->type == 1;
	pt[22] = 0;
	pt[23] = cas_tvcas3_sum8(pt, 23);
	/* Filler: MD5(start . c1) then the first 7 bytes of
	 * MD5(finish . c1), decimal text, plain finish (§3.2). */
	uint8_t d[CAS_MD5_LEN];
	md5_dec(card->start, pt[23], d);
	memcpy(pt + 24, d, 16);
	md5_dec(card->finish, pt[23], d);
	memcpy(pt + 40, d, 7);
	pt[47] = cas_tvcas3_sum8(pt, 47);
	return 0;
}

int cas_tvcas3_emm_build(const struct cas_rights *card, uint8_t out[CAS_TVCAS3_EMM_LEN])
{
	uint8_t pt[CAS_TVCAS3_PT_LEN];
	if (cas_tvcas3_emm_plaintext(card, pt) < 0)
		return -1;
	struct cas_tdes_key ks;
	cas_tdes_set_key2(&ks, card->key);
	memcpy(out, EMM_HDR1, sizeof EMM_HDR1);
	cas_put_be32(out + 6, card->serial);
	memcpy(out + 10, EMM_HDR2, sizeof EMM_HDR2);
	cas_tdes_ecb_encrypt(&ks, pt, out + 14, CAS_TVCAS3_PT_LEN);
	cas_tdes_wipe(&ks);
	sodium_memzero(pt, sizeof pt);
	return 0;
}

void cas_tvcas3_dummy_card(int64_t now, struct cas_rights *out)
{
	memset(out, 0, sizeof *out);
	out->serial = CAS_TVCAS3_DUMMY_SERIAL;
	memcpy(out->key, DUMMY_KEY, sizeof DUMMY_KEY);
	out->ac = 0xFFFFFFFFu;
	out->start = now - 86400;
	out->finish = now + 300;
	out->pair = 0;
	out->type = 0;
}

int cas_tvcas3_emm_build_dummy(int64_t now, uint8_t out[CAS_TVCAS3_EMM_LEN])
{
	struct cas_rights c;
	cas_tvcas3_dummy_card(now, &c);
	return cas_tvcas3_emm_build(&c, out);
}

/* ---- BIN ---- */

/* First 3 bytes of MD5 of the ECM key's text as configured in TVCAS 3:
 * 64 upper-case hex digits (§5, offset 5). */
static void shared_address(const uint8_t ecm_key[CAS_TVCAS3_ECM_KEY_LEN], uint8_t out[3])
{
	char text[2 * CAS_TVCAS3_ECM_KEY_LEN + 1];
	uint8_t d[CAS_MD5_LEN];
	cas_hex_encode(ecm_key, CAS_TVCAS3_ECM_KEY_LEN, text);
	cas_md5(text, 2 * CAS_TVCAS3_ECM_KEY_LEN, d);
	memcpy(out, d, 3);
	sodium_memzero(text, sizeof text);
}

int cas_tvcas3_bin_build(const struct cas_rights *card, const struct cas_bin_opts *opts,
			 uint8_t out[CAS_TVCAS3_BIN_LEN])
{
	uint8_t cstart[2], cfinish[2];
	if (opts->ecm_key == NULL || opts->ecm_key_len != CAS_TVCAS3_ECM_KEY_LEN ||
	    card_times(card, cstart, cfinish) < 0)
		return -1;
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, CAS_TVCAS3_BIN_LEN);
	cas_wbuf_put_u32(&w, card->serial);
	/* TVCAS 3 writes the low byte of its `ident` if that starts with
	 * "0B" (the Conax CA_system_id range), else 00. */
	cas_wbuf_put_u8(&w, (opts->ca_system_id >> 8) == 0x0B ? (uint8_t)opts->ca_system_id : 0);
	uint8_t shared[3];
	shared_address(opts->ecm_key, shared);
	cas_wbuf_put_bytes(&w, shared, 3);
	size_t tlen = opts->trademark != NULL ? strlen(opts->trademark) : 0;
	if (tlen > 15)
		tlen = 15;
	cas_wbuf_put_bytes(&w, opts->trademark, tlen);
	cas_wbuf_fill(&w, 0x20, 15 - tlen);
	cas_wbuf_put_u32(&w, (uint32_t)card->start);
	cas_wbuf_put_u32(&w, (uint32_t)card->finish);	/* raw, not + 1 (§5) */
	cas_wbuf_put_u32(&w, card->ac);
	cas_wbuf_put_bytes(&w, cstart, 2);
	cas_wbuf_put_bytes(&w, cfinish, 2);
	cas_wbuf_put_u8(&w, card->pair != 0);
	cas_wbuf_put_u8(&w, card->type == 1);
	cas_wbuf_put_u8(&w, 0);
	cas_wbuf_put_bytes(&w, opts->ecm_key, CAS_TVCAS3_ECM_KEY_LEN);
	cas_wbuf_put_bytes(&w, card->key, CAS_TVCAS3_CARD_KEY_LEN);
	if (cas_wbuf_error(&w) || w.len != CAS_TVCAS3_BIN_LEN)
		return -1;
	return 0;
}

int cas_tvcas3_bin_parse(const uint8_t *bin, size_t len, struct cas_tvcas3_bin *out)
{
	if (bin == NULL || len != CAS_TVCAS3_BIN_LEN)
		return CAS_TVCAS3_EFORMAT;
	struct cas_buf b;
	cas_buf_init(&b, bin, len);
	out->serial = cas_buf_get_u32(&b);
	out->caid_lo = cas_buf_get_u8(&b);
	cas_buf_get_bytes(&b, out->shared, 3);
	cas_buf_get_bytes(&b, out->trademark, 15);
	out->trademark[15] = '\0';
	for (size_t i = 15; i > 0 && (out->trademark[i - 1] == ' ' || out->trademark[i - 1] == '\0'); i--)
		out->trademark[i - 1] = '\0';
	out->start = cas_buf_get_u32(&b);
	out->finish = cas_buf_get_u32(&b);
	out->ac = cas_buf_get_u32(&b);
	cas_buf_get_bytes(&b, out->cdate_start, 2);
	cas_buf_get_bytes(&b, out->cdate_finish, 2);
	out->pair = cas_buf_get_u8(&b);
	out->protect = cas_buf_get_u8(&b);
	cas_buf_skip(&b, 1);
	cas_buf_get_bytes(&b, out->ecm_key, CAS_TVCAS3_ECM_KEY_LEN);
	cas_buf_get_bytes(&b, out->card_key, CAS_TVCAS3_CARD_KEY_LEN);
	if (cas_buf_error(&b) || cas_buf_left(&b) != 0)
		return CAS_TVCAS3_EFORMAT;
	uint8_t shared[3];
	shared_address(out->ecm_key, shared);
	out->shared_ok = memcmp(shared, out->shared, 3) == 0;
	return CAS_TVCAS3_OK;
}

/* ---- the profile table ---- */

static int p_ecm_key_new(const uint8_t *key, size_t len, void **ctx)
{
	if (key == NULL || len != CAS_TVCAS3_ECM_KEY_LEN)
		return -1;
	struct cas_tvcas3_ecm_key *k = malloc(sizeof *k);
	if (k == NULL)
		return -1;
	cas_tvcas3_ecm_key_init(k, key);
	*ctx = k;
	return 0;
}

static void p_ecm_key_free(void *ctx)
{
	if (ctx == NULL)
		return;
	cas_tvcas3_ecm_key_wipe(ctx);
	free(ctx);
}

static long p_ecm_build(const void *ctx, const struct cas_ecm_req *req, uint8_t *out, size_t cap)
{
	if (cap < CAS_TVCAS3_ECM_LEN || cas_tvcas3_ecm_build(ctx, req, out) < 0)
		return -1;
	return CAS_TVCAS3_ECM_LEN;
}

static long p_emm_build(const struct cas_rights *card, int64_t now, uint8_t *out, size_t cap)
{
	(void)now;	/* TVCAS 3 EMMs carry no time (§8: replayable) */
	if (cap < CAS_TVCAS3_EMM_LEN || cas_tvcas3_emm_build(card, out) < 0)
		return -1;
	return CAS_TVCAS3_EMM_LEN;
}

static long p_emm_dummy(int64_t now, uint8_t *out, size_t cap)
{
	if (cap < CAS_TVCAS3_EMM_LEN || cas_tvcas3_emm_build_dummy(now, out) < 0)
		return -1;
	return CAS_TVCAS3_EMM_LEN;
}

static int p_emm_address(const uint8_t *sec, size_t len, uint32_t *serial)
{
	return cas_tvcas3_emm_address(sec, len, serial) == CAS_TVCAS3_OK ? 0 : -1;
}

static long p_bin_build(const struct cas_rights *card, const struct cas_bin_opts *opts,
			uint8_t *out, size_t cap)
{
	if (cap < CAS_TVCAS3_BIN_LEN || cas_tvcas3_bin_build(card, opts, out) < 0)
		return -1;
	return CAS_TVCAS3_BIN_LEN;
}

const struct cas_profile cas_tvcas3_profile = {
	.name = "tvcas3",
	.ecm_key_len = CAS_TVCAS3_ECM_KEY_LEN,
	.ecm_max_len = CAS_TVCAS3_ECM_LEN,
	.emm_max_len = CAS_TVCAS3_EMM_LEN,
	.bin_len = CAS_TVCAS3_BIN_LEN,
	.ecm_key_new = p_ecm_key_new,
	.ecm_key_free = p_ecm_key_free,
	.ecm_build = p_ecm_build,
	.emm_build = p_emm_build,
	.emm_dummy = p_emm_dummy,
	.emm_address = p_emm_address,
	.bin_build = p_bin_build,
};
