/* casprog: the personalisation file, through the configured profile
 * (profile.h); and the checks of a file before it is written to a card
 * (reference/tvcas3.md §5). */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "casprog.h"
#include "cdate.h"
#include "profile.h"
#include "tvcas3.h"

long cp_bin_build(const struct cas_conf *conf, const struct cas_rights *c, uint8_t *out, size_t cap,
		  char *why, size_t whysize)
{
	const struct cas_profile *p = cas_profile_find(cas_conf_str(conf, "profile"));
	if (p == NULL || p->bin_build == NULL) {
		snprintf(why, whysize, "profile %s has no personalisation file", cas_conf_str(conf, "profile"));
		return -1;
	}
	if (!cas_conf_is_set(conf, "ecm_key")) {
		snprintf(why, whysize, "ecm_key is not set");
		return -1;
	}
	struct cas_bin_opts o = {
		.ecm_key = cas_conf_bytes(conf, "ecm_key"),
		.ecm_key_len = p->ecm_key_len,
		.ca_system_id = (uint16_t)(cas_conf_int(conf, "super_cas_id") >> 16),
		.trademark = cas_conf_str(conf, "trademark"),
	};
	long n = p->bin_build(c, &o, out, cap);
	if (n < 0)
		snprintf(why, whysize, "card %u: the %s profile cannot encode it", c->serial, p->name);
	return n;
}

int cp_bin_check(const struct cas_conf *conf, const uint8_t *bin, size_t len,
		 struct cp_bin_info *info, char *why, size_t whysize)
{
	struct cas_tvcas3_bin b;
	int rc = -1;
	int y, m, d;
	if (len != CAS_TVCAS3_BIN_LEN) {
		if (len > CP_FILE_MAX)
			snprintf(why, whysize, "more than %d bytes, a personalisation file has %d", CP_FILE_MAX,
				 CAS_TVCAS3_BIN_LEN);
		else
			snprintf(why, whysize, "%zu bytes, a personalisation file has %d", len, CAS_TVCAS3_BIN_LEN);
		return -1;
	}
	if (cas_tvcas3_bin_parse(bin, len, &b) != CAS_TVCAS3_OK) {
		snprintf(why, whysize, "not a personalisation file");
		goto out;
	}
	/* a unique address needs a non-zero top byte (conax-card.md §2.4) */
	if (b.serial >> 24 == 0) {
		snprintf(why, whysize, "serial %u has a zero top byte: not a card serial", b.serial);
		goto out;
	}
	/* bytes 5..7 are derived from the ECM key bytes 42..73: a damaged or
	 * edited key shows here */
	if (!b.shared_ok) {
		snprintf(why, whysize, "card %u: the shared address does not match the ECM key in the file (damaged file?)",
			 b.serial);
		goto out;
	}
	if (cas_cdate_decode(b.cdate_start, &y, &m, &d) < 0 ||
	    cas_cdate_decode(b.cdate_finish, &y, &m, &d) < 0) {
		snprintf(why, whysize, "card %u: invalid Conax date in the file", b.serial);
		goto out;
	}
	if (cas_conf_is_set(conf, "ecm_key") &&
	    sodium_memcmp(b.ecm_key, cas_conf_bytes(conf, "ecm_key"), CAS_TVCAS3_ECM_KEY_LEN) != 0) {
		snprintf(why, whysize, "card %u: made with another ecm_key than the configuration's; the card would decrypt nothing",
			 b.serial);
		goto out;
	}
	info->serial = b.serial;
	info->protect = b.protect != 0;
	rc = 0;
out:
	sodium_memzero(&b, sizeof b);
	return rc;
}
