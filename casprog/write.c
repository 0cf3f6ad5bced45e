/*
 * casprog write, casprog erase: personalisation through the reader, with
 * the FreeCAS personalisation commands of card.h (DD D0 WRITE, D2 READ
 * BACK, D4 LOCK, D6 ERASE, D8 STATUS).
 *
 * write: reset + ATR, STATUS (blank, or an unfinished personalisation;
 * a locked card is refused), WRITE in chunks, STATUS (personalised, all
 * bytes, the right serial), READ BACK and compare, LOCK, STATUS (locked).
 * Success is reported only after the last step; a card left in any other
 * state is reported as not issued.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "card.h"
#include "log.h"
#include "reader.h"

#define CHUNK 18	/* 5 writes of 18 bytes: a progress step each */

static int not_issued(uint32_t serial, int rc)
{
	cas_log(CAS_LOG_ERROR, "card %u is NOT issued (not written and locked completely): run casprog write again",
		serial);
	return rc;
}

/* After a failed verify: leave no half-right card behind. */
static void erase_after_mismatch(struct cp_reader *r, uint32_t serial)
{
	uint16_t sw = 0;
	if (cp_card_send(r, CAS_CARD_INS_ERASE, 0, NULL, 0, &sw, "erasing the card after the failed check") != 0)
		return;
	if (sw == 0x9000)
		cas_log(CAS_LOG_ERROR, "card %u: the card was erased; write it again or discard it", serial);
	else
		cas_log(CAS_LOG_ERROR, "card %u: the card refused to erase (SW %04X); discard it", serial, sw);
}

int cp_write(struct cp_ctx *ctx)
{
	struct cp_reader_opts ro;
	struct cp_reader r;
	struct cas_conf conf;
	struct cp_status st;
	struct cp_bin_info info;
	const char *file = NULL;
	uint8_t bin[CP_FILE_MAX + 1], back[CAS_CARD_BIN_LEN];
	char why[256], what[128];
	size_t len;
	uint16_t sw;
	int rc;
	if (cp_reader_args(ctx, &ro, "write", &file, NULL, &rc) < 0)
		return rc;
	if (cp_load_conf(ctx, &conf, &rc) < 0)
		return rc;
	memset(&r, 0, sizeof r);
	r.h.fd = -1;

	if (cp_read_file(file, bin, CP_FILE_MAX, &len) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to read %s: %s", file, strerror(errno));
		rc = CAS_EXIT_SYSTEM;
		goto out;
	}
	if (cp_bin_check(&conf, bin, len, &info, why, sizeof why) < 0) {
		cas_log(CAS_LOG_FATAL, "%s: %s", file, why);
		rc = CAS_EXIT_FAILED;
		goto out;
	}
	if ((rc = cp_reader_start(&r, &ro, &conf)) != 0)
		goto out;
	cp_progress(&r, 5, "a card answers on %s; writing card %u", r.port, info.serial);
	if ((rc = cp_card_status(&r, &st)) != 0)
		goto out;
	if (st.life == CAS_CARD_LOCKED) {
		cp_progress_end(&r);
		cas_log(CAS_LOG_FATAL, "the card in the reader is card %u, already issued and locked%s: casprog write refuses it",
			st.serial, st.flags & CAS_CARD_ST_PROTECT ? " (protected)" : "");
		rc = CAS_EXIT_FAILED;
		goto out;
	}
	if (st.life == CAS_CARD_OPEN)
		cas_log(CAS_LOG_WARN, "the card holds an unfinished personalisation (card %u, not locked): overwriting it",
			st.serial);

	for (unsigned off = 0; off < CAS_CARD_BIN_LEN; off += CHUNK) {
		unsigned n = CAS_CARD_BIN_LEN - off < CHUNK ? CAS_CARD_BIN_LEN - off : CHUNK;
		snprintf(what, sizeof what, "writing bytes %u..%u of card %u", off, off + n - 1, info.serial);
		if ((rc = cp_card_send(&r, CAS_CARD_INS_WRITE, (uint8_t)off, bin + off, (uint8_t)n, &sw, what)) != 0) {
			rc = not_issued(info.serial, rc);
			goto out;
		}
		if (sw != 0x9000) {
			cp_progress_end(&r);
			cas_log(CAS_LOG_FATAL, "%s: the card refused them (SW %04X%s)", what, sw,
				sw == 0x6A80 ? ": invalid personalisation" : sw == 0x6982 ? ": protected" : "");
			rc = not_issued(info.serial, CAS_EXIT_FAILED);
			goto out;
		}
		cp_progress(&r, 10 + (int)(off + n) * 60 / CAS_CARD_BIN_LEN, "card %u: %u of %u bytes written",
			    info.serial, off + n, CAS_CARD_BIN_LEN);
	}
	if ((rc = cp_card_status(&r, &st)) != 0) {
		rc = not_issued(info.serial, rc);
		goto out;
	}
	if (st.life != CAS_CARD_OPEN || st.nwritten != CAS_CARD_BIN_LEN || st.serial != info.serial) {
		cp_progress_end(&r);
		cas_log(CAS_LOG_FATAL, "card %u: after writing, the card says %s, %d bytes written, serial %u",
			info.serial, cp_life_name(st.life), st.nwritten, st.serial);
		rc = not_issued(info.serial, CAS_EXIT_FAILED);
		goto out;
	}

	/* verify: the keys are still readable before LOCK */
	cp_progress(&r, 75, "card %u: reading back", info.serial);
	snprintf(what, sizeof what, "reading back card %u", info.serial);
	if ((rc = cp_card_recv(&r, CAS_CARD_INS_READ, 0, CAS_CARD_BIN_LEN, back, &sw, what)) != 0) {
		rc = not_issued(info.serial, rc);
		goto out;
	}
	if (sw != 0x9000) {
		cp_progress_end(&r);
		cas_log(CAS_LOG_FATAL, "%s: the card refused (SW %04X)", what, sw);
		rc = not_issued(info.serial, CAS_EXIT_FAILED);
		goto out;
	}
	if (sodium_memcmp(back, bin, CAS_CARD_BIN_LEN) != 0) {
		unsigned first = 0;
		while (first < CAS_CARD_BIN_LEN && back[first] == bin[first])
			first++;
		cp_progress_end(&r);
		cas_log(CAS_LOG_FATAL, "verify mismatch: card %u gave back other bytes than written (first at byte %u of %u)",
			info.serial, first, CAS_CARD_BIN_LEN);
		erase_after_mismatch(&r, info.serial);
		rc = not_issued(info.serial, CAS_EXIT_FAILED);
		goto out;
	}

	cp_progress(&r, 90, "card %u: verified, locking", info.serial);
	snprintf(what, sizeof what, "locking card %u", info.serial);
	if ((rc = cp_card_send(&r, CAS_CARD_INS_LOCK, 0, NULL, 0, &sw, what)) != 0) {
		rc = not_issued(info.serial, rc);
		goto out;
	}
	if (sw != 0x9000) {
		cp_progress_end(&r);
		cas_log(CAS_LOG_FATAL, "%s: the card refused (SW %04X)", what, sw);
		rc = not_issued(info.serial, CAS_EXIT_FAILED);
		goto out;
	}
	if ((rc = cp_card_status(&r, &st)) != 0) {
		rc = not_issued(info.serial, rc);
		goto out;
	}
	if (st.life != CAS_CARD_LOCKED || st.serial != info.serial) {
		cp_progress_end(&r);
		cas_log(CAS_LOG_FATAL, "card %u: after LOCK, the card says %s, serial %u", info.serial,
			cp_life_name(st.life), st.serial);
		rc = not_issued(info.serial, CAS_EXIT_FAILED);
		goto out;
	}
	cas_log(CAS_LOG_DEBUG, "card %u: %lu characters on the line, %.0f ms at 9600 baud", info.serial,
		r.h.tx_chars + r.h.rx_chars, cas_t0_line_ms(r.h.tx_chars + r.h.rx_chars));
	cp_progress(&r, 100, "card %u: written, verified and locked", info.serial);
	cp_progress_end(&r);
	printf("%u written, verified and locked\n", info.serial);
	if (fflush(stdout) != 0) {
		cas_log(CAS_LOG_FATAL, "unable to write to stdout: %s", strerror(errno));
		rc = CAS_EXIT_SYSTEM;
		goto out;
	}
	rc = CAS_EXIT_OK;
out:
	sodium_memzero(bin, sizeof bin);
	sodium_memzero(back, sizeof back);
	cp_reader_close(&r);
	cas_conf_free(&conf);
	return rc;
}

