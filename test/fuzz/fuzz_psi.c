/* Fuzz target: the PSI section parser and the CA_descriptor lookup accept
 * or refuse any bytes without reading outside them; an accepted section's
 * body lies inside the input, and rebuilding it gives the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_psi_hdr h;
	uint16_t pid;
	long n = cas_psi_parse(data, size, &h);
	if (n >= 0) {
		if ((size_t)n > size || h.body < data || h.body + h.body_len > data + n)
			abort();
		(void)cas_psi_find_ca(h.body, h.body_len, 0x0B00, &pid);
		/* a PAT/CAT/PMT-like rebuild: same header fields, same body */
		uint8_t out[CAS_PSI_SECTION_MAX];
		if (h.current && h.section_number == 0 && h.last_section_number == 0 &&
		    (data[1] & 0x70) == 0x30 && (data[5] & 0xC0) == 0xC0) {
			long m = cas_psi_section(h.table_id, h.id_ext, h.version, h.body, h.body_len,
						 out, sizeof out);
			if (m != n || memcmp(out, data, (size_t)n) != 0)
				abort();
		}
	}
	(void)cas_psi_find_ca(data, size, 0x0B00, &pid);
	return 0;
}
