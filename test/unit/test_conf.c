/* Unit tests: the configuration table and parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"

static int parse(struct cas_conf *c, const char *text)
{
	assert_int_equal(cas_conf_init(c), 0);
	c->path = strdup("test.conf");
	return cas_conf_parse(c, text, strlen(text));
}

static void defaults_are_the_documented_ones(void **state)
{
	(void)state;
	struct cas_conf c;
	assert_int_equal(cas_conf_init(&c), 0);
	assert_string_equal(cas_conf_str(&c, "db"), "./var/cas.db");
	assert_string_equal(cas_conf_str(&c, "master_key"), "./var/master.key");
	assert_int_equal(cas_conf_int(&c, "super_cas_id"), 0x0B000000);
	assert_string_equal(cas_conf_str(&c, "ecmg.listen"), "127.0.0.1:2222");
	assert_string_equal(cas_conf_str(&c, "emmg.mux"), "127.0.0.1:3333");
	assert_int_equal(cas_conf_int(&c, "emmg.bandwidth"), 64);
	assert_string_equal(cas_conf_str(&c, "api.listen"), "127.0.0.1:8080");
	assert_false(cas_conf_is_set(&c, "ecm_key"));
	assert_false(cas_conf_is_set(&c, "api.key"));
	assert_null(cas_conf_bytes(&c, "ecm_key"));
	cas_conf_free(&c);
}

static void parses_a_full_file(void **state)
{
	(void)state;
	struct cas_conf c;
	const char *text =
		"# FreeCAS\n"
		"db = /srv/cas/cas.db   # the database\n"
		"\n"
		"  super_cas_id=0x0B010002\r\n"
		"ecm_key = 7E33A278B3617A309B18222F372A231907ac67e08a5f12c3f74769de8374c7ae\n"
		"ecmg.listen = [::1]:2223\n"
		"emmg.bandwidth = 1000\n"
		"api.key = \"s3cret # not a comment\"\n"
		"ecmg.delay_start = -200\n"
		"log.syslog = On\n"
		"log.level = debug\n"
		"trademark = TVCAS.COM";	/* no final newline */
	assert_int_equal(parse(&c, text), 0);
	assert_string_equal(cas_conf_str(&c, "db"), "/srv/cas/cas.db");
	assert_int_equal(cas_conf_int(&c, "super_cas_id"), 0x0B010002);
	const uint8_t *k = cas_conf_bytes(&c, "ecm_key");
	assert_non_null(k);
	assert_int_equal(k[0], 0x7E);
	assert_int_equal(k[16], 0x07);
	assert_int_equal(k[31], 0xAE);
	char host[64];
	uint16_t port;
	assert_int_equal(cas_conf_hostport(&c, "ecmg.listen", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 2223);
	assert_int_equal(cas_conf_int(&c, "emmg.bandwidth"), 1000);
	assert_string_equal(cas_conf_str(&c, "api.key"), "s3cret # not a comment");
	assert_int_equal(cas_conf_int(&c, "ecmg.delay_start"), -200);
	assert_true(cas_conf_bool(&c, "log.syslog"));
	assert_string_equal(cas_conf_str(&c, "log.level"), "debug");
	assert_string_equal(cas_conf_str(&c, "trademark"), "TVCAS.COM");
	cas_conf_free(&c);
}

struct bad {
	const char *text;
	const char *err;
};

