/* PHP-compatible JSON output (see json.h). */
#include "json.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char hexd[] = "0123456789abcdef";

static void put_u(struct cas_wbuf *w, unsigned v)
{
	char e[6] = { '\\', 'u', hexd[(v >> 12) & 15], hexd[(v >> 8) & 15], hexd[(v >> 4) & 15],
		      hexd[v & 15] };
	cas_wbuf_put_bytes(w, e, sizeof e);
}

void cas_json_put_string(struct cas_wbuf *w, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;
	cas_wbuf_put_u8(w, '"');
	while (i < n) {
		/* A run of bytes that go out as they are. */
		size_t j = i;
		while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\' && p[j] != '/')
			j++;
		if (j > i) {
			cas_wbuf_put_bytes(w, p + i, j - i);
			i = j;
			if (i == n)
				break;
		}
		uint8_t c = p[i];
		if (c < 0x80) {
			const char *e = NULL;
			switch (c) {
			case '"': e = "\\\""; break;
			case '\\': e = "\\\\"; break;
			case '/': e = "\\/"; break;
			case '\b': e = "\\b"; break;
			case '\f': e = "\\f"; break;
			case '\n': e = "\\n"; break;
			case '\r': e = "\\r"; break;
			case '\t': e = "\\t"; break;
			default: break;
			}
			if (e != NULL)
				cas_wbuf_put_bytes(w, e, 2);
			else
				put_u(w, c);
			i++;
			continue;
		}
		uint32_t cp;
		int r = cas_utf8_decode(p + i, n - i, &cp);
		i += (size_t)(r < 0 ? -r : r);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			put_u(w, 0xD800u | (cp >> 10));
			put_u(w, 0xDC00u | (cp & 0x3FFu));
		} else {
			put_u(w, cp);
		}
	}
	cas_wbuf_put_u8(w, '"');
}

static void put_lit(struct cas_wbuf *w, const char *s)
{
	cas_wbuf_put_bytes(w, s, strlen(s));
}

/* A value that needs no escaping (digits, hex). */
static void put_plain(struct cas_wbuf *w, const char *key, const char *val)
{
	put_lit(w, key);
	cas_wbuf_put_u8(w, '"');
	put_lit(w, val);
	cas_wbuf_put_u8(w, '"');
}

void cas_json_card(struct cas_wbuf *w, const struct cas_card *c)
{
	char v[24];
	snprintf(v, sizeof v, "%lu", (unsigned long)c->serial_no);
	put_plain(w, "{\"serial_no\":", v);
	put_lit(w, ",\"name\":");
	cas_json_put_string(w, c->name, strnlen(c->name, sizeof c->name));
	put_lit(w, ",\"info\":");
	cas_json_put_string(w, c->info, strnlen(c->info, sizeof c->info));
	snprintf(v, sizeof v, "%08lX", (unsigned long)c->access_criteria);
	put_plain(w, ",\"access_criteria\":", v);
	snprintf(v, sizeof v, "%d", c->pair);
	put_plain(w, ",\"pair\":", v);
	snprintf(v, sizeof v, "%lld", (long long)c->start);
	put_plain(w, ",\"start\":", v);
	snprintf(v, sizeof v, "%lld", (long long)c->finish);
	put_plain(w, ",\"finish\":", v);
	cas_wbuf_put_u8(w, '}');
}
