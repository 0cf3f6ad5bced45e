#ifndef CAS_CARD_H
#define CAS_CARD_H
/*
 * The smartcard: the logic of a FreeCAS / TVCAS 3 card, as portable C with
 * no allocation, no I/O and no global state, so the same code runs in card
 * firmware and in the software card contrib/cardemu.  It builds with
 * -ffreestanding against <stdint.h>/<string.h> only (test/it/card_freestanding.sh).
 *
 * A card is one struct cas_card_chip: its personalisation (the 90-byte
 * TVCAS 3 BIN, reference/tvcas3.md §5), its persistent state (rights,
 * pairing, PIN, anti-sharing) and some RAM (the host id, the pending answer,
 * the T=0 byte engine).  The host feeds it one command APDU at a time
 * (cas_card_apdu) or one byte at a time (cas_card_t0_rx), and persists
 * cas_card_save() whenever the card says it is dirty.
 *
 * Wire protocol (details in doc/card-protocol.md):
 *   ATR 3B 24 00 30 42 30 30, T=0, 9600 baud at 3.57 MHz, CLA DD.
 *   Conax-style (conax-card.md §2, tvcas3.md §6), dispatched on the first
 *   nano of the command data as TVCAS 3 cards do:
 *     DD 26 | 10 01 hv            -> 98 11; CA: 20 01 40 28 02 0B cc 2F 02 00 2C 30 01 mm 23 01 02
 *     DD 82 | 11 LL ... (host id at data bytes 14..16)
 *                                 -> 98 1A; CA: 22 18 09 04 0B cc h0 h1
 *                                    23 07 00 00 00 SN(4)  23 07 00 00 00 00 SA(3)
 *     DD 84 | 12 LL <EMM section> -> 90 00 (always; applied only if for this card and intact)
 *     DD A2 | 14 LL PP <ECM>      -> 98 22; CA: 25 0D 00 00 01 00 00 <odd CW>
 *                                    25 0D 00 00 00 00 00 <even CW> 31 02 40 00
 *                                 or refusal 98 04; CA: 31 02 00 00
 *                                 (or 90 12 with CAS_CARD_DENY_9012)
 *     DD C6 | 1C 01 00            -> 98 31; CA: the 49-byte subscription record
 *     DD 26 | 1C 01 01            -> 90 00 (no PPV events)
 *     DD C8 | 1D 05 01 PIN(4)     -> 90 00, or 90 17 on a wrong PIN
 *     DD xx | 1E 08 old(4) new(4) -> change PIN: 90 00 / 90 17
 *     DD xx | 1F 05 PIN(4) level  -> maturity level: 90 00 / 90 17
 *     DD xx | 66 ..               -> 98 06; CA: 74 04 SN(4)
 *     DD xx | 6C .. (pairing probe), other nanos -> 90 00
 *     DD CA 00 00 Le              -> CA + Le bytes + 90 00 (98 rest if more is pending;
 *                                    6C nn if Le exceeds what is pending; 69 85 if nothing)
 *     DD 99, DD 11 (no data)      -> 90 00 (11 runs the firmware's 3DES self-test)
 *   Personalisation (FreeCAS's own; TVCAS's programming protocol is not
 *   public):
 *     DD D0 00 off Lc <bytes>     WRITE bytes off..off+Lc-1 of the 90-byte BIN
 *     DD D2 00 off Le             READ BACK; after LOCK only bytes 0..41 (no keys)
 *     DD D4 00 00 00              LOCK: the card is "protected", WRITE is refused
 *     DD D6 00 00 00              ERASE back to blank; on a locked card only if the
 *                                 head-end switched protection off (EMM protect = 0)
 *     DD D8 00 00 08              STATUS: 01 life flags nwritten SN(4)
 *   Errors: 6E 00 wrong CLA, 6D 00 unknown INS, 67 00 wrong length,
 *   69 85 not allowed in this state (e.g. a Conax command on a blank card),
 *   69 82 refused by protection, 6B 00 offset out of range, 6A 80 invalid BIN,
 *   6C nn wrong Le.  Unknown instructions never hang: they get 6D 00 at once.
 *
 * Decisions:
 *   ECM (tvcas3.md §2.3): decrypt with the ECM key of the table (0x80 ->
 *   key[0..15], 0x81 -> key[16..31]); sum8 checksum; start < t < finish
 *   (unsigned 32-bit, t = ECM time); (card AC & ECM AC) != 0; pairing;
 *   anti-sharing; else refusal.  All time comes from ECMs: the card's clock
 *   is the latest ECM time it has seen.
 *   EMM (tvcas3.md §3): applied only when the section address and the
 *   decrypted serial are this card's and BOTH sum8 checksums hold (TVCAS 3
 *   cards check neither); a corrupt or foreign EMM changes nothing.
 *
 * Pairing (pair = 1): the card serves only the host it is bound to.  The
 * "host" is the 3-byte id the host sends in the INS 82 command, data bytes
 * 14..16 (tvcas3.md §6, the EMM-PID field of the CA descriptor and the byte
 * after it):
 *   - a CAM sends its own bytes there, so the card binds to that CAM;
 *   - OSCam always sends E0 30 2B (conax-card.md §2.4: the reserved bits
 *     and PID 0x0030 it hard-codes, and a fixed 2B), so every OSCam looks
 *     the same: pairing keeps a card in OSCam installations but does not
 *     tell one OSCam from another.  vdr-sc puts the real EMM PID there.
 * The card binds to the current host when an EMM for it arrives while
 * pair = 0 or while it is not bound yet (the TVCAS 3 rule, so "pair 0, one
 * EMM, pair 1" re-pairs), and, with pair = 1 and no binding yet, to the
 * first host that sends it an ECM.  An ECM from another host, or from a host
 * that sent no INS 82 since the reset, is refused.
 *
 * Anti-sharing (the seed's promise, not the TVCAS firmware heuristic of
 * tvcas3.md §6.3, which blocks a single viewer at crypto-periods <= 5 s):
 * "no more than max_channels (2) channels at a time; if exceeded, the card
 * answers as not found and is blocked for block_seconds (1 day)".
 *   - A channel is an ECM stream.  Consecutive ECMs of one stream share a
 *     CW (the ECM of CP n carries CW n and n+1), so the card chains an ECM
 *     to the stream whose last ECM shares one of its CWs (it keeps 32-bit
 *     fingerprints of the CWs, never the CWs).  A repeat of the same ECM is
 *     not a new stream; the gap between two chained ECM times is that
 *     stream's crypto-period (cp).
 *   - A stream counts once it has lasted min_age seconds (and at least 3 of
 *     its own cps) of ECM time, and stops counting 2 cp + 2 s after its last
 *     ECM: channel zapping never counts, watching + recording is 2.
 *   - If more than max_channels streams count for sustain seconds of ECM
 *     time, the card blocks: every ECM is refused (as "not found") until the
 *     clock passes block time + block_seconds.  Two channels work at any
 *     crypto-period; three are blocked after about min_age + sustain (90 s).
 *   - Only ECMs that would otherwise be answered count.  The rule is off
 *     while protect = 0 (tvcas3.md §6.3: "protect 0 = counter disabled");
 *     an EMM that sets protect = 0 also lifts a running block.
 *
 * Persistence: the card marks itself dirty (and calls on_dirty) only when
 * something meaningful changes: personalisation, lock, erase, rights or
 * pairing from an EMM, the host binding, PIN or maturity, a block starting
 * or ending.  Never on an ordinary ECM (TVCAS 3 rewrote flash on every
 * ECM: tvcas3.md §8).  The anti-sharing tracker and clock are saved along
 * with the next meaningful write (and by cardemu at exit), not on their own.
 */