int cp_erase(struct cp_ctx *ctx)
{
	struct cp_reader_opts ro;
	struct cp_reader r;
	struct cas_conf conf;
	struct cp_status st;
	uint16_t sw;
	int rc;
	if (cp_reader_args(ctx, &ro, "erase", NULL, NULL, &rc) < 0)
		return rc;
	if (cp_load_conf(ctx, &conf, &rc) < 0)
		return rc;
	if ((rc = cp_reader_start(&r, &ro, &conf)) != 0)
		goto out;
	if ((rc = cp_card_status(&r, &st)) != 0)
		goto out;
	if (st.life == CAS_CARD_BLANK) {
		printf("the card is blank already\n");
		rc = CAS_EXIT_OK;
		goto out;
	}
	uint32_t serial = st.serial;
	if (st.life == CAS_CARD_LOCKED && (st.flags & CAS_CARD_ST_PROTECT)) {
		cas_log(CAS_LOG_FATAL, "card %u is protected: erase refused (switch its protection off from the head-end, card type 2, and let its EMM reach the card first)",
			serial);
		rc = CAS_EXIT_FAILED;
		goto out;
	}
	if ((rc = cp_card_send(&r, CAS_CARD_INS_ERASE, 0, NULL, 0, &sw, "erasing the card")) != 0)
		goto out;
	if (sw != 0x9000) {
		cas_log(CAS_LOG_FATAL, "card %u refused to be erased (SW %04X%s)", serial, sw,
			sw == 0x6982 ? ": protected" : "");
		rc = CAS_EXIT_FAILED;
		goto out;
	}
	if ((rc = cp_card_status(&r, &st)) != 0)
		goto out;
	if (st.life != CAS_CARD_BLANK) {
		cas_log(CAS_LOG_FATAL, "card %u: after ERASE the card says %s", serial, cp_life_name(st.life));
		rc = CAS_EXIT_FAILED;
		goto out;
	}
	printf("%u erased: the card is blank\n", serial);
	rc = fflush(stdout) == 0 ? CAS_EXIT_OK : CAS_EXIT_SYSTEM;
out:
	cp_reader_close(&r);
	cas_conf_free(&conf);
	return rc;
}
