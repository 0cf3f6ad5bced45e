#ifndef CAS_RIGHTS_H
#define CAS_RIGHTS_H
/*
 * Effective rights: what an EMM tells a card it may decrypt, given the
 * card's row.  One definition for emmgd (which sends it), cascron and
 * casapid (which report it), so that they never disagree:
 *
 *   - an active card (status 1) that is not blocked gets its access_criteria;
 *   - a disabled (status 0) or expired (status 2) card, and a card blocked
 *     at that moment (blocked_until > now), gets access criteria 0, which
 *     opens nothing: the card releases a CW only when (card AC AND ECM AC)
 *     is not 0 (tvcas3.md §2.3 rule 4);
 *   - start, finish, pair and protection are sent as they are in the row
 *     (an EMM cannot say "no dates", and keeping them lets the card show
 *     the subscription the operator sees).
 *
 * The function takes the row's fields rather than struct cas_card so that
 * it can be used next to either card structure (database or profile).
 */
#include <stdint.h>

enum cas_rights_state {
	CAS_RIGHTS_ACTIVE = 0,		/* the row's access_criteria */
	CAS_RIGHTS_DISABLED = 1,	/* status 0: AC 0 */
	CAS_RIGHTS_EXPIRED = 2,		/* status 2: AC 0 */
	CAS_RIGHTS_BLOCKED = 3,		/* blocked_until > now: AC 0 */
	CAS_RIGHTS_DELETED = 4,		/* card deleted (emmgd revokes what it still knows) */
};

/* The state of a card at time now (Unix seconds).  status is the cards.status
 * value (0 disabled, 1 active, 2 expired; any other value counts as
 * disabled). */
enum cas_rights_state cas_rights_state(int status, int64_t blocked_until, int64_t now);

/* The access criteria an EMM gives the card at time now: ac when the card is
 * active and not blocked, else 0.  *state (may be NULL) gets why. */
uint32_t cas_rights_effective_ac(int status, int64_t blocked_until, uint32_t ac, int64_t now,
				 enum cas_rights_state *state);

/* "active", "disabled", "expired", "blocked", "deleted" */
const char *cas_rights_state_name(enum cas_rights_state state);

#endif
