#ifndef CAS_TS_H
#define CAS_TS_H
/*
 * One MPEG-2 private section carried in 188-byte transport stream packets
 * (ISO/IEC 13818-1 §2.4.3 and §2.4.4), for the SimulCrypt datagrams sent in
 * TS-packet mode (section_TSpkt_flag = 1): ECM_datagram (ecmgd) and the
 * EMM datagram (emmgd).
 *
 * Packetizing: the first packet has payload_unit_start_indicator = 1 and a
 * pointer_field of 0, so the section starts at packet byte 5; continuation
 * packets carry the rest 184 bytes at a time; the last packet is filled up
 * with 0xFF.  No adaptation field, not scrambled.  The PID is normally the
 * placeholder 0x1FFF: the multiplexer rewrites it.
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_TS_PACKET_LEN 188
#define CAS_TS_SYNC 0x47
#define CAS_TS_PID_PLACEHOLDER 0x1FFF
/* 3-byte section header + a 12-bit section_length */
#define CAS_TS_SECTION_MAX (3 + 4095)

/* Packets needed for a section of len bytes (0 if len is 0). */
size_t cas_ts_packets_for(size_t section_len);

/*
 * Writes the section as n packets (n = cas_ts_packets_for(len)) into out,
 * which holds cap bytes.  *cc is the continuity_counter of the first packet
 * and is advanced by n (mod 16), ready for the next datagram on that PID.
 * Returns the bytes written (n * 188), or -1 if the section is empty, is
 * longer than its own section_length says or than CAS_TS_SECTION_MAX, the
 * PID is above 0x1FFF, or out is too small.
 */
long cas_ts_packetize(const uint8_t *section, size_t len, uint16_t pid,
		      uint8_t *cc, uint8_t *out, size_t cap);

/*
 * The reverse: reads whole packets (len a multiple of 188) and copies the
 * section that starts in the first packet into out (cap bytes).  Checks the
 * sync bytes, one PID, payload_unit_start_indicator on the first packet
 * only, continuity counters, and the section_length against what the
 * packets carry; skips adaptation fields, the pointer_field and the 0xFF
 * stuffing.  *pid (may be NULL) receives the PID.  Returns the section
 * length, or -1 on malformed input.
 */
long cas_ts_extract(const uint8_t *packets, size_t len, uint8_t *out, size_t cap,
		    uint16_t *pid);

#endif