#include <stdint.h>
#include <string.h>

#define CAS_CARD_BIN_LEN 90
#define CAS_CARD_ATR_LEN 7
#define CAS_CARD_STREAMS 8
#define CAS_CARD_IMAGE_LEN 332		/* cas_card_save() output */
#define CAS_CARD_PENDING_MAX 64		/* longest answer waiting for DD CA */
#define CAS_CARD_T0_OUT_MAX 260		/* most bytes one cas_card_t0_rx call emits */
#define CAS_CARD_RESP_MAX 258		/* most bytes one cas_card_apdu call returns */

/* Personalisation layout (tvcas3.md §5) */
#define CAS_CARD_BIN_PUBLIC 42		/* bytes 0..41 hold no key */

#define CAS_CARD_CLA 0xDD
#define CAS_CARD_INS_WRITE 0xD0
#define CAS_CARD_INS_READ 0xD2
#define CAS_CARD_INS_LOCK 0xD4
#define CAS_CARD_INS_ERASE 0xD6
#define CAS_CARD_INS_STATUS 0xD8
#define CAS_CARD_STATUS_LEN 8
#define CAS_CARD_STATUS_VERSION 1

/* The card's answer to reset (conax-card.md §1.1). */
extern const uint8_t cas_card_atr[CAS_CARD_ATR_LEN];

