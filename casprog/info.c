/*
 * casprog info: what the card says about itself through the Conax commands
 * OSCam uses (reference/conax-card.md §2.3, §2.4, §2.6; tvcas3.md §6):
 *   DD 26 | 10 01 40          card version (20), CAID (28)
 *   DD 82 | 11 0F ... 09 04   unique address = serial (23 07, a3 != 0),
 *                             shared address (23 07, a3 = 0)
 *   DD C6 | 1C 01 00          package records: id, name (01), start and
 *                             end dates (30 30), classes (20)
 * then the FreeCAS STATUS command (DD D8, card.h) for the life cycle and
 * the protect / pair / block flags.  Printed as a table, or as JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "card.h"
#include "hex.h"
#include "log.h"
#include "reader.h"

#define MAX_PKG 8
#define MAX_ENT 4
#define MAX_SA 4

struct ent {
	uint8_t start[2], end[2];
	int dates;			/* 30 records seen: 0, 1 or 2 */
	uint32_t classes;
	int has_classes;
};

struct pkg {
	uint16_t id;
	char name[32];
	struct ent e[MAX_ENT];
	int n;
};

struct card_info {
	int version, has_version;
	uint16_t caid;
	int has_caid;
	uint32_t serial;
	int has_serial;
	uint8_t sa[MAX_SA][3];
	int n_sa;
	struct pkg pk[MAX_PKG];
	int n_pk;
	int counters;			/* the TVCAS diagnostic counters were found */
	uint8_t emm_count, emm_sum_calc, emm_sum_recv;
	struct cp_status st;
	int has_status;
};

/* 20 01 ver, 28 02 CAID; other tags skipped by length (§2.3). */
static int parse_init(const uint8_t *p, size_t n, struct card_info *ci)
{
	struct cas_buf b;
	cas_buf_init(&b, p, n);
	while (cas_buf_left(&b) > 0) {
		uint8_t tag = cas_buf_get_u8(&b), len = cas_buf_get_u8(&b);
		struct cas_buf v;
		if (cas_buf_get_sub(&b, len, &v) < 0)
			return -1;
		if (tag == 0x20 && len >= 1) {
			ci->version = cas_buf_get_u8(&v);
			ci->has_version = 1;
		} else if (tag == 0x28 && len >= 2) {
			ci->caid = cas_buf_get_u16(&v);
			ci->has_caid = 1;
		}
	}
	return cas_buf_error(&b) ? -1 : 0;
}

/* 22 LL { 09 04 ... } { 23 07 a0..a6 } x n (§2.4). */
static int parse_addr(const uint8_t *p, size_t n, struct card_info *ci)
{
	struct cas_buf b, in;
	cas_buf_init(&b, p, n);
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
		if (a[3] != 0 && !ci->has_serial) {
			ci->serial = cas_be32(a + 3);
			ci->has_serial = 1;
		} else if (a[3] == 0 && ci->n_sa < MAX_SA) {
			memcpy(ci->sa[ci->n_sa++], a + 4, 3);
		}
	}
	return cas_buf_error(&in) ? -1 : 0;
}

/* Records: tag len id(2) nested { 01 name } { 30 date } { 20 classes }
 * (§2.6).  A 30 after an end date, or after classes, opens the next
 * entitlement. */
static int parse_subs(const uint8_t *p, size_t n, struct card_info *ci)
{
	struct cas_buf b;
	cas_buf_init(&b, p, n);
	while (cas_buf_left(&b) > 0) {
		uint8_t len;
		struct cas_buf rec;
		cas_buf_get_u8(&b);
		len = cas_buf_get_u8(&b);
		if (cas_buf_get_sub(&b, len, &rec) < 0)
			return -1;
		if (ci->n_pk == MAX_PKG)
			continue;
		struct pkg *k = &ci->pk[ci->n_pk];
		memset(k, 0, sizeof *k);
		k->id = cas_buf_get_u16(&rec);
		if (cas_buf_error(&rec))
			return -1;
		struct ent *e = NULL;
		while (cas_buf_left(&rec) > 0) {
			uint8_t tag = cas_buf_get_u8(&rec), l = cas_buf_get_u8(&rec);
			struct cas_buf v;
			if (cas_buf_get_sub(&rec, l, &v) < 0)
				return -1;
			if (tag == 0x01) {
				size_t m = l < sizeof k->name ? l : sizeof k->name - 1;
				cas_buf_get_bytes(&v, k->name, m);
				k->name[m] = '\0';
				for (size_t i = m; i > 0 && (k->name[i - 1] == ' ' || k->name[i - 1] == '\0'); i--)
					k->name[i - 1] = '\0';
			} else if (tag == 0x30 && l == 2) {
				if (e == NULL || e->dates == 2 || e->has_classes) {
					if (k->n == MAX_ENT)
						continue;
					e = &k->e[k->n++];
				}
				cas_buf_get_bytes(&v, e->dates == 0 ? e->start : e->end, 2);
				e->dates++;
			} else if ((tag == 0x20 || tag == 0x90) && l == 4 && e != NULL && !e->has_classes) {
				e->classes = cas_buf_get_u32(&v);
				e->has_classes = 1;
			}
		}
		ci->n_pk++;
	}
	/* tvcas3.md §6: the FreeCAS / TVCAS 3 record repeats its dates with
	 * the card's counters in place of a second class mask. */
	if (ci->n_pk == 1 && ci->pk[0].n == 2 &&
	    memcmp(ci->pk[0].e[0].start, ci->pk[0].e[1].start, 2) == 0 &&
	    memcmp(ci->pk[0].e[0].end, ci->pk[0].e[1].end, 2) == 0) {
		uint32_t c = ci->pk[0].e[1].classes;
		ci->counters = 1;
		ci->emm_count = (uint8_t)(c >> 24);
		ci->emm_sum_calc = (uint8_t)(c >> 16);
		ci->emm_sum_recv = (uint8_t)(c >> 8);
		ci->pk[0].n = 1;
	}
	return cas_buf_error(&b) ? -1 : 0;
}

