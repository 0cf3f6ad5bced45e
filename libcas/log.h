#ifndef CAS_LOG_H
#define CAS_LOG_H
/*
 * One log grammar for every program, after skalibs:
 *     ecmgd: fatal: unable to bind 0.0.0.0:2222: Address in use
 * libcas never prints: it calls cas_log(), which hands the line to the hook
 * the program installed (cas_log_start() installs the standard stderr hook,
 * optionally mirrored to syslog).  Without a hook, libcas is silent.
 * Never pass a key or a control word to these functions.
 */
#include <stdarg.h>

enum cas_log_level {
	CAS_LOG_FATAL = 0,
	CAS_LOG_ERROR = 1,
	CAS_LOG_WARN = 2,
	CAS_LOG_INFO = 3,
	CAS_LOG_DEBUG = 4,
};

typedef void cas_log_hook_fn(void *ctx, enum cas_log_level level, const char *msg);

/* Process-wide: the hook is installed once by main() before anything logs. */
void cas_log_set_hook(cas_log_hook_fn *fn, void *ctx);
void cas_log_set_level(enum cas_log_level max_level);
enum cas_log_level cas_log_get_level(void);
int cas_log_enabled(enum cas_log_level level);

void cas_log(enum cas_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cas_logv(enum cas_log_level level, const char *fmt, va_list ap);

/* "fatal", "error", "warning", "info", "debug" */
const char *cas_log_level_name(enum cas_log_level level);
int cas_log_level_parse(const char *name, enum cas_log_level *out);

/* Installs the standard hook: "PROG: LEVEL: message" on stderr, one line per
 * event (newlines in the message are replaced), and to syslog(3) with ident
 * PROG when use_syslog is set. */
void cas_log_start(const char *prog, enum cas_log_level max_level, int use_syslog);
const char *cas_log_prog(void);

#endif
