#ifndef CAS_TLV_H
#define CAS_TLV_H
/*
 * SimulCrypt TLV codec (ETSI TS 103 197; reference/simulcrypt.md §1), shared
 * by ecmgd (ECMG<=>SCS) and emmgd (EMMG<=>MUX):
 *
 *  - parse: one message from a struct cas_buf into a struct cas_tlv_msg,
 *    which points into the input (no copy, no allocation; a fixed array of
 *    CAS_TLV_MAX_PARAMS parameter slots);
 *  - validate: against the dictionary of one interface and protocol
 *    version; the result is OK or the error_status + error_information the
 *    peer should get in a channel_error/stream_error;
 *  - build: through a struct cas_wbuf, strict on output;
 *  - frame: cut a TCP byte stream into whole messages.
 *
 * Be lenient in what you accept: parameter types the dictionary does not
 * allow in a message (unknown types, v2 parameters in a v1 message, ...) are
 * skipped by the validation, as TS 103 197 says receivers must ignore
 * unknown parameters.  Be strict in what you send: the builder only emits
 * well-formed TLVs and error_information is always exactly 2 bytes.
 *
 * error_information convention (TSDuck's, reference/simulcrypt.md §4): the
 * 2-byte byte offset, from the start of the message, of what is wrong (0 for
 * the version byte, 1 for the message_type/envelope, the offset of the
 * faulty TLV), or, for a missing or over-repeated parameter, its tag.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "simulcrypt.h"

/* Most parameters one message may carry.  Real messages carry at most ~16
 * (channel_status) plus a few repeated CP_CW_combination/datagram/
 * error_status; a message with more TLVs than this is refused with
 * message_too_long (0x0004), error_information = offset of the first TLV
 * that did not fit. */
#define CAS_TLV_MAX_PARAMS 64

/* Bit of a protocol_version in the `versions` mask of cas_tlv_validate. */
#define CAS_TLV_VERSION(v) (1u << (v))

struct cas_tlv_param {
	const uint8_t *value;	/* into the message; len bytes */
	uint32_t offset;	/* of the TLV's type field, from the message start */
	uint16_t type;
	uint16_t len;
};

struct cas_tlv_msg {
	const uint8_t *data;	/* the whole message, header included */
	size_t size;		/* CAS_SC_HEADER_LEN + length */
	uint8_t version;
	uint16_t type;
	uint16_t length;	/* message_length: bytes after the header */
	unsigned nparams;	/* in wire order */
	struct cas_tlv_param params[CAS_TLV_MAX_PARAMS];
};

/* A validation verdict: status 0 = OK, otherwise the error_status to send
 * (interface-specific code) and its 2-byte error_information. */
struct cas_tlv_error {
	uint16_t status;
	uint16_t info;
};

/* ---- parse ---- */

/* Reads one message (header + message_length bytes) from `in` and indexes
 * its parameter loop.  The message keeps pointing into the input buffer.
 * Returns 0 (in advanced past the message), or -1 with err set to
 * invalid_message 0x0001 (short header: info 0 if empty else 1; body shorter
 * than message_length: info 1; a TLV header or value running past the end of
 * the message: info = offset of that TLV) or message_too_long 0x0004 (more
 * than CAS_TLV_MAX_PARAMS TLVs).  The error codes are the same on both
 * interfaces.  On failure `in`'s position is unspecified: for TCP, close the
 * connection; for UDP, drop the datagram.  Bytes left in `in` after a
 * message are the caller's business (a UDP datagram must hold exactly one). */
int cas_tlv_parse(struct cas_tlv_msg *m, struct cas_buf *in, struct cas_tlv_error *err);

/* ---- validate ---- */

/* Checks a parsed message against the dictionary of `iface` for its
 * message_type and version.  `versions` is the mask of accepted protocol
 * versions (CAS_TLV_VERSION(2) | CAS_TLV_VERSION(3), ...): the caller decides
 * (ecmgd accepts what the SCS used in channel_setup, emmgd its configured
 * one).  In this order:
 *   unsupported version 0x0002, info 0;
 *   message_type not of this interface 0x0003, info 1;
 *   a dictionary parameter with a wrong length: ECMG 0x000F / EMMG 0x000B,
 *     info = offset of the first such TLV;
 *   a mandatory parameter missing, or a parameter repeated more often than
 *     allowed: ECMG 0x0010 / EMMG 0x000C, info = the parameter's tag.
 * Version rules: v1 has no ECM_id / data_id / CW_encryption (ignored if
 * present), needs data_channel_id + data_stream_id in data_provision and a
 * 10-byte CP_CW_combination; v2 and later need ECM_id in ECMG stream_setup/
 * stream_status and data_id in EMMG stream_setup/stream_status/
 * data_provision.  Returns 0, or -1 with err set. */
int cas_tlv_validate(const struct cas_tlv_msg *m, enum cas_sc_iface iface,
		     unsigned versions, struct cas_tlv_error *err);

/* cas_tlv_parse then cas_tlv_validate. */
int cas_tlv_decode(struct cas_tlv_msg *m, struct cas_buf *in, enum cas_sc_iface iface,
		   unsigned versions, struct cas_tlv_error *err);

/* Whether the dictionary of `iface` knows msg_type. */
int cas_tlv_msg_known(enum cas_sc_iface iface, uint16_t msg_type);