/* Text of the card for a terminal: printable ASCII only. */
static void printable(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < cap; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7F ? in[i] : '?';
	out[i] = '\0';
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7F)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void state_text(const struct cp_status *st, char *out, size_t cap)
{
	snprintf(out, cap, "%s, protect %s, pair %s%s%s", cp_life_name(st->life),
		 st->flags & CAS_CARD_ST_PROTECT ? "on" : "off", st->flags & CAS_CARD_ST_PAIR ? "on" : "off",
		 st->flags & CAS_CARD_ST_BOUND ? " (bound to a host)" : "",
		 st->flags & CAS_CARD_ST_BLOCKED ? ", blocked" : "");
}

static void print_table(const struct card_info *ci)
{
	char text[160], d1[16], d2[16];
	if (ci->has_serial)
		printf("%-16s%u\n", "serial", ci->serial);
	if (ci->has_caid)
		printf("%-16s%04X\n", "caid", ci->caid);
	if (ci->has_version)
		printf("%-16s%d\n", "version", ci->version);
	for (int i = 0; i < ci->n_sa; i++)
		printf("%-16s%02X%02X%02X\n", "shared address", ci->sa[i][0], ci->sa[i][1], ci->sa[i][2]);
	if (ci->has_status) {
		state_text(&ci->st, text, sizeof text);
		printf("%-16s%s\n", "state", text);
	}
	for (int i = 0; i < ci->n_pk; i++) {
		const struct pkg *k = &ci->pk[i];
		printable(k->name, text, sizeof text);
		printf("package %04X    %s\n", k->id, text);
		for (int j = 0; j < k->n; j++) {
			const struct ent *e = &k->e[j];
			cp_cdate_text(e->start, d1);
			cp_cdate_text(e->end, d2);
			if (e->dates >= 1)
				printf("  %-14s%s\n", "start", d1);
			if (e->dates >= 2)
				printf("  %-14s%s\n", "finish", d2);
			if (e->has_classes)
				printf("  %-14s%08X\n", "access", e->classes);
		}
	}
	if (ci->counters)
		printf("%-16s%u (last checksums %02X/%02X)\n", "emm count", ci->emm_count, ci->emm_sum_calc,
		       ci->emm_sum_recv);
}

static void print_json(const struct card_info *ci)
{
	char d1[16], d2[16];
	const char *sep = "";
	printf("{");
	if (ci->has_serial) {
		printf("\"serial\":%u", ci->serial);
		sep = ",";
	}
	if (ci->has_caid) {
		printf("%s\"caid\":\"%04X\"", sep, ci->caid);
		sep = ",";
	}
	if (ci->has_version) {
		printf("%s\"version\":%d", sep, ci->version);
		sep = ",";
	}
	if (ci->n_sa > 0) {
		printf("%s\"shared_addresses\":[", sep);
		for (int i = 0; i < ci->n_sa; i++)
			printf("%s\"%02X%02X%02X\"", i ? "," : "", ci->sa[i][0], ci->sa[i][1], ci->sa[i][2]);
		printf("]");
		sep = ",";
	}
	if (ci->has_status) {
		const struct cp_status *st = &ci->st;
		printf("%s\"state\":\"%s\",\"protect\":%s,\"pair\":%s,\"bound\":%s,\"blocked\":%s", sep,
		       st->life == CAS_CARD_BLANK ? "blank" : st->life == CAS_CARD_OPEN ? "open" : "locked",
		       st->flags & CAS_CARD_ST_PROTECT ? "true" : "false",
		       st->flags & CAS_CARD_ST_PAIR ? "true" : "false",
		       st->flags & CAS_CARD_ST_BOUND ? "true" : "false",
		       st->flags & CAS_CARD_ST_BLOCKED ? "true" : "false");
		sep = ",";
	}
	if (ci->has_serial) {
		printf("%s\"packages\":[", sep);
		for (int i = 0; i < ci->n_pk; i++) {
			const struct pkg *k = &ci->pk[i];
			printf("%s{\"id\":\"%04X\",\"name\":", i ? "," : "", k->id);
			json_string(stdout, k->name);
			printf(",\"entitlements\":[");
			for (int j = 0; j < k->n; j++) {
				const struct ent *e = &k->e[j];
				cp_cdate_text(e->start, d1);
				cp_cdate_text(e->end, d2);
				printf("%s{", j ? "," : "");
				const char *s2 = "";
				if (e->dates >= 1) {
					printf("\"start\":\"%s\"", d1);
					s2 = ",";
				}
				if (e->dates >= 2)
					printf("%s\"finish\":\"%s\"", s2, d2);
				if (e->has_classes)
					printf("%s\"access\":\"%08X\"", e->dates ? "," : "", e->classes);
				printf("}");
			}
			printf("]}");
		}
		printf("]");
	}
	if (ci->counters)
		printf(",\"emm_count\":%u", ci->emm_count);
	printf("}\n");
}

