#ifndef CAS_PSI_H
#define CAS_PSI_H
/*
 * MPEG-2 PSI long-form sections (ISO/IEC 13818-1 §2.4.4): the PAT, PMT and
 * CAT a scrambler puts next to the ECMs and EMMs, so that a receiver finds
 * the ECM PID (CA_descriptor in the PMT) and the EMM PID (CA_descriptor in
 * the CAT).  The demo head-end builds them, the demo receiver reads them.
 *
 * Long-form header: table_id u8, section_syntax_indicator 1 | '0' | 2
 * reserved bits | section_length u12, table_id_extension u16, 2 reserved
 * bits | version_number u5 | current_next_indicator 1, section_number u8,
 * last_section_number u8; then the body; then CRC_32 (Annex A: polynomial
 * 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final XOR), so
 * that the CRC over the whole section including its CRC is 0.
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_PSI_TABLE_PAT 0x00
#define CAS_PSI_TABLE_CAT 0x01
#define CAS_PSI_TABLE_PMT 0x02
#define CAS_PSI_PID_PAT 0x0000
#define CAS_PSI_PID_CAT 0x0001
#define CAS_PSI_PID_NULL 0x1FFF
/* CA_descriptor: tag 9, CA_system_id u16, 3 reserved bits | CA_PID u13 */
#define CAS_PSI_DESC_CA 0x09
/* Largest PSI section (section_length <= 1021, §2.4.4.11) */
#define CAS_PSI_SECTION_MAX (3 + 1021)

/* The MPEG-2 CRC_32 of n bytes (CRC-32/MPEG-2; "123456789" -> 0x0376E6E7). */
uint32_t cas_psi_crc32(const uint8_t *p, size_t n);

/* Builds a long-form section (section 0 of 0, current) around body.
 * Returns its length (12 + body_len), or -1 if it does not fit cap or
 * CAS_PSI_SECTION_MAX, or version > 31. */
long cas_psi_section(uint8_t table_id, uint16_t id_ext, uint8_t version,
		     const uint8_t *body, size_t body_len, uint8_t *out, size_t cap);

struct cas_psi_hdr {
	uint8_t table_id;
	uint16_t id_ext;		/* transport_stream_id, program_number, ... */
	uint8_t version;
	uint8_t section_number, last_section_number;
	int current;			/* current_next_indicator */
	const uint8_t *body;		/* into the section, before the CRC */
	size_t body_len;
};

/* Checks a long-form section of len bytes (len may exceed the section:
 * bytes after it, e.g. 0xFF stuffing, are ignored): section_syntax_indicator
 * set, section_length within len and at least 9, CRC_32 correct.  Returns
 * the section's length, or -1. */
long cas_psi_parse(const uint8_t *sec, size_t len, struct cas_psi_hdr *h);

/* Finds the first CA_descriptor with CA_system_id == ca_system_id in a
 * descriptor loop; *pid gets its CA_PID.  Returns 0, 1 if there is none,
 * -1 if the loop is malformed. */
int cas_psi_find_ca(const uint8_t *loop, size_t len, uint16_t ca_system_id, uint16_t *pid);

#endif
