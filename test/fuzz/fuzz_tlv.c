/* Fuzz target: SimulCrypt TLV parse + validate (both interfaces, all
 * versions), accessors, a parse -> rebuild round trip, and the TCP framer
 * fed the same bytes whole and in input-driven chunk sizes.  Any
 * inconsistency aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "simulcrypt.h"
#include "tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cas_tlv_msg msg;
static struct cas_tlv_framer framer;
static uint8_t rebuilt[CAS_SC_MAX_MSG];
static uint8_t joined[1 << 20];

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Parses messages back to back; each one that parses is validated for
 * both interfaces and rebuilt byte for byte. */
static void parse_all(const uint8_t *data, size_t size)
{
	struct cas_buf in;
	struct cas_tlv_error e;
	cas_buf_init(&in, data, size);
	while (cas_buf_left(&in) > 0) {
		size_t before = in.pos;
		if (cas_tlv_parse(&msg, &in, &e) < 0) {
			check(e.status == CAS_SC_ERR_INVALID_MESSAGE || e.status == CAS_SC_ERR_MESSAGE_TOO_LONG);
			return;
		}
		check(msg.size == in.pos - before && msg.data == data + before);
		check(msg.nparams <= CAS_TLV_MAX_PARAMS);

		for (int iface = CAS_SC_ECMG; iface <= CAS_SC_EMMG; iface++) {
			int r = cas_tlv_validate(&msg, (enum cas_sc_iface)iface, 0xFFFFFFFFu, &e);
			check((r == 0) == (e.status == 0));
			(void)cas_simulcrypt_error_name((enum cas_sc_iface)iface, e.status);
			r = cas_tlv_validate(&msg, (enum cas_sc_iface)iface, CAS_TLV_VERSION(2), &e);
			check((r == 0) == (e.status == 0));
		}

		/* accessors agree with the slot array */
		for (unsigned i = 0; i < msg.nparams; i++) {
			const struct cas_tlv_param *p = &msg.params[i];
			check(p->offset + 4u + p->len <= msg.size);
			check(p->value == msg.data + p->offset + 4);
			const struct cas_tlv_param *q = NULL;
			unsigned n = 0, seen = 0;
			while ((q = cas_tlv_next(&msg, p->type, q)) != NULL) {
				n++;
				seen |= q == p;
			}
			check(seen && n == cas_tlv_count(&msg, p->type));
			uint16_t v16;
			(void)cas_tlv_get_u16(&msg, p->type, &v16);
		}

		/* rebuild: the builder reproduces the exact bytes, except an
		 * error_information of another size than 2 (strict output) */
		struct cas_wbuf w;
		int strict_ok = 1;
		cas_wbuf_init(&w, rebuilt, sizeof rebuilt);
		size_t at = cas_tlv_begin(&w, msg.version, msg.type);
		for (unsigned i = 0; i < msg.nparams; i++) {
			const struct cas_tlv_param *p = &msg.params[i];
			if (p->type == CAS_ECMG_PARAM_ERROR_INFORMATION && p->len != 2)
				strict_ok = 0;
			cas_tlv_put_bytes(&w, p->type, p->value, p->len);
		}
		if (strict_ok) {
			check(cas_tlv_end(&w, at) == 0);
			check(w.len == msg.size && memcmp(rebuilt, msg.data, msg.size) == 0);
		} else {
			check(cas_tlv_end(&w, at) < 0);
		}
	}
}

/* Feeds data to the framer in chunks (sizes from `seed`); checks the
 * messages out are exactly the stream's prefix, and the rest is pending. */
static void frame(const uint8_t *data, size_t size, uint8_t seed, size_t max_length)
{
	const uint8_t *m;
	size_t len, out = 0, pos = 0;
	int r = 0;
	cas_tlv_framer_init(&framer);
	cas_tlv_framer_set_max(&framer, max_length);
	while (pos < size) {
		size_t n = seed == 0 ? size : (size_t)(seed % 17) + 1 + (pos % 5);
		if (n > size - pos)
			n = size - pos;
		if (cas_tlv_framer_feed(&framer, data + pos, n) < 0)
			break;
		pos += n;
		while ((r = cas_tlv_framer_next(&framer, &m, &len)) == 1) {
			check(len >= CAS_SC_HEADER_LEN && len == CAS_SC_HEADER_LEN + (size_t)cas_be16(m + 3));
			check(len - CAS_SC_HEADER_LEN <= max_length);
			check(out + len <= sizeof joined);
			memcpy(joined + out, m, len);
			out += len;
		}
		if (r < 0)
			break;
	}
	check(out <= size && memcmp(joined, data, out) == 0);
	if (r == 0)
		check(out + cas_tlv_framer_pending(&framer) == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > sizeof joined)
		return 0;
	parse_all(data, size);
	frame(data, size, 0, CAS_SC_MAX_BODY);
	frame(data, size, size > 0 ? data[0] : 1, CAS_SC_MAX_BODY);
	frame(data, size, 3, size > 1 ? data[1] : 0);
	return 0;
}
