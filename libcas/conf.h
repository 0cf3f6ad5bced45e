#ifndef CAS_CONF_H
#define CAS_CONF_H
/*
 * The configuration: one `key = value` file shared by every program, with
 * `#` comments.  The keys are one table (conf_keys.c: name, type, bounds,
 * default, one-line help), after Redis.  Unknown keys, malformed values and
 * out-of-range numbers are errors reported as "file:line: reason".
 *
 * Values: a `#` at the start of a line or after white space starts a
 * comment; a value may be written in double quotes to keep a ` #` or
 * leading/trailing spaces ("..." with \" and \\ escapes).
 */
#include <stddef.h>
#include <stdint.h>

enum cas_conf_type {
	CAS_CONF_STR,		/* text; min/max bound its length */
	CAS_CONF_PATH,		/* file or folder path */
	CAS_CONF_INT,		/* integer in [min, max]; decimal or 0x hex */
	CAS_CONF_BOOL,		/* yes/no, true/false, on/off, 1/0 */
	CAS_CONF_HOSTPORT,	/* host:port or [v6addr]:port */
	CAS_CONF_HEX,		/* exactly max bytes written as 2*max hex digits */
	CAS_CONF_ENUM,		/* one of the '|'-separated choices */
};

#define CAS_CONF_SECRET   1u	/* masked by -n */
#define CAS_CONF_OPTIONAL 2u	/* may be left unset (no default) */

struct cas_conf_key {
	const char *name;
	enum cas_conf_type type;
	long long min, max;
	const char *def;	/* default text; NULL = unset */
	unsigned flags;
	const char *choices;	/* CAS_CONF_ENUM: "a|b|c" */
	const char *help;
};

extern const struct cas_conf_key cas_conf_keys[];
extern const unsigned cas_conf_key_count;

struct cas_conf_value {
	char *text;		/* NULL when unset */
	long long num;		/* INT, BOOL, HOSTPORT port, ENUM index */
	uint8_t bytes[32];	/* HEX */
	int line;		/* line in the file, 0 = default */
};

struct cas_conf {
	char *path;		/* the file loaded, or NULL for defaults only */
	struct cas_conf_value *values;	/* cas_conf_key_count entries */
	char err[512];		/* "file:line: reason" after a failure */
};

/* Defaults only. */
int cas_conf_init(struct cas_conf *c);
/* Defaults, then the file.  -1 with c->err set on the first error. */
int cas_conf_load(struct cas_conf *c, const char *path);
#define CAS_CONF_MAX_LINE 8192
#define CAS_CONF_MAX_FILE (1u << 20)
/* Parses configuration text on top of the current values (after
 * cas_conf_init).  Errors name the line: "path:line: reason". */
int cas_conf_parse(struct cas_conf *c, const char *text, size_t len);
/* Sets one key from text (as a file line would); line 0 for overrides. */
int cas_conf_set(struct cas_conf *c, const char *name, const char *value, int line);
void cas_conf_free(struct cas_conf *c);

/* Which file to use: -f FILE, else $CAS_CONF, else ./cas.conf if it exists,
 * else /etc/freecas/cas.conf. */
const char *cas_conf_default_path(const char *opt_f);

/* Accessors.  Asking for a key that is not in the table is a programming
 * error: it is logged and the zero value is returned. */
int cas_conf_is_set(const struct cas_conf *c, const char *name);
const char *cas_conf_str(const struct cas_conf *c, const char *name);	/* "" if unset */
long long cas_conf_int(const struct cas_conf *c, const char *name);
int cas_conf_bool(const struct cas_conf *c, const char *name);
const uint8_t *cas_conf_bytes(const struct cas_conf *c, const char *name);
int cas_conf_hostport(const struct cas_conf *c, const char *name,
		      char *host, size_t hostsize, uint16_t *port);

/* Parses "host:port", "[v6]:port" or ":port" (host "0.0.0.0"). */
int cas_hostport_parse(const char *s, char *host, size_t hostsize, uint16_t *port);

/* Formats entry i as "name = value" (secrets masked) for -n. */
void cas_conf_format(const struct cas_conf *c, unsigned i, char *out, size_t size);

#endif
