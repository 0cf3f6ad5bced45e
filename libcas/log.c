#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

/* The hook is the one piece of process-wide state in libcas: a program has
 * one stderr and one log policy, set by main() before anything else runs. */
static struct {
	cas_log_hook_fn *hook;
	void *ctx;
	enum cas_log_level max_level;
	const char *prog;
	int use_syslog;
} logstate = { NULL, NULL, CAS_LOG_INFO, "freecas", 0 };

static const char *const level_names[] = { "fatal", "error", "warning", "info", "debug" };

void cas_log_set_hook(cas_log_hook_fn *fn, void *ctx)
{
	logstate.hook = fn;
	logstate.ctx = ctx;
}

void cas_log_set_level(enum cas_log_level max_level)
{
	logstate.max_level = max_level;
}

enum cas_log_level cas_log_get_level(void)
{
	return logstate.max_level;
}

int cas_log_enabled(enum cas_log_level level)
{
	return logstate.hook != NULL && level <= logstate.max_level;
}

const char *cas_log_level_name(enum cas_log_level level)
{
	if ((unsigned)level >= sizeof level_names / sizeof level_names[0])
		return "debug";
	return level_names[level];
}

int cas_log_level_parse(const char *name, enum cas_log_level *out)
{
	for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum cas_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warn") == 0) {
		*out = CAS_LOG_WARN;
		return 0;
	}
	return -1;
}

void cas_logv(enum cas_log_level level, const char *fmt, va_list ap)
{
	if (!cas_log_enabled(level))
		return;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One event, one line: a peer-supplied string must not forge lines. */
	for (char *p = msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	logstate.hook(logstate.ctx, level, msg);
}

void cas_log(enum cas_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cas_logv(level, fmt, ap);
	va_end(ap);
}

static void stderr_hook(void *ctx, enum cas_log_level level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s\n", logstate.prog, cas_log_level_name(level), msg);
	if (logstate.use_syslog) {
		static const int prio[] = { LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[level <= CAS_LOG_DEBUG ? level : CAS_LOG_DEBUG], "%s: %s",
		       cas_log_level_name(level), msg);
	}
}

void cas_log_start(const char *prog, enum cas_log_level max_level, int use_syslog)
{
	logstate.prog = prog;
	logstate.max_level = max_level;
	logstate.use_syslog = use_syslog;
	if (use_syslog)
		openlog(prog, LOG_PID, LOG_DAEMON);
	/* Line-buffered so a supervisor's log service sees whole lines at once. */
	setvbuf(stderr, NULL, _IOLBF, 0);
	cas_log_set_hook(stderr_hook, NULL);
}

const char *cas_log_prog(void)
{
	return logstate.prog;
}