enum cas_card_life {
	CAS_CARD_BLANK = 0,		/* no personalisation: only D0..D8 work */
	CAS_CARD_OPEN = 1,		/* personalised, still writable */
	CAS_CARD_LOCKED = 2,		/* personalised and protected */
};

/* STATUS flags byte */
#define CAS_CARD_ST_PROTECT 0x01
#define CAS_CARD_ST_PAIR 0x02
#define CAS_CARD_ST_BLOCKED 0x04
#define CAS_CARD_ST_BOUND 0x08

enum cas_card_deny {
	CAS_CARD_DENY_TVCAS = 0,	/* 98 04, then 31 02 00 00 on the CA read */
	CAS_CARD_DENY_9012 = 1,		/* 90 12 at once (conax-card.md §2.7) */
};

/* T=0 case of an instruction: who carries P3 bytes. */
enum cas_card_case {
	CAS_CARD_CASE_NONE = 0,		/* no data: the card answers SW1 SW2 at once */
	CAS_CARD_CASE_IN = 1,		/* P3 = Lc: ACK, then the host sends P3 bytes */
	CAS_CARD_CASE_OUT = 2,		/* P3 = Le: ACK + data, then SW1 SW2 */
};

/* What the last command did, for the host's log (never a CW or a key). */
enum cas_card_event {
	CAS_CARD_EV_NONE = 0,
	CAS_CARD_EV_INFO,		/* INS 26: versions, CAID */
	CAS_CARD_EV_ADDR,		/* INS 82: host id, addresses */
	CAS_CARD_EV_SUBS,		/* subscription record */
	CAS_CARD_EV_READ,		/* DD CA read */
	CAS_CARD_EV_ECM_OK,
	CAS_CARD_EV_ECM_FORMAT,
	CAS_CARD_EV_ECM_CHECKSUM,
	CAS_CARD_EV_ECM_NOT_STARTED,
	CAS_CARD_EV_ECM_EXPIRED,
	CAS_CARD_EV_ECM_NO_PACKAGE,
	CAS_CARD_EV_ECM_NO_HOST,	/* paired, but the host sent no id */
	CAS_CARD_EV_ECM_OTHER_HOST,	/* paired to another host */
	CAS_CARD_EV_ECM_BLOCKED,	/* refused: the card is blocked */
	CAS_CARD_EV_ECM_BLOCK_START,	/* refused: this ECM started a block */
	CAS_CARD_EV_EMM_APPLIED,	/* rights/pairing changed */
	CAS_CARD_EV_EMM_UNCHANGED,	/* valid, nothing new */
	CAS_CARD_EV_EMM_OTHER_CARD,
	CAS_CARD_EV_EMM_CORRUPT,	/* for this card, but a checksum or the serial is wrong */
	CAS_CARD_EV_EMM_FORMAT,
	CAS_CARD_EV_PIN_OK,
	CAS_CARD_EV_PIN_WRONG,
	CAS_CARD_EV_PIN_CHANGED,
	CAS_CARD_EV_MATURITY,
	CAS_CARD_EV_OTHER,		/* a nano the card acknowledges and ignores */
	CAS_CARD_EV_PERSO_WRITE,
	CAS_CARD_EV_PERSONALISED,	/* the last BIN byte arrived and the BIN is valid */
	CAS_CARD_EV_PERSO_INVALID,
	CAS_CARD_EV_PERSO_READ,
	CAS_CARD_EV_LOCKED,
	CAS_CARD_EV_ERASED,
	CAS_CARD_EV_REFUSED,		/* write/erase refused by protection */
	CAS_CARD_EV_STATUS,
	CAS_CARD_EV_NOT_ALLOWED,	/* 69 85 */
	CAS_CARD_EV_BAD_APDU,		/* 6E 00, 6D 00, 67 00, 6B 00, 6C nn */
	CAS_CARD_EV_SELFTEST,
	CAS_CARD_EV_COUNT
};