static void errors_name_file_line_and_reason(void **state)
{
	(void)state;
	static const struct bad cases[] = {
		{ "db = x\nemmg.bandwith = 64\n", "test.conf:2: unknown key 'emmg.bandwith'" },
		{ "emmg.bandwidth = 65536\n", "test.conf:1: emmg.bandwidth: value out of range 1..65535" },
		{ "emmg.bandwidth = 0\n", "test.conf:1: emmg.bandwidth: value out of range 1..65535" },
		{ "emmg.bandwidth = 64k\n", "test.conf:1: emmg.bandwidth: '64k' is not an integer" },
		{ "emmg.bandwidth = \n", "test.conf:1: emmg.bandwidth: '' is not an integer" },
		{ "emmg.bandwidth = 0x\n", "test.conf:1: emmg.bandwidth: '0x' is not an integer" },
		{ "super_cas_id = 0x1FFFFFFFF\n", "test.conf:1: super_cas_id: value out of range 0..4294967295" },
		{ "ecm_key = 7E33\n", "test.conf:1: ecm_key: must be exactly 64 hex digits" },
		{ "ecm_key = 7E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AG\n",
		  "test.conf:1: ecm_key: must be exactly 64 hex digits" },
		{ "ecmg.listen = 127.0.0.1\n", "test.conf:1: ecmg.listen: '127.0.0.1' is not host:port" },
		{ "ecmg.listen = 127.0.0.1:70000\n", "test.conf:1: ecmg.listen: '127.0.0.1:70000' is not host:port" },
		{ "ecmg.listen = ::1:2222\n", "test.conf:1: ecmg.listen: '::1:2222' is not host:port" },
		{ "log.syslog = maybe\n", "test.conf:1: log.syslog: 'maybe' is not yes or no" },
		{ "log.level = loud\n", "test.conf:1: log.level: must be one of fatal|error|warning|info|debug" },
		{ "\n\n db\n", "test.conf:3: expected key = value" },
		{ "= 5\n", "test.conf:1: missing key before '='" },
		{ "api.key = \"open\n", "test.conf:1: unterminated quoted value" },
		{ "db = a\ndb = b\n", "test.conf:2: db: set twice (first on line 1)" },
		{ "ecmg.idle_timeout = 60\n", "test.conf:1: ecmg.idle_timeout: value out of range 120..86400" },
		{ "trademark = 0123456789ABCDEF\n", "test.conf:1: trademark: length out of range (too long)" },
		{ "db = \n", "test.conf:1: db: empty path" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cas_conf c;
		assert_int_equal(parse(&c, cases[i].text), -1);
		assert_string_equal(c.err, cases[i].err);
		cas_conf_free(&c);
	}
}

static void secrets_are_masked(void **state)
{
	(void)state;
	struct cas_conf c;
	assert_int_equal(parse(&c, "api.key = hunter2\n"
			      "ecm_key = 7E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE\n"), 0);
	char line[512];
	int seen = 0;
	for (unsigned i = 0; i < cas_conf_key_count; i++) {
		cas_conf_format(&c, i, line, sizeof line);
		assert_null(strstr(line, "hunter2"));
		assert_null(strstr(line, "7E33A278"));
		if (strcmp(cas_conf_keys[i].name, "api.key") == 0) {
			assert_string_equal(line, "api.key = (secret, 7 characters)");
			seen++;
		}
		if (strcmp(cas_conf_keys[i].name, "ecmg.transition_delay_start") == 0) {
			assert_string_equal(line, "# ecmg.transition_delay_start is not set");
			seen++;
		}
		if (strcmp(cas_conf_keys[i].name, "emmg.bandwidth") == 0) {
			assert_string_equal(line, "emmg.bandwidth = 64");
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	cas_conf_free(&c);
}

static void every_default_is_valid_and_documented(void **state)
{
	(void)state;
	for (unsigned i = 0; i < cas_conf_key_count; i++) {
		const struct cas_conf_key *k = &cas_conf_keys[i];
		assert_non_null(k->help);
		assert_true(strlen(k->help) > 5);
		if (k->def == NULL)
			assert_true(k->flags & CAS_CONF_OPTIONAL);
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(k->name, cas_conf_keys[j].name);
	}
}

static void hostport_forms(void **state)
{
	(void)state;
	char host[64];
	uint16_t port;
	assert_int_equal(cas_hostport_parse(":2222", host, sizeof host, &port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 2222);
	assert_int_equal(cas_hostport_parse("mux.example:3333", host, sizeof host, &port), 0);
	assert_string_equal(host, "mux.example");
	assert_int_equal(cas_hostport_parse("a:0", host, sizeof host, &port), -1);
	assert_int_equal(cas_hostport_parse("a:+5", host, sizeof host, &port), -1);
	assert_int_equal(cas_hostport_parse("a:5 ", host, sizeof host, &port), -1);
	assert_int_equal(cas_hostport_parse("[::1]2222", host, sizeof host, &port), -1);
	assert_int_equal(cas_hostport_parse("a b:1", host, sizeof host, &port), -1);
	char small[4];
	assert_int_equal(cas_hostport_parse("localhost:1", small, sizeof small, &port), -1);
}

static void file_load_and_missing_file(void **state)
{
	(void)state;
	char path[] = "/tmp/cas-conf-testXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "emmg.repeat = 5\nbogus = 1\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct cas_conf c;
	assert_int_equal(cas_conf_load(&c, path), -1);
	char want[128];
	snprintf(want, sizeof want, "%s:2: unknown key 'bogus'", path);
	assert_string_equal(c.err, want);
	cas_conf_free(&c);
	unlink(path);
	assert_int_equal(cas_conf_load(&c, path), -1);
	snprintf(want, sizeof want, "unable to open %s: No such file or directory", path);
	assert_string_equal(c.err, want);
	cas_conf_free(&c);
}

static void default_path_order(void **state)
{
	(void)state;
	assert_string_equal(cas_conf_default_path("/x/given.conf"), "/x/given.conf");
	setenv("CAS_CONF", "/from/env.conf", 1);
	assert_string_equal(cas_conf_default_path(NULL), "/from/env.conf");
	unsetenv("CAS_CONF");
	char dir[] = "/tmp/cas-conf-dirXXXXXX";
	assert_non_null(mkdtemp(dir));
	char old[512];
	assert_non_null(getcwd(old, sizeof old));
	assert_int_equal(chdir(dir), 0);
	assert_string_equal(cas_conf_default_path(NULL), "/etc/freecas/cas.conf");
	FILE *f = fopen("cas.conf", "w");
	assert_non_null(f);
	fclose(f);
	assert_string_equal(cas_conf_default_path(NULL), "./cas.conf");
	unlink("cas.conf");
	assert_int_equal(chdir(old), 0);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_documented_ones),
		cmocka_unit_test(parses_a_full_file),
		cmocka_unit_test(errors_name_file_line_and_reason),
		cmocka_unit_test(secrets_are_masked),
		cmocka_unit_test(every_default_is_valid_and_documented),
		cmocka_unit_test(hostport_forms),
		cmocka_unit_test(file_load_and_missing_file),
		cmocka_unit_test(default_path_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
