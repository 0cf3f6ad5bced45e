/* Synthetic pcap captures of TCP conversations and UDP datagrams (pcap.h).
 * File format: the classic libpcap format (version 2.4), little-endian,
 * microsecond timestamps; headers per RFC 791 (IPv4), RFC 793 (TCP) and
 * RFC 768 (UDP), checksums per RFC 1071. */
#include "pcap.h"

#include <errno.h>
#include <string.h>

#include "buf.h"

#define ETH_LEN 14
#define IP_LEN 20
#define TCP_LEN 20
#define UDP_LEN 8
#define MAX_UDP_PAYLOAD (65535 - IP_LEN - UDP_LEN)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void write_all(struct cas_pcap *p, const void *data, size_t n)
{
	if (p->err || n == 0)
		return;
	if (fwrite(data, 1, n, p->f) != n)
		p->err = 1;
}

int cas_pcap_open(struct cas_pcap *p, const char *path)
{
	memset(p, 0, sizeof *p);
	p->ts_usec = 1700000000ull * 1000000ull;
	p->step_usec = 1000;
	p->ip_id = 1;
	p->f = fopen(path, "wb");
	if (p->f == NULL)
		return -1;
	uint8_t h[24];
	put_le32(h, 0xA1B2C3D4);	/* magic: microsecond timestamps */
	put_le16(h + 4, 2);		/* version 2.4 */
	put_le16(h + 6, 4);
	put_le32(h + 8, 0);		/* thiszone */
	put_le32(h + 12, 0);		/* sigfigs */
	put_le32(h + 16, 65535 + ETH_LEN);	/* snaplen */
	put_le32(h + 20, 1);		/* LINKTYPE_ETHERNET */
	write_all(p, h, sizeof h);
	if (p->err) {
		int e = errno;
		fclose(p->f);
		p->f = NULL;
		errno = e;
		return -1;
	}
	return 0;
}

int cas_pcap_close(struct cas_pcap *p)
{
	if (p->f == NULL)
		return -1;
	if (fclose(p->f) != 0)
		p->err = 1;
	p->f = NULL;
	return p->err ? -1 : 0;
}

/* RFC 1071 one's complement sum, continued over consecutive buffers; every
 * buffer but the last has an even length here. */