struct cas_card_report {
	enum cas_card_event ev;
	uint8_t ins;
	uint16_t sw;
	uint8_t table;			/* ECM table_id */
	uint32_t time;			/* ECM time */
	uint32_t serial;		/* EMM address */
	uint8_t block_started;		/* a block started with this command */
	uint8_t block_ended;		/* a block was lifted by this command */
};

/* Per-card behaviour chosen by the host (not personalised). */
struct cas_card_options {
	enum cas_card_deny deny;
	uint8_t max_channels;		/* default 2 */
	uint32_t block_seconds;		/* default 86400 */
	uint32_t min_age;		/* default 60 */
	uint32_t sustain;		/* default 30 */
};

/* One ECM stream seen by the anti-sharing rule. */
struct cas_card_stream {
	uint32_t fp[2];			/* fingerprints of the last ECM's odd, even CW */
	uint32_t first;			/* ECM time of its first ECM */
	uint32_t last;			/* ECM time of its latest ECM */
	uint32_t cp;			/* gap between its last two ECM times */
	uint8_t links;			/* chained ECMs (saturates at 255) */
	uint8_t used;
};

/* Everything that survives a power cycle (cas_card_save/load). */
struct cas_card_persist {
	uint8_t life;			/* enum cas_card_life */
	uint8_t bin[CAS_CARD_BIN_LEN];
	uint8_t written[12];		/* while blank: which BIN bytes were written */
	uint32_t start, finish, ac;
	uint8_t cdate_start[2], cdate_finish[2];
	uint8_t pair, protect;
	uint8_t bound, cam_id[3];	/* host binding */
	uint8_t pin[4];
	uint8_t maturity;
	uint8_t blocked;
	uint32_t block_time;
	uint32_t clock;			/* latest ECM time seen */
	uint8_t emm_count, emm_sum_calc, emm_sum_recv;	/* diagnostics (TVCAS record) */
	uint8_t excess;			/* too many streams since excess_since */
	uint32_t excess_since;
	struct cas_card_stream streams[CAS_CARD_STREAMS];
};

struct cas_card_chip {
	struct cas_card_persist p;
	struct cas_card_options opt;
	/* RAM only */
	uint8_t host_known, host_id[3];
	uint8_t pending[CAS_CARD_PENDING_MAX];
	uint8_t pending_len, pending_pos;
	uint8_t ecm_count;
	int dirty;
	void (*on_dirty)(void *ctx);
	void *dirty_ctx;
	struct cas_card_report last;
	/* T=0 byte engine */
	uint8_t t0_state, t0_fresh;
	uint8_t t0_hdr[5];
	uint8_t t0_n, t0_need;
	uint8_t t0_buf[5 + 255];
};

/* Default options: TVCAS refusal, 2 channels, 1-day block, 60 s, 30 s. */
void cas_card_default_options(struct cas_card_options *o);

