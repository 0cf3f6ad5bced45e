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

#include "card.h"
#include "conax.h"
#include "hex.h"
#include "log.h"
#include "reader.h"

/* What casprog shows: the Conax view plus the FreeCAS status. */
struct card_info {
	struct cas_conax_card cx;
	struct cp_status st;
	int has_status;
};

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
	if (ci->cx.has_serial)
		printf("%-16s%u\n", "serial", ci->cx.serial);
	if (ci->cx.has_caid)
		printf("%-16s%04X\n", "caid", ci->cx.caid);
	if (ci->cx.has_version)
		printf("%-16s%d\n", "version", ci->cx.version);
	for (int i = 0; i < ci->cx.n_sa; i++)
		printf("%-16s%02X%02X%02X\n", "shared address", ci->cx.sa[i][0], ci->cx.sa[i][1], ci->cx.sa[i][2]);
	if (ci->has_status) {
		state_text(&ci->st, text, sizeof text);
		printf("%-16s%s\n", "state", text);
	}
	for (int i = 0; i < ci->cx.n_pk; i++) {
		const struct cas_conax_pkg *k = &ci->cx.pk[i];
		printable(k->name, text, sizeof text);
		printf("package %04X    %s\n", k->id, text);
		for (int j = 0; j < k->n; j++) {
			const struct cas_conax_ent *e = &k->e[j];
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
	if (ci->cx.counters)
		printf("%-16s%u (last checksums %02X/%02X)\n", "emm count", ci->cx.emm_count, ci->cx.emm_sum_calc,
		       ci->cx.emm_sum_recv);
}

static void print_json(const struct card_info *ci)
{
	char d1[16], d2[16];
	const char *sep = "";
	printf("{");
	if (ci->cx.has_serial) {
		printf("\"serial\":%u", ci->cx.serial);
		sep = ",";
	}
	if (ci->cx.has_caid) {
		printf("%s\"caid\":\"%04X\"", sep, ci->cx.caid);
		sep = ",";
	}
	if (ci->cx.has_version) {
		printf("%s\"version\":%d", sep, ci->cx.version);
		sep = ",";
	}
	if (ci->cx.n_sa > 0) {
		printf("%s\"shared_addresses\":[", sep);
		for (int i = 0; i < ci->cx.n_sa; i++)
			printf("%s\"%02X%02X%02X\"", i ? "," : "", ci->cx.sa[i][0], ci->cx.sa[i][1], ci->cx.sa[i][2]);
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
	if (ci->cx.has_serial) {
		printf("%s\"packages\":[", sep);
		for (int i = 0; i < ci->cx.n_pk; i++) {
			const struct cas_conax_pkg *k = &ci->cx.pk[i];
			printf("%s{\"id\":\"%04X\",\"name\":", i ? "," : "", k->id);
			json_string(stdout, k->name);
			printf(",\"entitlements\":[");
			for (int j = 0; j < k->n; j++) {
				const struct cas_conax_ent *e = &k->e[j];
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
	if (ci->cx.counters)
		printf(",\"emm_count\":%u", ci->cx.emm_count);
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
	if (sw != 0x9000 || cas_conax_parse_init(resp, n, &ci.cx) < 0) {
		cas_log(CAS_LOG_FATAL, "the card's answer to INS 26 is not a Conax card's (SW %04X, %zu bytes)", sw, n);
		rc = CAS_EXIT_FAILED;
		goto out;
	}

	/* OSCam's INS 82 (conax-card.md §2.4), with the CAID the card gave */
	uint8_t addr[CAS_CONAX_ADDR_CMD_LEN];
	cas_conax_addr_cmd(ci.cx.has_caid ? ci.cx.caid : 0x0B00, addr);
	if ((rc = cp_card_conax(&r, 0x82, addr, sizeof addr, resp, sizeof resp, &n, &sw,
				"reading the card addresses (INS 82)")) != 0)
		goto out;
	if (sw != 0x9000 || cas_conax_parse_addr(resp, n, &ci.cx) < 0 || !ci.cx.has_serial) {
		cas_log(CAS_LOG_FATAL, "the card's answer to INS 82 holds no serial (SW %04X, %zu bytes)", sw, n);
		rc = CAS_EXIT_FAILED;
		goto out;
	}

	static const uint8_t subs[] = { 0x1C, 0x01, 0x00 };
	if ((rc = cp_card_conax(&r, 0xC6, subs, sizeof subs, resp, sizeof resp, &n, &sw,
				"reading the subscriptions (INS C6)")) != 0)
		goto out;
	if (sw != 0x9000 || cas_conax_parse_subs(resp, n, &ci.cx) < 0) {
		cas_log(CAS_LOG_FATAL, "the card's answer to INS C6 is malformed (SW %04X, %zu bytes)", sw, n);
		rc = CAS_EXIT_FAILED;
		goto out;
	}

	/* The FreeCAS STATUS command last: another card may not know it. */
	if (cp_card_status_probe(&r, &ci.st) == 0)
		ci.has_status = 1;
	else
		cas_log(CAS_LOG_WARN, "card %u: no FreeCAS status (%s): state unknown", ci.cx.serial,
			r.h.err[0] != '\0' ? cas_t0host_error(&r.h) : "another firmware?");
print:
	if (json)
		print_json(&ci);
	else if (!ci.cx.has_serial)
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
