/*
 * The transport stream (ISO/IEC 13818-1): one programme with a private PES
 * elementary stream scrambled with DVB-CSA, its PAT, PMT (CA_descriptor ->
 * ECM PID) and CAT (CA_descriptor -> EMM PID), the ECMs from ecmgd and the
 * EMMs from emmgd in place of null packets.
 *
 * Crypto-periods follow the stream's own clock (packet index / packets per
 * second).  At the start of CP n the scrambler switches to CW(n) (even key
 * for an even n, transport_scrambling_control 10; odd key, 11) and asks the
 * ECMG for the ECM of CP n + 1.  ECM(n), which carries CW(n) and CW(n+1),
 * goes on air delay_start ms after CP n starts (before it if negative), so
 * a receiver always holds the next CW before the switch.  If ECM(n + 1) has
 * not arrived when CP n + 1 is due, the stream waits for it (as TSDuck's
 * scrambler does in synchronous mode): no packet is ever scrambled with a CW
 * whose ECM the receivers cannot have.
 *
 * Every packet is written twice: scrambled (the output) and clear (the
 * input the scrambler was given), at the same index, so a receiver can
 * compare its descrambled packet with the clear one byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "headend.h"
#include "log.h"
#include "psi.h"
#include "rand.h"
#include "ts.h"

enum { CC_PAT, CC_CAT, CC_PMT, CC_ES, CC_ECM, CC_EMM };

#define FPS 25

void tsgen_new_cw(uint8_t cw[8])
{
	/* 48 random bits; bytes 3 and 7 are the CSA checksums that CAMs and
	 * OSCam rewrite (conax-card.md §2.7) */
	cas_rand_bytes(cw, 8);
	cw[3] = (uint8_t)(cw[0] + cw[1] + cw[2]);
	cw[7] = (uint8_t)(cw[4] + cw[5] + cw[6]);
}

int tsgen_init(struct tsgen *t, unsigned pps, uint32_t cp_ms, uint64_t seed)
{
	memset(t, 0, sizeof *t);
	t->pps = pps;
	t->cp_ms = cp_ms;
	t->pmt_pid = 0x1000;
	t->es_pid = 0x0100;
	t->ecm_pid = 0x0101;
	t->emm_pid = 0x0102;
	t->ca_system_id = 0x0B00;
	/* ~60 % of the multiplex is the service, the rest PSI, ECM, EMM and
	 * stuffing (the null packets the EMMs take, as datainject does) */
	t->es_per_frame = pps * 6 / 10 / FPS;
	if (t->es_per_frame < 2)
		t->es_per_frame = 2;
	t->es_pps = t->es_per_frame * FPS;
	if (t->es_pps > pps * 8 / 10)
		return -1;
	t->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
	t->emm = malloc(sizeof *t->emm * EMM_QUEUE);
	t->key[0] = dvbcsa_key_alloc();
	t->key[1] = dvbcsa_key_alloc();
	if (t->emm == NULL || t->key[0] == NULL || t->key[1] == NULL)
		return -1;
	return 0;
}

