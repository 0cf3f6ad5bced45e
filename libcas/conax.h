#ifndef CAS_CONAX_H
#define CAS_CONAX_H
/*
 * Host side of the Conax card answers (reference/conax-card.md §2.3, §2.4,
 * §2.6; tvcas3.md §6): what a card says about itself, as a CAM or OSCam
 * reads it.  casprog info uses it; any tool that talks to a card can.
 *
 *   INS 26 | 10 01 hv   -> 20 01 version, 28 02 CAID, other tags skipped
 *   INS 82 | 11 LL ...  -> 22 LL { 09 04 ... } { 23 07 a0..a6 } x n:
 *                          a3 != 0: unique address (the serial, a3..a6),
 *                          a3 == 0: shared address (a4..a6)
 *   INS C6 | 1C 01 00   -> records: tag LL id(2) { 01 name } { 30 02 date }
 *                          { 20|90 04 classes } ...; a date after an end
 *                          date or after classes opens the next entitlement
 *
 * The parsers read through struct cas_buf (never past the answer), fill
 * only the fields the answer carries, and return 0, or -1 for a malformed
 * answer (a TLV running past its container, a wrong leading tag).  Call
 * them on a zeroed struct cas_conax_card.
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_CONAX_MAX_PKG 8
#define CAS_CONAX_MAX_ENT 4
#define CAS_CONAX_MAX_SA 4
#define CAS_CONAX_NAME_SIZE 32	/* OSCam keeps 31 characters */

struct cas_conax_ent {
	uint8_t start[2], end[2];	/* Conax dates (cdate.h) */
	int dates;			/* 0, 1 (start only) or 2 */
	uint32_t classes;		/* access criteria bitmap */
	int has_classes;
};

struct cas_conax_pkg {
	uint16_t id;
	char name[CAS_CONAX_NAME_SIZE];	/* trailing spaces and NULs removed */
	struct cas_conax_ent e[CAS_CONAX_MAX_ENT];
	int n;
};

struct cas_conax_card {
	int version, has_version;
	uint16_t caid;
	int has_caid;
	uint32_t serial;		/* the first unique address */
	int has_serial;
	uint8_t sa[CAS_CONAX_MAX_SA][3];
	int n_sa;
	struct cas_conax_pkg pk[CAS_CONAX_MAX_PKG];
	int n_pk;
	/* FreeCAS / TVCAS 3 cards (tvcas3.md §6) send one record whose second
	 * entitlement repeats the dates and carries the card's EMM counter and
	 * last EMM checksums (computed, received) in place of classes; the
	 * parser takes it out of the package and puts it here. */
	int counters;
	uint8_t emm_count, emm_sum_calc, emm_sum_recv;
};

int cas_conax_parse_init(const uint8_t *p, size_t n, struct cas_conax_card *c);
int cas_conax_parse_addr(const uint8_t *p, size_t n, struct cas_conax_card *c);
int cas_conax_parse_subs(const uint8_t *p, size_t n, struct cas_conax_card *c);

/* INS 82 command data as OSCam sends it (conax-card.md §2.4), with the
 * CAID the card reported: 17 bytes. */
#define CAS_CONAX_ADDR_CMD_LEN 17
void cas_conax_addr_cmd(uint16_t caid, uint8_t out[CAS_CONAX_ADDR_CMD_LEN]);

#endif
