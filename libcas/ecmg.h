#ifndef CAS_ECMG_H
#define CAS_ECMG_H
/*
 * The ECMG side of ECMG<=>SCS (ETSI TS 103 197; reference/simulcrypt.md §2,
 * §5.1) for one TCP connection, without I/O: ecmgd reads bytes, cuts them
 * into messages with the TLV framer, hands each message to
 * cas_ecmg_handle() and writes back what it appended to the output buffer.
 * Keeping the protocol free of sockets lets the unit tests and the fuzzer
 * drive it message by message.
 *
 * One connection carries one ECM channel (its id is scoped to the
 * connection: two scramblers may both use channel 1) with up to max_streams
 * ECM streams; ECM_ids are scoped to the channel as well.  The ECM itself
 * comes from the profile (profile.h) and nothing else: a second profile
 * needs no change here.
 *
 * Replies use the protocol_version of the channel_setup.  Errors follow
 * simulcrypt.md §4 and §5.1: stream_error when the message names a stream
 * of the channel, channel_error otherwise; an error message is never
 * answered; error_information is the 2-byte offset of the faulty TLV or the
 * tag of the missing/insufficient parameter.
 *
 * Closing (CAS_ECMG_CLOSE): the stream of bytes cannot be trusted any more
 * (a version byte outside 1..5, a message_length above CAS_ECMG_MAX_BODY),
 * or the third invalid message in a row (one that does not decode: 0x0001
 * framing of its TLVs, 0x0002 version, 0x0003 message type, 0x000F
 * parameter length, 0x0010 missing parameter).  Refusals of well-formed
 * messages (unknown stream, not enough CWs, ...) do not count: one bad
 * stream must not take the others of the channel down.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "profile.h"
#include "tlv.h"

/* Longest message_length accepted from an SCS.  Real requests are below
 * 200 bytes; anything this long is garbage on the socket. */
#define CAS_ECMG_MAX_BODY 16384u
/* Most CP_CW_combinations used from one CW_provision (more are ignored). */
#define CAS_ECMG_MAX_CWS 16
/* Longest access_criteria kept per stream (TVCAS 3 reads 4 bytes): a
 * bound on what an SCS can make ecmgd store. */
#define CAS_ECMG_MAX_AC 256
/* Consecutive undecodable messages before the connection is closed
 * (TSDuck does the same, simulcrypt.md §1.3). */
#define CAS_ECMG_MAX_INVALID 3

enum { CAS_ECMG_GO_ON = 0, CAS_ECMG_CLOSE = 1 };

/* What channel_status and stream_status announce, and the limits. */
struct cas_ecmg_params {
	uint32_t super_cas_id;
	uint8_t section_tspkt_flag;		/* 0 sections, 1 TS packets */
	int16_t delay_start, delay_stop;	/* ms */
	/* optional channel_status parameters: sent only when has_* is set */
	int has_transition_delay_start, has_transition_delay_stop;
	int has_ac_delay_start, has_ac_delay_stop;
	int16_t transition_delay_start, transition_delay_stop;
	int16_t ac_delay_start, ac_delay_stop;
	uint16_t ecm_rep_period;		/* ms */
	uint16_t max_streams;			/* per channel; 0 = no limit */
	uint16_t min_cp_duration;		/* 100 ms units */
	uint16_t max_comp_time;			/* ms */
	uint8_t ac_transfer_mode;		/* 1: AC in every CW_provision */
	unsigned max_channels;			/* channels set up at once */
	unsigned max_total_streams;		/* streams of all channels */
};

/* Shared by every connection of one server; owned by the program, which
 * may change params, profile and key between two calls (reload). */
struct cas_ecmg {
	struct cas_ecmg_params p;
	const struct cas_profile *profile;
	void *key;			/* from profile->ecm_key_new */
	unsigned channels;		/* channels set up now */
	unsigned streams;		/* streams set up now */
};

struct cas_ecmg_stream {
	uint16_t id;
	uint16_t ecm_id;		/* v2+; 0 in v1 */
	uint16_t nominal_cp;		/* 100 ms units */
	uint8_t cc;			/* continuity_counter, TS-packet mode */
	uint16_t ac_len;
	uint8_t *ac;			/* last access_criteria, or NULL */
	uint64_t ecms;
};

/* What changed since the program last looked (it clears the bits). */
#define CAS_ECMG_CHANGED_COUNTERS 1u
#define CAS_ECMG_CHANGED_SETUP 2u

struct cas_ecmg_conn {
	struct cas_ecmg *srv;
	char peer[64];			/* "192.0.2.7:40000", for the log */
	int has_channel;
	uint16_t channel_id;
	uint32_t super_cas_id;
	uint8_t version;		/* of the last channel_setup; 0 before */
	unsigned invalid_run;		/* consecutive undecodable messages */
	struct cas_ecmg_stream *streams;	/* sorted by id */
	size_t nstreams, cap;
	/* counters, for the generators table */
	uint64_t cw_provisions;		/* CW_provisions received */
	uint64_t ecms;			/* ECM_responses sent */
	uint64_t errors;		/* errors sent and received */
	int64_t last_seen;		/* time of the last message */
	unsigned changed;		/* CAS_ECMG_CHANGED_* */
};

/* Initialises a connection (no allocation). */
void cas_ecmg_conn_init(struct cas_ecmg_conn *c, struct cas_ecmg *srv, const char *peer);
/* Releases its streams and its channel (server counts go down). */
void cas_ecmg_conn_free(struct cas_ecmg_conn *c);

/* The largest message cas_ecmg_handle/check_head/probe may append: the
 * output buffer must have this much room before each call. */
size_t cas_ecmg_max_reply(const struct cas_ecmg *srv);

/* Looks at the first n (>= 1) bytes of a message that is not complete yet
 * (or is), to give up on a stream of garbage at once instead of waiting for
 * a message_length that may never come: a version byte outside 1..5 is
 * answered with channel_error 0x0001, a message_length above
 * CAS_ECMG_MAX_BODY with 0x0004.  Returns CAS_ECMG_GO_ON or CAS_ECMG_CLOSE. */
int cas_ecmg_check_head(struct cas_ecmg_conn *c, const uint8_t *p, size_t n,
			struct cas_wbuf *out);

/* Handles one whole message (header + message_length bytes) received at
 * Unix time `now`; appends the replies to out.  Returns CAS_ECMG_GO_ON, or
 * CAS_ECMG_CLOSE: send what is in out, then close the connection. */
int cas_ecmg_handle(struct cas_ecmg_conn *c, const uint8_t *msg, size_t len, int64_t now,
		    struct cas_wbuf *out);

/* Appends a channel_test (keepalive probe of an idle SCS); -1 if the
 * connection has no channel. */
int cas_ecmg_probe(struct cas_ecmg_conn *c, struct cas_wbuf *out);

#endif
