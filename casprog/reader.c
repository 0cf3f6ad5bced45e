/* casprog: the card reader (reader.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "card.h"
#include "hex.h"
#include "log.h"
#include "reader.h"

static const char *const reset_names[] = { "flush", "rts", "dtr" };

void cp_reader_opts_init(struct cp_reader_opts *o)
{
	memset(o, 0, sizeof *o);
	o->reset = -1;
	o->invert = -1;
}

int cp_reader_opt(struct cp_reader_opts *o, int code, const char *arg)
{
	uint64_t v;
	switch (code) {
	case CP_OPT_PORT:
		if (*arg == '\0')
			return cp_usage("--port needs a device");
		o->port = arg;
		return 1;
	case CP_OPT_RESET:
		for (int i = 0; i < 3; i++)
			if (strcmp(arg, reset_names[i]) == 0) {
				o->reset = i;
				return 1;
			}
		return cp_usage("--reset wants rts, dtr or flush, not '%s'", arg);
	case CP_OPT_INVERT:
		o->invert = 1;
		return 1;
	case CP_OPT_NO_ECHO:
		o->no_echo = 1;
		return 1;
	case CP_OPT_TIMEOUT:
		if (cp_parse_uint(arg, 10, 60000, &v) < 0)
			return cp_usage("--timeout wants milliseconds 10..60000, not '%s'", arg);
		o->timeout_ms = (long)v;
		return 1;
	default:
		return 0;
	}
}

int cp_reader_args(struct cp_ctx *ctx, struct cp_reader_opts *ro, const char *name,
		   const char **file, int *json, int *code)
{
	static const struct option opts[] = {
		CP_READER_LONGOPTS,
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc, want_file = file != NULL;
	*code = CAS_EXIT_USAGE;
	if (json != NULL)
		*json = 0;
	cp_reader_opts_init(ro);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(ctx->argc, ctx->argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(ctx->cli->usage, stdout);
			*code = CAS_EXIT_OK;
			return -1;
		}
		if (c == 'j' && json != NULL) {
			*json = 1;
			continue;
		}
		if (c == ':') {
			cp_usage("%s needs a value (casprog %s)", ctx->argv[optind - 1], name);
			return -1;
		}
		if (c == '?') {
			cp_usage("unknown option '%s' for casprog %s", ctx->argv[optind - 1], name);
			return -1;
		}
		rc = cp_reader_opt(ro, c, optarg);
		if (rc != 1) {
			if (rc == 0)
				cp_usage("unknown option '%s' for casprog %s", ctx->argv[optind - 1], name);
			return -1;
		}
	}
	int left = ctx->argc - optind;
	if (want_file && left != 1) {
		if (left == 0)
			cp_usage("casprog %s needs a personalisation FILE", name);
		else
			cp_usage("unexpected argument '%s' for casprog %s", ctx->argv[optind + 1], name);
		return -1;
	}
	if (!want_file && left != 0) {
		cp_usage("unexpected argument '%s' for casprog %s", ctx->argv[optind], name);
		return -1;
	}
	if (want_file)
		*file = ctx->argv[optind];
	return 0;
}

const char *cp_life_name(int life)
{
	switch (life) {
	case CAS_CARD_BLANK:
		return "blank";
	case CAS_CARD_OPEN:
		return "personalised, not locked";
	case CAS_CARD_LOCKED:
		return "locked";
	default:
		return "unknown";
	}
}

/* t0host reports system trouble as "unable to ...": everything else is the
 * card or the line (timeouts, echo, procedure bytes). */
static int is_system_error(const struct cas_t0host *h)
{
	return strncmp(cas_t0host_error(h), "unable to", 9) == 0;
}

int cp_reader_fail(struct cp_reader *r, const char *what)
{
	cp_progress_end(r);
	cas_log(CAS_LOG_FATAL, "%s: %s", what, cas_t0host_error(&r->h));
	return is_system_error(&r->h) ? CAS_EXIT_SYSTEM : CAS_EXIT_FAILED;
}

