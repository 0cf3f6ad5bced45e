#ifndef CAS_PCAP_H
#define CAS_PCAP_H
/*
 * A pcap file writer for synthetic captures: the bytes a test or a daemon
 * exchanged, wrapped in Ethernet/IPv4/TCP or UDP headers, so Wireshark or
 * `tshark -r FILE -d tcp.port==PORT,simulcrypt -V` can decode them.
 *
 * TCP conversations get a 3-way handshake, correct sequence and
 * acknowledgement numbers in both directions, segments of at most
 * CAS_PCAP_MSS bytes, an ACK from the receiver after each send, checksums
 * and an orderly FIN close.  Timestamps are synthetic: ts_usec starts at
 * 2023-11-14 22:13:20 UTC (1700000000 s) and advances by step_usec (1 ms)
 * per packet; set either after cas_pcap_open to taste.
 *
 * IPv4 addresses are host-order integers (0x7F000001 = 127.0.0.1).  Write
 * errors are sticky: check the result of cas_pcap_close.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CAS_PCAP_MSS 1460

struct cas_pcap {
	FILE *f;
	uint64_t ts_usec;	/* timestamp of the next packet */
	uint32_t step_usec;	/* added after each packet */
	uint16_t ip_id;		/* IPv4 identification, per packet */
	int err;		/* sticky: a write failed */
};

/* The two ends of one TCP conversation; index CAS_PCAP_CLIENT is the side
 * that connects. */
enum { CAS_PCAP_CLIENT = 0, CAS_PCAP_SERVER = 1 };

struct cas_pcap_tcp {
	uint32_t ip[2];
	uint16_t port[2];
	uint32_t seq[2];	/* next sequence number each side sends */
	int open;		/* handshake written, no FIN yet */
};

/* Creates (truncates) path and writes the pcap header (LINKTYPE_ETHERNET).
 * Returns 0, or -1 (errno set). */
int cas_pcap_open(struct cas_pcap *p, const char *path);
/* Flushes and closes; returns 0, or -1 if any write failed. */
int cas_pcap_close(struct cas_pcap *p);

/* Sets up a conversation (fixed initial sequence numbers) without writing. */
void cas_pcap_tcp_init(struct cas_pcap_tcp *c, uint32_t client_ip, uint16_t client_port,
		       uint32_t server_ip, uint16_t server_port);
/* Writes SYN, SYN-ACK, ACK. */
int cas_pcap_tcp_connect(struct cas_pcap *p, struct cas_pcap_tcp *c);
/* Writes len bytes sent by side `from` (CAS_PCAP_CLIENT or _SERVER) as
 * PSH/ACK segments of at most CAS_PCAP_MSS bytes, then the peer's ACK. */
int cas_pcap_tcp_send(struct cas_pcap *p, struct cas_pcap_tcp *c, int from,
		      const void *data, size_t len);
/* Writes FIN/ACK from `from`, FIN/ACK back, final ACK. */
int cas_pcap_tcp_close(struct cas_pcap *p, struct cas_pcap_tcp *c, int from);

/* Writes one UDP datagram (len <= 65507). */
int cas_pcap_udp(struct cas_pcap *p, uint32_t src_ip, uint16_t src_port,
		 uint32_t dst_ip, uint16_t dst_port, const void *data, size_t len);

#endif