static uint32_t sum16(uint32_t sum, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)((d[i] << 8) | d[i + 1]);
	if (n & 1)
		sum += (uint32_t)d[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A locally administered MAC derived from the IPv4 address. */
static void put_mac(struct cas_wbuf *w, uint32_t ip)
{
	cas_wbuf_put_u16(w, 0x0200);
	cas_wbuf_put_u32(w, ip);
}

/* Writes one frame: Ethernet + IPv4 + the L4 header l4 (l4_len bytes, its
 * checksum field at l4_csum) + payload. */
static int frame(struct cas_pcap *p, uint32_t src, uint32_t dst, uint8_t proto,
		 uint8_t *l4, size_t l4_len, size_t l4_csum, const uint8_t *payload, size_t n)
{
	uint8_t h[ETH_LEN + IP_LEN];
	struct cas_wbuf w;
	size_t ip_total = IP_LEN + l4_len + n;

	if (p->f == NULL || p->err || ip_total > 65535)
		return -1;
	cas_wbuf_init(&w, h, sizeof h);
	put_mac(&w, dst);
	put_mac(&w, src);
	cas_wbuf_put_u16(&w, 0x0800);		/* IPv4 */
	cas_wbuf_put_u8(&w, 0x45);		/* version 4, IHL 5 */
	cas_wbuf_put_u8(&w, 0);
	cas_wbuf_put_u16(&w, (uint16_t)ip_total);
	cas_wbuf_put_u16(&w, p->ip_id++);
	cas_wbuf_put_u16(&w, 0x4000);		/* don't fragment */
	cas_wbuf_put_u8(&w, 64);		/* TTL */
	cas_wbuf_put_u8(&w, proto);
	size_t ipsum_at = cas_wbuf_reserve(&w, 2);
	cas_wbuf_put_u32(&w, src);
	cas_wbuf_put_u32(&w, dst);
	if (cas_wbuf_error(&w))
		return -1;
	cas_put_be16(h + ipsum_at, fold(sum16(0, h + ETH_LEN, IP_LEN)));

	/* L4 checksum over the pseudo header, the L4 header and the data */
	uint8_t pseudo[12];
	cas_put_be32(pseudo, src);
	cas_put_be32(pseudo + 4, dst);
	pseudo[8] = 0;
	pseudo[9] = proto;
	cas_put_be16(pseudo + 10, (uint16_t)(l4_len + n));
	l4[l4_csum] = l4[l4_csum + 1] = 0;
	uint16_t csum = fold(sum16(sum16(sum16(0, pseudo, sizeof pseudo), l4, l4_len), payload, n));
	if (proto == 17 && csum == 0)
		csum = 0xFFFF;		/* RFC 768: 0 means "no checksum" */
	cas_put_be16(l4 + l4_csum, csum);

	uint8_t rec[16];
	size_t caplen = ETH_LEN + ip_total;
	put_le32(rec, (uint32_t)(p->ts_usec / 1000000u));
	put_le32(rec + 4, (uint32_t)(p->ts_usec % 1000000u));
	put_le32(rec + 8, (uint32_t)caplen);
	put_le32(rec + 12, (uint32_t)caplen);
	write_all(p, rec, sizeof rec);
	write_all(p, h, sizeof h);
	write_all(p, l4, l4_len);
	write_all(p, payload, n);
	p->ts_usec += p->step_usec;
	return p->err ? -1 : 0;
}

void cas_pcap_tcp_init(struct cas_pcap_tcp *c, uint32_t client_ip, uint16_t client_port,
		       uint32_t server_ip, uint16_t server_port)
{
	c->ip[CAS_PCAP_CLIENT] = client_ip;
	c->ip[CAS_PCAP_SERVER] = server_ip;
	c->port[CAS_PCAP_CLIENT] = client_port;
	c->port[CAS_PCAP_SERVER] = server_port;
	/* Fixed initial sequence numbers keep captures reproducible. */
	c->seq[CAS_PCAP_CLIENT] = 0x10000000;
	c->seq[CAS_PCAP_SERVER] = 0x20000000;
	c->open = 0;
}

/* One segment from side `from`; the ACK number is the peer's next seq. */
static int segment(struct cas_pcap *p, struct cas_pcap_tcp *c, int from, uint8_t flags,
		   const uint8_t *data, size_t n)
{
	int to = 1 - from;
	uint8_t t[TCP_LEN];
	struct cas_wbuf w;
	cas_wbuf_init(&w, t, sizeof t);
	cas_wbuf_put_u16(&w, c->port[from]);
	cas_wbuf_put_u16(&w, c->port[to]);
	cas_wbuf_put_u32(&w, c->seq[from]);
	cas_wbuf_put_u32(&w, (flags & TCP_ACK) ? c->seq[to] : 0);
	cas_wbuf_put_u8(&w, (TCP_LEN / 4) << 4);
	cas_wbuf_put_u8(&w, flags);
	cas_wbuf_put_u16(&w, 65535);		/* window */
	cas_wbuf_put_u16(&w, 0);		/* checksum, filled by frame() */
	cas_wbuf_put_u16(&w, 0);		/* urgent pointer */
	if (frame(p, c->ip[from], c->ip[to], 6, t, sizeof t, 16, data, n) < 0)
		return -1;
	/* SYN and FIN each take one sequence number */
	c->seq[from] += (uint32_t)n + ((flags & (TCP_SYN | TCP_FIN)) ? 1u : 0u);
	return 0;
}

int cas_pcap_tcp_connect(struct cas_pcap *p, struct cas_pcap_tcp *c)
{
	if (c->open)
		return -1;
	if (segment(p, c, CAS_PCAP_CLIENT, TCP_SYN, NULL, 0) < 0
	    || segment(p, c, CAS_PCAP_SERVER, TCP_SYN | TCP_ACK, NULL, 0) < 0
	    || segment(p, c, CAS_PCAP_CLIENT, TCP_ACK, NULL, 0) < 0)
		return -1;
	c->open = 1;
	return 0;
}

int cas_pcap_tcp_send(struct cas_pcap *p, struct cas_pcap_tcp *c, int from,
		      const void *data, size_t len)
{
	const uint8_t *d = data;
	if (!c->open || (from != CAS_PCAP_CLIENT && from != CAS_PCAP_SERVER))
		return -1;
	while (len > 0) {
		size_t n = len < CAS_PCAP_MSS ? len : CAS_PCAP_MSS;
		if (segment(p, c, from, TCP_PSH | TCP_ACK, d, n) < 0)
			return -1;
		d += n;
		len -= n;
	}
	return segment(p, c, 1 - from, TCP_ACK, NULL, 0);
}

int cas_pcap_tcp_close(struct cas_pcap *p, struct cas_pcap_tcp *c, int from)
{
	if (!c->open || (from != CAS_PCAP_CLIENT && from != CAS_PCAP_SERVER))
		return -1;
	c->open = 0;
	if (segment(p, c, from, TCP_FIN | TCP_ACK, NULL, 0) < 0
	    || segment(p, c, 1 - from, TCP_FIN | TCP_ACK, NULL, 0) < 0
	    || segment(p, c, from, TCP_ACK, NULL, 0) < 0)
		return -1;
	return 0;
}

int cas_pcap_udp(struct cas_pcap *p, uint32_t src_ip, uint16_t src_port,
		 uint32_t dst_ip, uint16_t dst_port, const void *data, size_t len)
{
	if (len > MAX_UDP_PAYLOAD)
		return -1;
	uint8_t u[UDP_LEN];
	cas_put_be16(u, src_port);
	cas_put_be16(u + 2, dst_port);
	cas_put_be16(u + 4, (uint16_t)(UDP_LEN + len));
	return frame(p, src_ip, dst_ip, 17, u, sizeof u, 6, data, len);
}