void cp_reader_close(struct cp_reader *r)
{
	cp_progress_end(r);
	cas_t0host_close(&r->h);
}

int cp_reader_start(struct cp_reader *r, const struct cp_reader_opts *o, const struct cas_conf *conf)
{
	struct cas_t0host_opts to;
	char atr[3 * 33 + 1], want[3 * CAS_CARD_ATR_LEN + 1];

	memset(r, 0, sizeof *r);
	r->h.fd = -1;
	r->tty = isatty(STDERR_FILENO);
	r->port = o->port != NULL ? o->port : cas_conf_str(conf, "card.port");
	cas_t0host_default_opts(&to);
	int reset = o->reset >= 0 ? o->reset : (int)cas_conf_int(conf, "card.reset");
	/* card.reset is the enum "rts|dtr|flush" */
	if (o->reset < 0)
		reset = reset == 0 ? CAS_T0_RESET_RTS : reset == 1 ? CAS_T0_RESET_DTR : CAS_T0_RESET_FLUSH;
	to.reset = (enum cas_t0_reset)reset;
	to.reset_invert = o->invert >= 0 ? o->invert : cas_conf_bool(conf, "card.reset_invert");
	to.echo = !o->no_echo;
	to.byte_timeout_ms = (int)(o->timeout_ms > 0 ? o->timeout_ms : cas_conf_int(conf, "card.timeout"));
	to.atr_timeout_ms = to.byte_timeout_ms;

	if (cas_t0host_open(&r->h, r->port, &to) < 0) {
		cas_log(CAS_LOG_FATAL, "%s%s", cas_t0host_error(&r->h),
			strstr(cas_t0host_error(&r->h), strerror(ENOENT)) != NULL ? " (is the reader plugged in?)" : "");
		return CAS_EXIT_SYSTEM;
	}
	if (cas_t0host_reset(&r->h) < 0) {
		const char *e = cas_t0host_error(&r->h);
		if (strncmp(e, "unable to read the modem lines", 30) == 0 ||
		    strncmp(e, "unable to set the reset line", 28) == 0) {
			cas_log(CAS_LOG_FATAL, "%s: %s (%s has no modem lines: a pseudo-terminal needs --reset flush)",
				r->port, e, r->port);
			return CAS_EXIT_SYSTEM;
		}
		if (is_system_error(&r->h)) {
			cas_log(CAS_LOG_FATAL, "%s: %s", r->port, e);
			return CAS_EXIT_SYSTEM;
		}
		if (strncmp(e, "timeout waiting for the ATR (0 of", 33) == 0)
			cas_log(CAS_LOG_FATAL, "no card in the reader on %s: no answer to reset (reset by %s%s)",
				r->port, reset_names[reset], to.reset_invert ? ", inverted" : "");
		else
			cas_log(CAS_LOG_FATAL, "no valid answer to reset on %s: %s", r->port, e);
		return CAS_EXIT_FAILED;
	}
	if (r->h.atr_len != CAS_CARD_ATR_LEN || memcmp(r->h.atr, cas_card_atr, CAS_CARD_ATR_LEN) != 0) {
		for (size_t i = 0; i < r->h.atr_len; i++)
			snprintf(atr + 3 * i, 4, "%02X ", r->h.atr[i]);
		atr[r->h.atr_len > 0 ? 3 * r->h.atr_len - 1 : 0] = '\0';
		for (size_t i = 0; i < CAS_CARD_ATR_LEN; i++)
			snprintf(want + 3 * i, 4, "%02X ", cas_card_atr[i]);
		want[3 * CAS_CARD_ATR_LEN - 1] = '\0';
		cas_log(CAS_LOG_FATAL, "wrong ATR %s on %s: not a FreeCAS / TVCAS 3 card (expected %s)", atr,
			r->port, want);
		return CAS_EXIT_FAILED;
	}
	return 0;
}

