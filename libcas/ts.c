#include "ts.h"

#include <string.h>

#include "buf.h"

/* Payload bytes: 183 in the first packet (after the pointer_field), 184 in
 * each continuation packet. */
size_t cas_ts_packets_for(size_t section_len)
{
	if (section_len == 0)
		return 0;
	if (section_len <= 183)
		return 1;
	return 1 + (section_len - 183 + 184 - 1) / 184;
}

long cas_ts_packetize(const uint8_t *section, size_t len, uint16_t pid,
		      uint8_t *cc, uint8_t *out, size_t cap)
{
	if (section == NULL || len < 3 || len > CAS_TS_SECTION_MAX || pid > 0x1FFF)
		return -1;
	/* The packets must carry exactly one whole section. */
	size_t declared = 3 + (size_t)(((section[1] & 0x0F) << 8) | section[2]);
	if (declared != len)
		return -1;
	size_t n = cas_ts_packets_for(len);
	if (cap < n * CAS_TS_PACKET_LEN)
		return -1;

	struct cas_wbuf w;
	cas_wbuf_init(&w, out, cap);
	size_t done = 0;
	uint8_t c = *cc & 0x0F;
	for (size_t i = 0; i < n; i++) {
		size_t start = w.len;
		cas_wbuf_put_u8(&w, CAS_TS_SYNC);
		/* error 0, payload_unit_start (first packet), priority 0, PID */
		cas_wbuf_put_u16(&w, (uint16_t)((i == 0 ? 0x4000 : 0) | pid));
		/* not scrambled, payload only (adaptation_field_control 01) */
		cas_wbuf_put_u8(&w, (uint8_t)(0x10 | c));
		c = (c + 1) & 0x0F;
		if (i == 0)
			cas_wbuf_put_u8(&w, 0);	/* pointer_field */
		size_t room = CAS_TS_PACKET_LEN - (w.len - start);
		size_t take = len - done < room ? len - done : room;
		cas_wbuf_put_bytes(&w, section + done, take);
		done += take;
		cas_wbuf_fill(&w, 0xFF, room - take);
	}
	if (cas_wbuf_error(&w))
		return -1;
	*cc = c;
	return (long)w.len;
}

long cas_ts_extract(const uint8_t *packets, size_t len, uint8_t *out, size_t cap,
		    uint16_t *pid_out)
{
	if (packets == NULL || len == 0 || len % CAS_TS_PACKET_LEN != 0)
		return -1;
	size_t npk = len / CAS_TS_PACKET_LEN;
	size_t want = 0, got = 0;
	uint16_t pid = 0;
	unsigned cc = 0;

	for (size_t i = 0; i < npk; i++) {
		struct cas_buf b;
		cas_buf_init(&b, packets + i * CAS_TS_PACKET_LEN, CAS_TS_PACKET_LEN);
		if (cas_buf_get_u8(&b) != CAS_TS_SYNC)
			return -1;
		uint16_t hdr = cas_buf_get_u16(&b);
		uint8_t flags = cas_buf_get_u8(&b);
		int tei = hdr >> 15, pusi = (hdr >> 14) & 1;
		uint16_t p = hdr & 0x1FFF;
		unsigned afc = (flags >> 4) & 3, c = flags & 0x0F;
		if (tei || (flags & 0xC0) != 0)	/* transport error, scrambled */
			return -1;
		if (i == 0) {
			if (!pusi)
				return -1;
			pid = p;
		} else {
			/* a new section may only start after this one ends */
			if (pusi || p != pid || c != ((cc + 1) & 0x0F))
				return -1;
		}
		cc = c;
		if (afc == 0 || afc == 2)	/* reserved, or no payload */
			return -1;
		if (afc == 3) {
			uint8_t aflen = cas_buf_get_u8(&b);
			if (cas_buf_skip(&b, aflen) < 0)
				return -1;
		}
		if (i == 0) {
			uint8_t pointer = cas_buf_get_u8(&b);
			if (cas_buf_skip(&b, pointer) < 0)
				return -1;
			uint8_t h[3];
			if (cas_buf_peek_u8(&b, 0, &h[0]) < 0 ||
			    cas_buf_peek_u8(&b, 1, &h[1]) < 0 ||
			    cas_buf_peek_u8(&b, 2, &h[2]) < 0)
				return -1;
			if (h[0] == 0xFF)	/* stuffing: no section here */
				return -1;
			want = 3 + (size_t)(((h[1] & 0x0F) << 8) | h[2]);
			if (want > cap)
				return -1;
		}
		size_t left = cas_buf_left(&b);
		size_t take = want - got < left ? want - got : left;
		if (take == 0)
			return -1;	/* a packet beyond the end of the section */
		const uint8_t *src = cas_buf_get_ptr(&b, take);
		if (src == NULL || cas_buf_error(&b))
			return -1;
		memcpy(out + got, src, take);
		got += take;
	}
	if (got != want)
		return -1;
	if (pid_out != NULL)
		*pid_out = pid;
	return (long)got;
}