void tsgen_free(struct tsgen *t)
{
	free(t->emm);
	t->emm = NULL;
	for (int i = 0; i < 2; i++) {
		if (t->key[i] != NULL)
			dvbcsa_key_free(t->key[i]);
		t->key[i] = NULL;
	}
	memset(t->cw, 0, sizeof t->cw);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t cp_start(const struct tsgen *t, uint32_t cp)
{
	return (uint64_t)cp * t->cp_ms * t->pps / 1000;
}

static void null_packet(uint8_t p[TS_LEN])
{
	p[0] = CAS_TS_SYNC;
	p[1] = 0x1F;
	p[2] = 0xFF;
	p[3] = 0x10;
	memset(p + 4, 0xFF, TS_LEN - 4);
}

/* Queues a section (PSI or ECM) for the next free slots. */
static void queue_section(struct tsgen *t, const uint8_t *sec, size_t len, uint16_t pid, int slot)
{
	uint8_t buf[INS_QUEUE * TS_LEN];
	long n = cas_ts_packetize(sec, len, pid, &t->cc[slot], buf, sizeof buf);
	if (n < 0 || t->ins_n + (size_t)n / TS_LEN > INS_QUEUE) {
		cas_log(CAS_LOG_WARN, "section of %zu bytes for PID 0x%04X dropped", len, pid);
		return;
	}
	memcpy(t->ins[t->ins_n], buf, (size_t)n);
	t->ins_n += (unsigned)(n / TS_LEN);
}

static void queue_psi(struct tsgen *t)
{
	uint8_t body[64], sec[128];
	struct cas_wbuf w;
	long n;

	/* PAT: programme 1 -> PMT PID */
	cas_wbuf_init(&w, body, sizeof body);
	cas_wbuf_put_u16(&w, 1);
	cas_wbuf_put_u16(&w, (uint16_t)(0xE000 | t->pmt_pid));
	if ((n = cas_psi_section(CAS_PSI_TABLE_PAT, 1, 0, body, w.len, sec, sizeof sec)) > 0)
		queue_section(t, sec, (size_t)n, CAS_PSI_PID_PAT, CC_PAT);

	/* CAT: CA_descriptor -> EMM PID */
	cas_wbuf_init(&w, body, sizeof body);
	cas_wbuf_put_u8(&w, CAS_PSI_DESC_CA);
	cas_wbuf_put_u8(&w, 4);
	cas_wbuf_put_u16(&w, t->ca_system_id);
	cas_wbuf_put_u16(&w, (uint16_t)(0xE000 | t->emm_pid));
	if ((n = cas_psi_section(CAS_PSI_TABLE_CAT, 0xFFFF, 0, body, w.len, sec, sizeof sec)) > 0)
		queue_section(t, sec, (size_t)n, CAS_PSI_PID_CAT, CC_CAT);

	/* PMT: PCR on the ES PID, programme-level CA_descriptor -> ECM PID,
	 * one private PES stream (stream_type 0x06) */
	cas_wbuf_init(&w, body, sizeof body);
	cas_wbuf_put_u16(&w, (uint16_t)(0xE000 | t->es_pid));
	cas_wbuf_put_u16(&w, 0xF000 | 6);
	cas_wbuf_put_u8(&w, CAS_PSI_DESC_CA);
	cas_wbuf_put_u8(&w, 4);
	cas_wbuf_put_u16(&w, t->ca_system_id);
	cas_wbuf_put_u16(&w, (uint16_t)(0xE000 | t->ecm_pid));
	cas_wbuf_put_u8(&w, 0x06);
	cas_wbuf_put_u16(&w, (uint16_t)(0xE000 | t->es_pid));
	cas_wbuf_put_u16(&w, 0xF000);
	if ((n = cas_psi_section(CAS_PSI_TABLE_PMT, 1, 0, body, w.len, sec, sizeof sec)) > 0)
		queue_section(t, sec, (size_t)n, t->pmt_pid, CC_PMT);
	t->psi_packets += 3;
}

int tsgen_emm(struct tsgen *t, const uint8_t *p, size_t n, int ts_mode)
{
	uint8_t buf[8 * TS_LEN];
	long len;
	if (ts_mode) {
		/* the MUX owns the PID and the continuity counter */
		if (n == 0 || n % TS_LEN != 0 || n > sizeof buf)
			return -1;
		for (size_t i = 0; i < n; i += TS_LEN)
			if (p[i] != CAS_TS_SYNC)
				return -1;
		memcpy(buf, p, n);
		for (size_t i = 0; i < n; i += TS_LEN) {
			buf[i + 1] = (uint8_t)((buf[i + 1] & 0xE0) | t->emm_pid >> 8);
			buf[i + 2] = (uint8_t)t->emm_pid;
			buf[i + 3] = (uint8_t)((buf[i + 3] & 0xF0) | t->cc[CC_EMM]);
			if (buf[i + 3] & 0x10)	/* payload present: the counter advances */
				t->cc[CC_EMM] = (t->cc[CC_EMM] + 1) & 0x0F;
		}
		len = (long)n;
	} else {
		len = cas_ts_packetize(p, n, t->emm_pid, &t->cc[CC_EMM], buf, sizeof buf);
		if (len < 0)
			return -1;
	}
	for (long i = 0; i < len; i += TS_LEN) {
		if (t->emm_n == EMM_QUEUE) {
			t->emm_dropped++;
			continue;
		}
		memcpy(t->emm[(t->emm_head + t->emm_n) % EMM_QUEUE], buf + i, TS_LEN);
		t->emm_n++;
	}
	return 0;
}

/* One packet of the PES of the current frame. */
static void es_packet(struct tsgen *t, uint8_t p[TS_LEN], size_t *payload)
{
	size_t off = 4;
	p[0] = CAS_TS_SYNC;
	p[1] = (uint8_t)((t->es_k == 0 ? 0x40 : 0) | t->es_pid >> 8);
	p[2] = (uint8_t)t->es_pid;
	if (t->es_k == 0) {
		/* adaptation field with the PCR, then the PES header */
		uint64_t pcr = t->pkt * 27000000ull / t->pps;
		uint64_t base = (pcr / 300) & 0x1FFFFFFFFull, ext = pcr % 300;
		p[3] = (uint8_t)(0x30 | t->cc[CC_ES]);
		p[4] = 7;
		p[5] = 0x10;
		p[6] = (uint8_t)(base >> 25);
		p[7] = (uint8_t)(base >> 17);
		p[8] = (uint8_t)(base >> 9);
		p[9] = (uint8_t)(base >> 1);
		p[10] = (uint8_t)((base & 1) << 7 | 0x7E | ext >> 8);
		p[11] = (uint8_t)ext;
		off = 12;
		/* PTS half a second after the PCR of its first byte */
		uint64_t pts = (t->pkt * 90000ull / t->pps + 45000) & 0x1FFFFFFFFull;
		size_t pes_len = (TS_LEN - off) + (size_t)(t->es_per_frame - 1) * (TS_LEN - 4) - 6;
		uint8_t *q = p + off;
		q[0] = 0;
		q[1] = 0;
		q[2] = 1;
		q[3] = 0xBD;		/* private_stream_1 */
		q[4] = (uint8_t)(pes_len >> 8);
		q[5] = (uint8_t)pes_len;
		q[6] = 0x84;		/* '10', not scrambled, data_alignment */
		q[7] = 0x80;		/* PTS only */
		q[8] = 5;
		q[9] = (uint8_t)(0x21 | ((pts >> 29) & 0x0E));
		q[10] = (uint8_t)(pts >> 22);
		q[11] = (uint8_t)(((pts >> 14) & 0xFE) | 1);
		q[12] = (uint8_t)(pts >> 7);
		q[13] = (uint8_t)(((pts << 1) & 0xFE) | 1);
		for (size_t i = off + 14; i < TS_LEN; i += 8) {
			uint64_t r = xorshift(&t->rng);
			for (size_t j = 0; j < 8 && i + j < TS_LEN; j++)
				p[i + j] = (uint8_t)(r >> (8 * j));
		}
	} else {
		p[3] = (uint8_t)(0x10 | t->cc[CC_ES]);
		for (size_t i = 4; i < TS_LEN; i += 8) {
			uint64_t r = xorshift(&t->rng);
			for (size_t j = 0; j < 8; j++)
				p[i + j] = (uint8_t)(r >> (8 * j));
		}
	}
	t->cc[CC_ES] = (t->cc[CC_ES] + 1) & 0x0F;
	if (++t->es_k == t->es_per_frame) {
		t->es_k = 0;
		t->frame++;
	}
	*payload = off;
}

int tsgen_packet(struct headend *h, uint8_t out[TS_LEN], uint8_t clear[TS_LEN])
{
	struct tsgen *t = &h->ts;
	const struct scs *s = &h->scs;

	/* a new crypto-period: only with its ECM in hand */
	if (t->pkt >= cp_start(t, t->cp + 1)) {
		if (scs_ecm(s, t->cp + 1) == NULL) {
			if (h->stalled_since == 0) {
				h->stalled_since = (uint64_t)mono_ms();
				t->stalls++;
				cas_log(CAS_LOG_WARN, "ECM for CP %u late: the stream waits", t->cp + 1);
			}
			return 0;
		}
		if (h->stalled_since != 0)
			cas_log(CAS_LOG_INFO, "ECM for CP %u arrived, %llu ms late", t->cp + 1,
				(unsigned long long)((uint64_t)mono_ms() - h->stalled_since));
		h->stalled_since = 0;
		t->cp++;
		dvbcsa_key_set(t->cw[t->cp & 3], t->key[t->cp & 1]);
		if (headend_new_cp(h, t->cp) < 0)
			h->stop = 1;
	}
	/* the next ECM goes on air delay_start after its CP begins */
	uint32_t nxt = t->ecm_air + 1;
	if (nxt <= t->cp + 1 && scs_ecm(s, nxt) != NULL) {
		int64_t at = (int64_t)cp_start(t, nxt) + (int64_t)s->delay_start * t->pps / 1000;
		if ((int64_t)t->pkt >= at) {
			t->ecm_air = nxt;
			t->next_ecm = t->pkt;
			t->ecm_switches++;
		}
	}
	if (t->pkt >= t->next_psi) {
		queue_psi(t);
		t->next_psi += t->pps / 10;
	}
	if (t->pkt >= t->next_ecm) {
		const struct ecm_slot *e = scs_ecm(s, t->ecm_air);
		if (e != NULL) {
			queue_section(t, e->sec, e->len, t->ecm_pid, CC_ECM);
			t->ecm_packets += cas_ts_packets_for(e->len);
		}
		unsigned rep = s->rep_period_ms ? s->rep_period_ms : 100;
		t->next_ecm = t->pkt + (uint64_t)rep * t->pps / 1000;
	}

	size_t payload = 0;
	int scramble = 0;
	if (t->ins_n > 0) {
		memcpy(out, t->ins[0], TS_LEN);
		memmove(t->ins[0], t->ins[1], (size_t)(t->ins_n - 1) * TS_LEN);
		t->ins_n--;
	} else if ((t->es_acc += t->es_pps) >= t->pps) {
		t->es_acc -= t->pps;
		es_packet(t, out, &payload);
		scramble = 1;
		t->es_packets++;
	} else if (t->emm_n > 0) {
		memcpy(out, t->emm[t->emm_head], TS_LEN);
		t->emm_head = (t->emm_head + 1) % EMM_QUEUE;
		t->emm_n--;
		t->emm_packets++;
	} else {
		null_packet(out);
		t->null_packets++;
	}
	memcpy(clear, out, TS_LEN);
	if (scramble) {
		/* transport_scrambling_control: 10 even key, 11 odd key */
		out[3] = (uint8_t)(out[3] | 0x80 | ((t->cp & 1) ? 0x40 : 0));
		dvbcsa_encrypt(t->key[t->cp & 1], out + payload, (unsigned)(TS_LEN - payload));
	}
	t->pkt++;
	return 1;
}
