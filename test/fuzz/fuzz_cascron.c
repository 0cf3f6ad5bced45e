/* Fuzz target: cascron's readers of outside text.  The input is split at
 * '\n' and each line is fed to the HTTP header callback (status lines,
 * ETag, Last-Modified from a billing server), to the source classifier and
 * the URL redaction (billing.url, the import argument), to the parser of
 * the saved download state (the settings table) and to the backup-name
 * parser (file names in backup.dir).  Checks: nothing overflows, saved
 * state survives a format/parse round trip, the redacted URL never keeps a
 * query string or a password, an accepted backup name is exactly the name
 * cascron would give that time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../cascron/backup.c"
#include "../../cascron/fetch.c"

/* A check that stays in every build (assert() goes with NDEBUG, which
 * `make bench` sets, and some of these calls do the work checked). */
#define must(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *line, size_t n, struct hdr *h)
{
	char copy[4096], out[8300], text[2048];
	enum fetch_kind kind;
	struct fetch_state a, b;
	int64_t t;
	/* curl hands the callback each header line with its CRLF */
	on_header((char *)(uintptr_t)line, 1, n, h);
	must(strlen(h->st->etag) < sizeof h->st->etag);
	must(strchr(h->st->etag, '\n') == NULL && strchr(h->st->last_modified, '\n') == NULL);
	if (n >= sizeof copy)
		return;
	memcpy(copy, line, n);
	copy[n] = '\0';
	copy[strcspn(copy, "\r\n")] = '\0';
	(void)fetch_kind(copy, &kind, text, sizeof text);
	fetch_redact(copy, out, sizeof out);
	const char *scheme = strstr(copy, "://");
	if (scheme) {
		const char *q = strchr(scheme + 3, '?'), *hash = strchr(scheme + 3, '#');
		if (q && (hash == NULL || q < hash) && strlen(out) < sizeof out - 1) {
			size_t lo = strlen(out);
			must(lo >= 4 && strcmp(out + lo - 4, "?***") == 0);
		}
	}
	/* a state written by cascron reads back the same */
	fetch_state_parse(copy, &a);
	fetch_state_format(&a, "x", text, sizeof text);
	fetch_state_parse(text, &b);
	must(strcmp(a.etag, b.etag) == 0 && strcmp(a.last_modified, b.last_modified) == 0);
	must(strcmp(a.hash, b.hash) == 0 && a.imported == b.imported);
	if (backup_name(copy, "cas", 0, &t)) {
		char name[BACKUP_NAME_SIZE];
		must(backup_make_name("var/cas.db", t, name) == 0);
		must(strcmp(name, copy) == 0);
	}
	(void)backup_name(copy, "cas", 1, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fetch_state st;
	struct hdr h = { &st, "" };
	memset(&st, 0, sizeof st);
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		one_line(p, n, &h);
		p += n;
	}
	return 0;
}