/* ---- access (after parse; validation guarantees what it checked) ---- */

/* First parameter of that type, or NULL. */
const struct cas_tlv_param *cas_tlv_find(const struct cas_tlv_msg *m, uint16_t type);
/* Next parameter of that type after prev (prev NULL: the first), or NULL:
 *   for (p = cas_tlv_next(m, T, NULL); p; p = cas_tlv_next(m, T, p)) */
const struct cas_tlv_param *cas_tlv_next(const struct cas_tlv_msg *m, uint16_t type,
					 const struct cas_tlv_param *prev);
/* Number of parameters of that type. */
unsigned cas_tlv_count(const struct cas_tlv_msg *m, uint16_t type);
/* Value of the first parameter of that type, which must have exactly 1, 2
 * or 4 bytes; returns 0, or -1 (out untouched) if absent or of another
 * length. */
int cas_tlv_get_u8(const struct cas_tlv_msg *m, uint16_t type, uint8_t *out);
int cas_tlv_get_u16(const struct cas_tlv_msg *m, uint16_t type, uint16_t *out);
int cas_tlv_get_u32(const struct cas_tlv_msg *m, uint16_t type, uint32_t *out);

/* ---- build ----
 * Errors are sticky in the cas_wbuf (full buffer, a value over 65535 bytes,
 * error_information not 2 bytes): build the whole message, then check the
 * result of cas_tlv_end once.
 *
 *   size_t at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_STREAM_STATUS);
 *   cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
 *   ...
 *   if (cas_tlv_end(&w, at) < 0) ...        message is w.data[at..w.len)
 */

/* Writes the header with a zero message_length; returns the message's
 * offset in w (to pass to cas_tlv_end), or (size_t)-1. */
size_t cas_tlv_begin(struct cas_wbuf *w, uint8_t version, uint16_t msg_type);
void cas_tlv_put_u8(struct cas_wbuf *w, uint16_t type, uint8_t v);
void cas_tlv_put_u16(struct cas_wbuf *w, uint16_t type, uint16_t v);
void cas_tlv_put_u32(struct cas_wbuf *w, uint16_t type, uint32_t v);
/* n <= 65535; for type 0x7001 (error_information) n must be 2. */
void cas_tlv_put_bytes(struct cas_wbuf *w, uint16_t type, const void *p, size_t n);
/* error_status + its 2-byte error_information (same tags on both interfaces). */
void cas_tlv_put_error(struct cas_wbuf *w, uint16_t status, uint16_t info);
/* Patches message_length of the message begun at `start`.  Returns 0, or -1
 * if the wbuf has failed or the body exceeds 65535 bytes. */
int cas_tlv_end(struct cas_wbuf *w, size_t start);

/* ---- frame a TCP stream ----
 * TCP splits and coalesces messages arbitrarily (simulcrypt.md §1.1): each
 * message is 5 header bytes + message_length.  Usage, per connection:
 *
 *   cas_tlv_framer_feed(f, chunk, n);              after each read()
 *   while ((r = cas_tlv_framer_next(f, &msg, &len)) > 0)
 *           handle(msg, len);                      a whole message
 *   if (r < 0) -> send message_too_long, close the connection
 *
 * A message that lies whole inside the chunk is returned in place (no
 * copy); one split across chunks is assembled in the framer's buffer.  The
 * returned pointer is valid until the next feed/next call.  The chunk must
 * stay valid until next() has returned 0 (then its tail, if any, is
 * buffered).
 *
 * A byte stream has no resync point: any 16-bit message_length is
 * plausible, so the framer cannot tell garbage from a big message.  It
 * refuses lengths above its limit (cas_tlv_framer_set_max, default 65535)
 * as soon as the header is in, and otherwise leaves the judgement to
 * cas_tlv_parse/validate.  After an invalid message, the version of the
 * first message, or an over-long length, the stream position cannot be
 * trusted: the caller answers with an error message if it can and closes
 * the connection (the peer reconnects; TSDuck does the same after 3
 * invalid messages).
 *
 * The struct holds a whole-message buffer (about 64 KiB): allocate it with
 * the connection, not on the stack. */
struct cas_tlv_framer {
	const uint8_t *in;	/* unconsumed part of the last chunk */
	size_t in_len;
	size_t have;		/* bytes of a partial message in buf */
	size_t max_length;	/* largest message_length accepted */
	int broken;		/* sticky after an over-long header */
	uint8_t buf[CAS_SC_MAX_MSG];
};

void cas_tlv_framer_init(struct cas_tlv_framer *f);
/* Largest message_length accepted (<= 65535). */
void cas_tlv_framer_set_max(struct cas_tlv_framer *f, size_t max_length);
/* Hands the framer the next chunk.  Returns 0, or -1 if the previous chunk
 * has not been drained (next() did not return 0) or the framer is broken. */
int cas_tlv_framer_feed(struct cas_tlv_framer *f, const void *data, size_t len);
/* 1: a whole message in *msg, *len; 0: need more bytes (the chunk is
 * consumed); -1: a header announced more than the limit (sticky). */
int cas_tlv_framer_next(struct cas_tlv_framer *f, const uint8_t **msg, size_t *len);
/* Bytes fed but not yet returned as a message (0 at a message boundary
 * once the chunk is drained). */
size_t cas_tlv_framer_pending(const struct cas_tlv_framer *f);

#endif