int cp_info(struct cp_ctx *ctx)
{
	struct cp_reader_opts ro;
	struct cp_reader r;
	struct cas_conf conf;
	static struct card_info ci;
	uint8_t resp[256];
	size_t n;
	uint16_t sw;
	int json, rc;
	if (cp_reader_args(ctx, &ro, "info", NULL, &json, &rc) < 0)
		return rc;
	if (cp_load_conf(ctx, &conf, &rc) < 0)
		return rc;
	memset(&ci, 0, sizeof ci);
	if ((rc = cp_reader_start(&r, &ro, &conf)) != 0)
		goto out;
	r.tty = 0;	/* no progress bar: three commands */

	static const uint8_t init[] = { 0x10, 0x01, 0x40 };
	if ((rc = cp_card_conax(&r, 0x26, init, sizeof init, resp, sizeof resp, &n, &sw,
				"reading the card version (INS 26)")) != 0)
		goto out;
	if (sw == 0x6985) {
		/* a Conax command on a blank card (card.h) */
		if ((rc = cp_card_status(&r, &ci.st)) != 0)
			goto out;
		if (ci.st.life != CAS_CARD_BLANK) {
			cas_log(CAS_LOG_FATAL, "the card refuses the Conax commands (SW 6985) but is not blank");
			rc = CAS_EXIT_FAILED;
			goto out;
		}
		ci.has_status = 1;
		goto print;
	}
	if (sw != 0x9000 || parse_init(resp, n, &ci) < 0) {
		cas_log(CAS_LOG_FATAL, "the card's answer to INS 26 is not a Conax card's (SW %04X, %zu bytes)", sw, n);
		rc = CAS_EXIT_FAILED;
		goto out;
	}

	/* OSCam's INS 82 (conax-card.md §2.4), with the CAID the card gave */
	uint8_t addr[] = { 0x11, 0x0F, 0x01, 0xB0, 0x0F, 0xFF, 0xFF, 0xFB, 0x00, 0x00,
			   0x09, 0x04, 0x0B, 0x00, 0xE0, 0x30, 0x2B };
	if (ci.has_caid)
		cas_put_be16(addr + 12, ci.caid);
	if ((rc = cp_card_conax(&r, 0x82, addr, sizeof addr, resp, sizeof resp, &n, &sw,
				"reading the card addresses (INS 82)")) != 0)
		goto out;
	if (sw != 0x9000 || parse_addr(resp, n, &ci) < 0 || !ci.has_serial) {
		cas_log(CAS_LOG_FATAL, "the card's answer to INS 82 holds no serial (SW %04X, %zu bytes)", sw, n);
		rc = CAS_EXIT_FAILED;
		goto out;
	}

	static const uint8_t subs[] = { 0x1C, 0x01, 0x00 };
	if ((rc = cp_card_conax(&r, 0xC6, subs, sizeof subs, resp, sizeof resp, &n, &sw,
				"reading the subscriptions (INS C6)")) != 0)
		goto out;
	if (sw != 0x9000 || parse_subs(resp, n, &ci) < 0) {
		cas_log(CAS_LOG_FATAL, "the card's answer to INS C6 is malformed (SW %04X, %zu bytes)", sw, n);
		rc = CAS_EXIT_FAILED;
		goto out;
	}

	/* The FreeCAS STATUS command last: another card may not know it. */
	if (cp_card_status_probe(&r, &ci.st) == 0)
		ci.has_status = 1;
	else
		cas_log(CAS_LOG_WARN, "card %u: no FreeCAS status (%s): state unknown", ci.serial,
			r.h.err[0] != '\0' ? cas_t0host_error(&r.h) : "another firmware?");
print:
	if (json)
		print_json(&ci);
	else if (!ci.has_serial)
		printf("%-16s%s\n", "state", "blank (not personalised)");
	else
		print_table(&ci);
	rc = CAS_EXIT_OK;
	if (fflush(stdout) != 0) {
		cas_log(CAS_LOG_FATAL, "unable to write to stdout: %s", strerror(errno));
		rc = CAS_EXIT_SYSTEM;
	}
out:
	cp_reader_close(&r);
	cas_conf_free(&conf);
	return rc;
}