/* A blank card (no personalisation), default options. */
void cas_card_init_blank(struct cas_card_chip *c);
/* A card issued from a 90-byte BIN: personalised and locked, state from the
 * BIN (tvcas3.md §5 "BIN -> card memory").  -1 (card left blank) if the BIN
 * is invalid (serial byte 0 is 0: a UA needs a non-zero top byte). */
int cas_card_init_bin(struct cas_card_chip *c, const uint8_t bin[CAS_CARD_BIN_LEN]);
/* Wipes the whole struct (keys included). */
void cas_card_chip_wipe(struct cas_card_chip *c);

/* Host reset: forgets the host id, the pending answer and the T=0 state;
 * keeps everything persistent and the anti-sharing tracker. */
void cas_card_reset(struct cas_card_chip *c);

enum cas_card_case cas_card_ins_case(uint8_t cla, uint8_t ins);

/*
 * One command APDU: CLA INS P1 P2 P3 [P3 data bytes] (CASE_IN), or the
 * 5-byte header (CASE_OUT, P3 = Le; CASE_NONE, P3 = 0; a 4-byte case-1 APDU
 * is accepted too).  Writes response data + SW1 SW2 to resp and returns its
 * length (2.. CAS_CARD_RESP_MAX), or 0 if cap < 2.  A CASE_IN command
 * never returns data: Conax answers wait for DD CA.
 */
size_t cas_card_apdu(struct cas_card_chip *c, const uint8_t *apdu, size_t len,
		     uint8_t *resp, size_t cap);

/*
 * The ECM decision alone (what DD A2 does): sec is the ECM section.  On
 * CAS_CARD_EV_ECM_OK the CWs are in cw_odd / cw_even (card index 1 / 0),
 * otherwise they are zeroed.  Updates the clock, the anti-sharing tracker
 * and the block exactly as the APDU does.
 */
enum cas_card_event cas_card_ecm(struct cas_card_chip *c, const uint8_t *sec, size_t len,
				 uint8_t cw_odd[8], uint8_t cw_even[8]);
/* The EMM alone (what DD 84 does). */
enum cas_card_event cas_card_emm(struct cas_card_chip *c, const uint8_t *sec, size_t len);

/*
 * T=0 byte engine (card side of the I/O line, without the echo, which is a
 * property of the reader).  cas_card_t0_reset resets the card and writes the
 * ATR; cas_card_t0_rx takes one byte from the host and writes what the card
 * sends back (procedure byte, data, SW; at most CAS_CARD_T0_OUT_MAX bytes).
 * A PPS request (FF ..) right after the ATR is answered with the default
 * parameters (no PPS1): the card stays at 9600 baud.
 */
size_t cas_card_t0_reset(struct cas_card_chip *c, uint8_t *out, size_t cap);
size_t cas_card_t0_rx(struct cas_card_chip *c, uint8_t byte, uint8_t *out, size_t cap);
/* 1 if the engine is between commands (no partial header or data). */
int cas_card_t0_idle(const struct cas_card_chip *c);

/* Persistence: dirty is set by a meaningful change (see above). */
int cas_card_dirty(const struct cas_card_chip *c);
void cas_card_clear_dirty(struct cas_card_chip *c);
void cas_card_set_dirty_hook(struct cas_card_chip *c, void (*fn)(void *ctx), void *ctx);
/* The persistent image (CAS_CARD_IMAGE_LEN bytes, CRC-32 protected);
 * returns its length, or 0 if cap is too small. */
size_t cas_card_save(const struct cas_card_chip *c, uint8_t *out, size_t cap);
/* Loads an image; -1 (card untouched) if it is not a valid image. */
int cas_card_load(struct cas_card_chip *c, const uint8_t *in, size_t len);

/* Accessors for the host (logs, tests). */
uint32_t cas_card_serial(const struct cas_card_chip *c);
enum cas_card_life cas_card_life(const struct cas_card_chip *c);
const struct cas_card_report *cas_card_last(const struct cas_card_chip *c);
/* "ecm released", "ecm refused: expired", ... */
const char *cas_card_event_name(enum cas_card_event ev);

#endif
