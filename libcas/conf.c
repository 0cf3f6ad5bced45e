#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"

static int key_index(const char *name)
{
	for (unsigned i = 0; i < cas_conf_key_count; i++)
		if (strcmp(cas_conf_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct cas_conf_value *lookup(const struct cas_conf *c, const char *name)
{
	int i = key_index(name);
	if (i < 0 || c->values == NULL) {
		cas_log(CAS_LOG_ERROR, "internal: configuration key %s is not in the table", name);
		return NULL;
	}
	return &c->values[i];
}

static int fail(struct cas_conf *c, int line, const char *fmt, const char *a, const char *b)
{
	char reason[400];
	snprintf(reason, sizeof reason, fmt, a, b);
	if (line > 0)
		snprintf(c->err, sizeof c->err, "%s:%d: %s", c->path ? c->path : "(config)", line, reason);
	else
		snprintf(c->err, sizeof c->err, "%s", reason);
	return -1;
}

/* Strict integer: optional sign, decimal or 0x hex, nothing after it. */
static int parse_int(const char *s, long long *out)
{
	if (*s == '\0' || (*s == '+' && s[1] == '\0'))
		return -1;
	errno = 0;
	char *end;
	int neg = *s == '-';
	const char *digits = (*s == '-' || *s == '+') ? s + 1 : s;
	if (!((*digits >= '0' && *digits <= '9')))
		return -1;
	long long v;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		if (digits[2] == '\0')
			return -1;
		unsigned long long u = strtoull(digits + 2, &end, 16);
		if (errno != 0 || *end != '\0' || cas_hex_digit((unsigned char)digits[2]) < 0 || u > (unsigned long long)1 << 62)
			return -1;
		v = (long long)u;
	} else {
		unsigned long long u = strtoull(digits, &end, 10);
		if (errno != 0 || *end != '\0' || u > (unsigned long long)1 << 62)
			return -1;
		v = (long long)u;
	}
	*out = neg ? -v : v;
	return 0;
}

static int parse_bool(const char *s, long long *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int cas_hostport_parse(const char *s, char *host, size_t hostsize, uint16_t *port)
{
	const char *colon;
	const char *h = s;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return -1;	/* a bare IPv6 address needs brackets */
	}
	long long p;
	if (parse_int(colon + 1, &p) < 0 || p < 1 || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return -1;
	if (hlen == 0) {
		h = "0.0.0.0";
		hlen = 7;
	}
	if (hlen >= hostsize)
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if (h[i] == ' ' || h[i] == '\t' || h[i] == '/' || h[i] == '[' || h[i] == ']')
			return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int enum_index(const char *choices, const char *s)
{
	int idx = 0;
	size_t n = strlen(s);
	for (const char *p = choices; *p != '\0'; idx++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, s, n) == 0)
			return idx;
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	return -1;
}

int cas_conf_set(struct cas_conf *c, const char *name, const char *value, int line)
{
	int i = key_index(name);
	if (i < 0)
		return fail(c, line, "unknown key '%s'%s", name, "");
	const struct cas_conf_key *k = &cas_conf_keys[i];
	struct cas_conf_value v = { NULL, 0, { 0 }, line };
	char hostbuf[256];
	uint16_t port;

	switch (k->type) {
	case CAS_CONF_STR:
		if ((long long)strlen(value) < k->min || (long long)strlen(value) > k->max)
			return fail(c, line, "%s: length out of range (%s)", name,
				    k->min > 0 ? "must not be empty or too long" : "too long");
		break;
	case CAS_CONF_PATH:
		if (*value == '\0' || (long long)strlen(value) > k->max)
			return fail(c, line, "%s: %s", name, *value ? "path too long" : "empty path");
		break;
	case CAS_CONF_INT: {
		if (parse_int(value, &v.num) < 0)
			return fail(c, line, "%s: '%s' is not an integer", name, value);
		if (v.num < k->min || v.num > k->max) {
			char range[80];
			snprintf(range, sizeof range, "%lld..%lld", k->min, k->max);
			return fail(c, line, "%s: value out of range %s", name, range);
		}
		break;
	}
	case CAS_CONF_BOOL:
		if (parse_bool(value, &v.num) < 0)
			return fail(c, line, "%s: '%s' is not yes or no", name, value);
		break;
	case CAS_CONF_HOSTPORT:
		if (cas_hostport_parse(value, hostbuf, sizeof hostbuf, &port) < 0)
			return fail(c, line, "%s: '%s' is not host:port", name, value);
		v.num = port;
		break;
	case CAS_CONF_HEX:
		if (cas_hex_decode(value, strlen(value), v.bytes, (size_t)k->max) < 0) {
			char what[80];
			snprintf(what, sizeof what, "exactly %lld hex digits", 2 * k->max);
			return fail(c, line, "%s: must be %s", name, what);
		}
		break;
	case CAS_CONF_ENUM:
		v.num = enum_index(k->choices, value);
		if (v.num < 0)
			return fail(c, line, "%s: must be one of %s", name, k->choices);
		break;
	}
	v.text = strdup(value);
	if (v.text == NULL)
		return fail(c, line, "%s: %s", name, strerror(errno));
	free(c->values[i].text);
	c->values[i] = v;
	return 0;
}

int cas_conf_init(struct cas_conf *c)
{
	memset(c, 0, sizeof *c);
	c->values = calloc(cas_conf_key_count, sizeof *c->values);
	if (c->values == NULL)
		return fail(c, 0, "out of memory%s%s", "", "");
	for (unsigned i = 0; i < cas_conf_key_count; i++) {
		if (cas_conf_keys[i].def == NULL)
			continue;
		if (cas_conf_set(c, cas_conf_keys[i].name, cas_conf_keys[i].def, 0) < 0)
			return -1;	/* a bad default is a bug; the message names it */
	}
	return 0;
}

/* Splits one line into key and value.  Returns 0 for a blank/comment line,
 * 1 with key/value set, -1 on a syntax error (reason in *why). */
static int split_line(char *s, char **key, char **value, const char **why)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (eq == NULL) {
		*why = "expected key = value";
		return -1;
	}
	char *kend = eq;
	while (kend > s && (kend[-1] == ' ' || kend[-1] == '\t'))
		kend--;
	*kend = '\0';
	*key = s;
	if (**key == '\0') {
		*why = "missing key before '='";
		return -1;
	}
	for (char *p = *key; *p; p++)
		if (*p == ' ' || *p == '\t') {
			*why = "white space inside a key";
			return -1;
		}
	char *v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '"') {
		char *out = v, *in = v + 1;
		while (*in != '"') {
			if (*in == '\0') {
				*why = "unterminated quoted value";
				return -1;
			}
			if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
				in++;
			*out++ = *in++;
		}
		in++;
		while (*in == ' ' || *in == '\t')
			in++;
		if (*in != '\0' && *in != '#') {
			*why = "text after a quoted value";
			return -1;
		}
		*out = '\0';
		*value = v;
		return 1;
	}
	char *end = v;
	for (char *p = v; *p; p++) {
		if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t'))
			break;
		end = p + 1;
	}
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	*value = v;
	return 1;
}

int cas_conf_parse(struct cas_conf *c, const char *text, size_t len)
{
	int lineno = 0;
	unsigned char *seen = calloc(cas_conf_key_count, 1);
	char *line = malloc(CAS_CONF_MAX_LINE + 1);
	int rc = 0;
	if (seen == NULL || line == NULL) {
		rc = fail(c, 0, "out of memory%s%s", "", "");
		goto done;
	}
	size_t pos = 0;
	while (pos < len) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		if (n > CAS_CONF_MAX_LINE) {
			rc = fail(c, lineno, "line too long%s%s", "", "");
			goto done;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL);
		if (memchr(line, '\0', n) != NULL) {
			rc = fail(c, lineno, "NUL byte in line%s%s", "", "");
			goto done;
		}
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		char *key, *value;
		const char *why = NULL;
		int r = split_line(line, &key, &value, &why);
		if (r < 0) {
			rc = fail(c, lineno, "%s%s", why, "");
			goto done;
		}
		if (r == 0)
			continue;
		int i = key_index(key);
		if (i >= 0 && seen[i]) {
			char first[16];
			snprintf(first, sizeof first, "%d", c->values[i].line);
			rc = fail(c, lineno, "%s: set twice (first on line %s)", key, first);
			goto done;
		}
		if (cas_conf_set(c, key, value, lineno) < 0) {
			rc = -1;
			goto done;
		}
		seen[i] = 1;
	}
done:
	free(line);
	free(seen);
	return rc;
}

