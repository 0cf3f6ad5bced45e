/* Fuzz target: the configuration parser must reject or accept any text
 * without crashing, and an accepted text must leave every value readable. */
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_conf c;
	if (cas_conf_init(&c) < 0)
		return 0;
	if (cas_conf_parse(&c, (const char *)data, size) == 0) {
		char line[4400];
		for (unsigned i = 0; i < cas_conf_key_count; i++)
			cas_conf_format(&c, i, line, sizeof line);
	}
	cas_conf_free(&c);
	return 0;
}
