#include "psi.h"

#include "buf.h"

/* Bit by bit, most significant bit first (ISO/IEC 13818-1 Annex A): PSI
 * sections are short and rare, a table would buy nothing. */
uint32_t cas_psi_crc32(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint32_t)p[i] << 24;
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
	}
	return crc;
}

long cas_psi_section(uint8_t table_id, uint16_t id_ext, uint8_t version,
		     const uint8_t *body, size_t body_len, uint8_t *out, size_t cap)
{
	size_t total = 8 + body_len + 4;
	if (version > 31 || total > CAS_PSI_SECTION_MAX || (body_len > 0 && body == NULL))
		return -1;
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, cap);
	cas_wbuf_put_u8(&w, table_id);
	/* section_syntax_indicator 1, '0', reserved 11, section_length */
	cas_wbuf_put_u16(&w, (uint16_t)(0xB000 | (total - 3)));
	cas_wbuf_put_u16(&w, id_ext);
	/* reserved 11, version_number, current_next_indicator 1 */
	cas_wbuf_put_u8(&w, (uint8_t)(0xC0 | version << 1 | 1));
	cas_wbuf_put_u8(&w, 0);		/* section_number */
	cas_wbuf_put_u8(&w, 0);		/* last_section_number */
	cas_wbuf_put_bytes(&w, body, body_len);
	if (cas_wbuf_error(&w))
		return -1;
	cas_wbuf_put_u32(&w, cas_psi_crc32(out, w.len));
	if (cas_wbuf_error(&w))
		return -1;
	return (long)w.len;
}

long cas_psi_parse(const uint8_t *sec, size_t len, struct cas_psi_hdr *h)
{
	struct cas_buf b;
	cas_buf_init(&b, sec, len);
	uint8_t table_id = cas_buf_get_u8(&b);
	uint16_t flags_len = cas_buf_get_u16(&b);
	if (cas_buf_error(&b) || !(flags_len & 0x8000))
		return -1;
	size_t slen = flags_len & 0x0FFF;
	/* 5 header bytes after section_length + the CRC */
	if (slen < 9 || slen > cas_buf_left(&b))
		return -1;
	size_t total = 3 + slen;
	if (cas_psi_crc32(sec, total) != 0)
		return -1;
	h->table_id = table_id;
	h->id_ext = cas_buf_get_u16(&b);
	uint8_t v = cas_buf_get_u8(&b);
	h->version = (v >> 1) & 0x1F;
	h->current = v & 1;
	h->section_number = cas_buf_get_u8(&b);
	h->last_section_number = cas_buf_get_u8(&b);
	h->body = sec + 8;
	h->body_len = total - 8 - 4;
	return cas_buf_error(&b) ? -1 : (long)total;
}

int cas_psi_find_ca(const uint8_t *loop, size_t len, uint16_t ca_system_id, uint16_t *pid)
{
	struct cas_buf b;
	cas_buf_init(&b, loop, len);
	while (cas_buf_left(&b) > 0) {
		uint8_t tag = cas_buf_get_u8(&b);
		uint8_t dlen = cas_buf_get_u8(&b);
		struct cas_buf d;
		if (cas_buf_get_sub(&b, dlen, &d) < 0)
			return -1;
		if (tag != CAS_PSI_DESC_CA || dlen < 4)
			continue;
		uint16_t sys = cas_buf_get_u16(&d);
		uint16_t p = cas_buf_get_u16(&d) & 0x1FFF;
		if (sys == ca_system_id) {
			*pid = p;
			return 0;
		}
	}
	return cas_buf_error(&b) ? -1 : 1;
}
