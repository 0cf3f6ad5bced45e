/* Host side of the Conax card answers (conax.h). */
#include "conax.h"

#include <string.h>

#include "buf.h"

int cas_conax_parse_init(const uint8_t *p, size_t n, struct cas_conax_card *c)
{
	struct cas_buf b;
	cas_buf_init(&b, p, n);
	while (cas_buf_left(&b) > 0) {
		uint8_t tag = cas_buf_get_u8(&b), len = cas_buf_get_u8(&b);
		struct cas_buf v;
		if (cas_buf_get_sub(&b, len, &v) < 0)
			return -1;
		if (tag == 0x20 && len >= 1) {
			c->version = cas_buf_get_u8(&v);
			c->has_version = 1;
		} else if (tag == 0x28 && len >= 2) {
			c->caid = cas_buf_get_u16(&v);
			c->has_caid = 1;
		}
	}
	return cas_buf_error(&b) ? -1 : 0;
}

int cas_conax_parse_addr(const uint8_t *p, size_t n, struct cas_conax_card *c)
{
	struct cas_buf b, in;
	cas_buf_init(&b, p, n);
	/* vdr-sc checks the leading 22 too (conax-card.md §2.4) */
	if (cas_buf_get_u8(&b) != 0x22)
		return -1;
	uint8_t total = cas_buf_get_u8(&b);
	if (cas_buf_get_sub(&b, total, &in) < 0)
		return -1;
	while (cas_buf_left(&in) > 0) {
		uint8_t tag = cas_buf_get_u8(&in), len = cas_buf_get_u8(&in);
		struct cas_buf v;
		if (cas_buf_get_sub(&in, len, &v) < 0)
			return -1;
		if (tag != 0x23 || len != 7)
			continue;
		const uint8_t *a = cas_buf_get_ptr(&v, 7);
		if (a[3] != 0) {
			if (!c->has_serial) {
				c->serial = cas_be32(a + 3);
				c->has_serial = 1;
			}
		} else if (c->n_sa < CAS_CONAX_MAX_SA) {
			memcpy(c->sa[c->n_sa++], a + 4, 3);
		}
	}
	return cas_buf_error(&in) ? -1 : 0;
}

static int parse_record(struct cas_buf *rec, struct cas_conax_pkg *k)
{
	struct cas_conax_ent *e = NULL;
	memset(k, 0, sizeof *k);
	k->id = cas_buf_get_u16(rec);
	if (cas_buf_error(rec))
		return -1;
	while (cas_buf_left(rec) > 0) {
		uint8_t tag = cas_buf_get_u8(rec), l = cas_buf_get_u8(rec);
		struct cas_buf v;
		if (cas_buf_get_sub(rec, l, &v) < 0)
			return -1;
		if (tag == 0x01) {
			size_t m = l < CAS_CONAX_NAME_SIZE ? l : CAS_CONAX_NAME_SIZE - 1;
			cas_buf_get_bytes(&v, k->name, m);
			k->name[m] = '\0';
			for (size_t i = m; i > 0 && (k->name[i - 1] == ' ' || k->name[i - 1] == '\0'); i--)
				k->name[i - 1] = '\0';
		} else if (tag == 0x30 && l == 2) {
			if (e == NULL || e->dates == 2 || e->has_classes) {
				if (k->n == CAS_CONAX_MAX_ENT)
					continue;
				e = &k->e[k->n++];
			}
			cas_buf_get_bytes(&v, e->dates == 0 ? e->start : e->end, 2);
			e->dates++;
		} else if ((tag == 0x20 || tag == 0x90) && l == 4 && e != NULL && !e->has_classes) {
			/* OSCam treats 90 04 as 20 04 (conax-card.md §2.6) */
			e->classes = cas_buf_get_u32(&v);
			e->has_classes = 1;
		}
	}
	return 0;
}

int cas_conax_parse_subs(const uint8_t *p, size_t n, struct cas_conax_card *c)
{
	struct cas_buf b;
	cas_buf_init(&b, p, n);
	while (cas_buf_left(&b) > 0) {
		struct cas_buf rec;
		cas_buf_get_u8(&b);		/* 32 for packages; OSCam ignores it */
		uint8_t len = cas_buf_get_u8(&b);
		if (cas_buf_get_sub(&b, len, &rec) < 0)
			return -1;
		if (c->n_pk == CAS_CONAX_MAX_PKG)
			continue;
		if (parse_record(&rec, &c->pk[c->n_pk]) < 0)
			return -1;
		c->n_pk++;
	}
	/* tvcas3.md §6: "32 2F 10 10 01 0F name, 30 start, 30 finish, 20 AC,
	 * 30 start, 30 finish, 20 emm_cnt csum_calc csum_recv ecm_cnt" */
	struct cas_conax_pkg *k = &c->pk[0];
	if (c->n_pk == 1 && k->n == 2 && k->e[0].dates == 2 && k->e[1].dates == 2 &&
	    k->e[1].has_classes && memcmp(k->e[0].start, k->e[1].start, 2) == 0 &&
	    memcmp(k->e[0].end, k->e[1].end, 2) == 0) {
		uint32_t v = k->e[1].classes;
		c->counters = 1;
		c->emm_count = (uint8_t)(v >> 24);
		c->emm_sum_calc = (uint8_t)(v >> 16);
		c->emm_sum_recv = (uint8_t)(v >> 8);
		memset(&k->e[1], 0, sizeof k->e[1]);
		k->n = 1;
	}
	return cas_buf_error(&b) ? -1 : 0;
}

void cas_conax_addr_cmd(uint16_t caid, uint8_t out[CAS_CONAX_ADDR_CMD_LEN])
{
	/* 11 0F | 01 B0 0F FF FF FB 00 00 | 09 04 CAID E0 30 | 2B: the CA
	 * descriptor with EMM PID 0x0030, as OSCam hard-codes it */
	static const uint8_t cmd[CAS_CONAX_ADDR_CMD_LEN] = {
		0x11, 0x0F, 0x01, 0xB0, 0x0F, 0xFF, 0xFF, 0xFB, 0x00, 0x00,
		0x09, 0x04, 0x0B, 0x00, 0xE0, 0x30, 0x2B,
	};
	memcpy(out, cmd, sizeof cmd);
	cas_put_be16(out + 12, caid);
}