int cas_conf_load(struct cas_conf *c, const char *path)
{
	if (cas_conf_init(c) < 0)
		return -1;
	c->path = strdup(path);
	if (c->path == NULL)
		return fail(c, 0, "out of memory%s%s", "", "");
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fail(c, 0, "unable to open %s: %s", path, strerror(errno));
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (len == cap) {
			if (cap >= CAS_CONF_MAX_FILE) {
				rc = fail(c, 0, "%s: file too large%s", path, "");
				goto done;
			}
			cap = cap ? cap * 2 : 8192;
			char *grown = realloc(text, cap);
			if (grown == NULL) {
				rc = fail(c, 0, "out of memory%s%s", "", "");
				goto done;
			}
			text = grown;
		}
		size_t got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = fail(c, 0, "unable to read %s: %s", path, strerror(errno));
		goto done;
	}
	rc = cas_conf_parse(c, text, len);
done:
	free(text);
	fclose(f);
	return rc;
}

void cas_conf_free(struct cas_conf *c)
{
	if (c->values != NULL)
		for (unsigned i = 0; i < cas_conf_key_count; i++)
			free(c->values[i].text);
	free(c->values);
	free(c->path);
	c->values = NULL;
	c->path = NULL;
}

const char *cas_conf_default_path(const char *opt_f)
{
	if (opt_f != NULL)
		return opt_f;
	const char *env = getenv("CAS_CONF");
	if (env != NULL && *env != '\0')
		return env;
	if (access("./cas.conf", F_OK) == 0)
		return "./cas.conf";
	return "/etc/freecas/cas.conf";
}

