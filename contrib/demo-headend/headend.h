#ifndef HEADEND_H
#define HEADEND_H
/*
 * demo-headend: a scrambler (SimulCrypt SCS, client of ecmgd) and a
 * multiplexer (EMMG<=>MUX server for emmgd) in one process, with a
 * generated MPEG-TS service scrambled with DVB-CSA.
 *
 *   main.c   options, the poll loop, pacing, the status file
 *   link.c   one SimulCrypt TCP connection: framing, sending
 *   scs.c    ECMG<=>SCS client: channel, stream, CW_provision, ECM_response
 *   mux.c    EMMG<=>MUX server: channel, stream, bandwidth, data_provision
 *   tsgen.c  the transport stream: PSI, PES, ECM and EMM insertion, CSA
 *
 * No globals: everything hangs off struct headend.
 */
#include <stddef.h>
#include <stdint.h>

#include <dvbcsa/dvbcsa.h>

#include "tlv.h"

#define TS_LEN 188

/* ---- link.c ---- */
struct link {
	int fd;
	struct cas_tlv_framer *fr;	/* heap: ~64 KiB */
	uint8_t rbuf[16384];
};
typedef int link_msg_fn(void *ctx, const uint8_t *msg, size_t len);
int link_init(struct link *l, int fd);
void link_close(struct link *l);
/* One read(); every whole message goes to fn (which returns -1 to drop
 * the connection).  Returns 0, or -1 on EOF, error or bad framing. */
int link_pump(struct link *l, link_msg_fn *fn, void *ctx);
int link_send(struct link *l, const uint8_t *p, size_t n);
/* Waits up to ms for the fd to be readable: 1 readable, 0 timeout, -1. */
int link_wait(const struct link *l, int ms);
int64_t mono_ms(void);
/* Parses "host:port" (IPv4 or a name) into a sockaddr; -1 if invalid. */
struct sockaddr_in;
int parse_addr(const char *s, struct sockaddr_in *sa);

/* ---- scs.c ---- */
#define ECM_RING 4
struct ecm_slot {
	int valid;
	uint32_t cp;
	size_t len;			/* section bytes */
	uint8_t sec[4096];
};

struct scs {
	struct link l;
	int connected;
	uint8_t version;
	uint16_t channel_id, stream_id, ecm_id;
	uint32_t super_cas_id;
	/* from channel_status */
	int have_channel, have_stream;
	int16_t delay_start;
	uint16_t rep_period_ms, min_cp, max_comp_time;
	uint8_t lead_cw, cw_per_msg, tspkt_flag;
	/* echoed when ecmgd tests the channel or the stream (as TSDuck's
	 * SCS does) */
	uint8_t chan_status[512], stream_status[512];
	size_t chan_status_len, stream_status_len;
	int closed;			/* stream_close_response received */
	struct ecm_slot ecm[ECM_RING];	/* by CP & 3 */
	int64_t sent_ms[ECM_RING];
	uint64_t cw_provisions, ecm_responses, errors;
	int64_t comp_ms_max;
};

struct headend;
int scs_connect(struct headend *h, const char *addr, int timeout_ms);
/* channel_setup + stream_setup, waiting for their status (5 s each). */
int scs_setup(struct headend *h, uint16_t nominal_cp);
/* CW_provision for CP cp: CW(cp) and CW(cp + 1). */
int scs_cw_provision(struct headend *h, uint32_t cp, const uint8_t cw0[8], const uint8_t cw1[8],
		     uint16_t cp_duration);
/* Reads what ecmgd sent; -1 if the connection is gone. */
int scs_input(struct headend *h);
/* stream_close_request, wait (bounded), channel_close, close. */
void scs_shutdown(struct headend *h);
const struct ecm_slot *scs_ecm(const struct scs *s, uint32_t cp);

/* ---- mux.c ---- */
#define MUX_CLIENTS 4
struct mux_client {
	struct link l;
	int used;
	uint8_t version;
	int channel_ok, stream_ok;
	uint32_t client_id;
	uint16_t channel_id, stream_id, data_id;
	uint8_t data_type, tspkt_flag;
	uint16_t bandwidth;		/* allocated, kbit/s */
	char peer[64];
};

struct mux {
	int lfd;
	uint16_t max_bw;		/* kbit/s allocated at most */
	uint16_t last_bw;		/* the latest allocation, kbit/s */
	struct mux_client c[MUX_CLIENTS];
	uint64_t connections, data_provisions, sections, errors;
};

int mux_listen(struct headend *h, const char *addr);
void mux_accept(struct headend *h);
void mux_input(struct headend *h, struct mux_client *c);
void mux_close_all(struct headend *h);
unsigned mux_clients(const struct mux *m);

/* ---- tsgen.c ---- */
#define EMM_QUEUE 4096			/* packets */
#define INS_QUEUE 64			/* PSI and ECM packets waiting for a slot */

struct tsgen {
	unsigned pps;			/* packets per second */
	uint16_t pmt_pid, es_pid, ecm_pid, emm_pid;
	uint16_t ca_system_id;
	uint64_t pkt;			/* packets written */
	uint32_t cp;			/* current crypto-period */
	uint32_t cp_ms;
	uint32_t ecm_air;		/* CP of the ECM on air */
	int ecm_started;
	uint64_t next_psi, next_ecm;	/* packet indexes */
	/* elementary stream: one PES of es_per_frame packets per frame */
	unsigned es_pps, es_per_frame, es_acc, es_k;
	uint64_t frame;
	uint64_t rng;			/* xorshift64 state for the payload */
	uint8_t cc[8];			/* continuity counters, by cc_slot() */
	/* control words of CP & 3, and the two CSA keys (even, odd) */
	uint8_t cw[4][8];
	struct dvbcsa_key_s *key[2];
	/* queues */
	uint8_t ins[INS_QUEUE][TS_LEN];
	unsigned ins_n;
	uint8_t (*emm)[TS_LEN];		/* EMM_QUEUE packets, ring */
	unsigned emm_head, emm_n;
	/* counters */
	uint64_t es_packets, ecm_packets, emm_packets, emm_dropped, psi_packets, null_packets;
	uint64_t ecm_switches, stalls;
};

int tsgen_init(struct tsgen *t, unsigned pps, uint32_t cp_ms, uint64_t seed);
void tsgen_free(struct tsgen *t);
/* A fresh random CSA control word with its checksum bytes. */
void tsgen_new_cw(uint8_t cw[8]);
/* Queues an EMM datagram (a section, or n x 188 bytes in TS mode). */
int tsgen_emm(struct tsgen *t, const uint8_t *p, size_t n, int ts_mode);
/* Produces one packet into out (scrambled) and clear (the clear input).
 * Returns 1, or 0 when the stream must wait for an ECM (stall). */
int tsgen_packet(struct headend *h, uint8_t out[TS_LEN], uint8_t clear[TS_LEN]);

/* ---- main.c ---- */
struct headend {
	/* options */
	uint32_t super_cas_id;
	uint8_t ac[4];
	const char *out_path, *clear_path, *status_path, *done_path;
	int seconds;
	/* parts */
	struct scs scs;
	struct mux mux;
	struct tsgen ts;
	int out_fd, clear_fd;
	int sigfd;
	int stop;
	const char *state;
	int64_t t0_ms;
	uint64_t stalled_since;
	/* one batch of output, scrambled and clear */
	uint8_t out[256 * TS_LEN], clear[256 * TS_LEN];
};

/* A new crypto-period starts: sends CW_provision for cp + 1. */
int headend_new_cp(struct headend *h, uint32_t cp);

#endif