int cp_card_send(struct cp_reader *r, uint8_t ins, uint8_t p2, const uint8_t *data, uint8_t lc,
		 uint16_t *sw, const char *what)
{
	uint8_t hdr[5] = { CAS_CARD_CLA, ins, 0x00, p2, lc };
	if (cas_t0host_send(&r->h, hdr, data, sw) < 0)
		return cp_reader_fail(r, what);
	return 0;
}

int cp_card_recv(struct cp_reader *r, uint8_t ins, uint8_t p2, uint8_t le, uint8_t *out,
		 uint16_t *sw, const char *what)
{
	uint8_t hdr[5] = { CAS_CARD_CLA, ins, 0x00, p2, le };
	size_t n;
	if (cas_t0host_recv(&r->h, hdr, out, le, &n, sw) < 0)
		return cp_reader_fail(r, what);
	if (*sw == 0x9000 && n != le) {
		cp_progress_end(r);
		cas_log(CAS_LOG_FATAL, "%s: the card sent %zu bytes, %u expected", what, n, le);
		return CAS_EXIT_FAILED;
	}
	return 0;
}

int cp_card_conax(struct cp_reader *r, uint8_t ins, const uint8_t *data, size_t len,
		  uint8_t *resp, size_t cap, size_t *resp_len, uint16_t *sw, const char *what)
{
	if (cas_t0host_conax(&r->h, ins, data, len, resp, cap, resp_len, sw) < 0)
		return cp_reader_fail(r, what);
	return 0;
}

/* DD D8; quiet: report nothing (the caller copes with a card that does
 * not know the command). */
static int status(struct cp_reader *r, struct cp_status *st, int quiet)
{
	uint8_t s[CAS_CARD_STATUS_LEN];
	uint8_t hdr[5] = { CAS_CARD_CLA, CAS_CARD_INS_STATUS, 0, 0, CAS_CARD_STATUS_LEN };
	uint16_t sw;
	size_t n;
	if (cas_t0host_recv(&r->h, hdr, s, sizeof s, &n, &sw) < 0)
		return quiet ? CAS_EXIT_FAILED : cp_reader_fail(r, "reading the card status");
	if (sw != 0x9000 || n != CAS_CARD_STATUS_LEN || s[0] != CAS_CARD_STATUS_VERSION ||
	    s[1] > CAS_CARD_LOCKED) {
		if (quiet)
			return CAS_EXIT_FAILED;
		cp_progress_end(r);
		if (sw != 0x9000)
			cas_log(CAS_LOG_FATAL, "the card refuses the FreeCAS status command (SW %04X): not a FreeCAS card, or another firmware",
				sw);
		else
			cas_log(CAS_LOG_FATAL, "the card's status record (version %u, life %u) is unknown to this casprog",
				s[0], s[1]);
		return CAS_EXIT_FAILED;
	}
	st->life = s[1];
	st->flags = s[2];
	st->nwritten = s[3];
	st->serial = cas_be32(s + 4);
	return 0;
}

int cp_card_status(struct cp_reader *r, struct cp_status *st)
{
	return status(r, st, 0);
}

int cp_card_status_probe(struct cp_reader *r, struct cp_status *st)
{
	return status(r, st, 1);
}

void cp_progress(struct cp_reader *r, int percent, const char *fmt, ...)
{
	char text[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	if (!r->tty) {
		cas_log(CAS_LOG_INFO, "%s", text);
		return;
	}
	char bar[31];
	int fill = percent * 30 / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(30 - fill));
	bar[30] = '\0';
	/* \033[K clears what a longer earlier text left on the line */
	fprintf(stderr, "\r[%s] %3d%% %s\033[K", bar, percent, text);
	fflush(stderr);
	r->bar_shown = 1;
}

void cp_progress_end(struct cp_reader *r)
{
	if (r->bar_shown) {
		fputc('\n', stderr);
		fflush(stderr);
		r->bar_shown = 0;
	}
}