int cas_conf_is_set(const struct cas_conf *c, const char *name)
{
	const struct cas_conf_value *v = lookup(c, name);
	return v != NULL && v->text != NULL;
}

const char *cas_conf_str(const struct cas_conf *c, const char *name)
{
	const struct cas_conf_value *v = lookup(c, name);
	return v != NULL && v->text != NULL ? v->text : "";
}

long long cas_conf_int(const struct cas_conf *c, const char *name)
{
	const struct cas_conf_value *v = lookup(c, name);
	return v != NULL ? v->num : 0;
}

int cas_conf_bool(const struct cas_conf *c, const char *name)
{
	return cas_conf_int(c, name) != 0;
}

const uint8_t *cas_conf_bytes(const struct cas_conf *c, const char *name)
{
	const struct cas_conf_value *v = lookup(c, name);
	return v != NULL && v->text != NULL ? v->bytes : NULL;
}

int cas_conf_hostport(const struct cas_conf *c, const char *name,
		      char *host, size_t hostsize, uint16_t *port)
{
	const struct cas_conf_value *v = lookup(c, name);
	if (v == NULL || v->text == NULL)
		return -1;
	return cas_hostport_parse(v->text, host, hostsize, port);
}

void cas_conf_format(const struct cas_conf *c, unsigned i, char *out, size_t size)
{
	if (i >= cas_conf_key_count) {
		snprintf(out, size, "%s", "");
		return;
	}
	const struct cas_conf_key *k = &cas_conf_keys[i];
	const char *text = c->values[i].text;
	if (text == NULL)
		snprintf(out, size, "# %s is not set", k->name);
	else if (k->flags & CAS_CONF_SECRET)
		snprintf(out, size, "%s = (secret, %zu characters)", k->name, strlen(text));
	else if (k->type == CAS_CONF_STR && (*text == '\0' || strchr(text, '#') || text[0] == ' ' || text[strlen(text) - 1] == ' '))
		snprintf(out, size, "%s = \"%s\"", k->name, text);
	else
		snprintf(out, size, "%s = %s", k->name, text);
}
