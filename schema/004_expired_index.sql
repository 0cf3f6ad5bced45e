-- FreeCAS schema, version 4: cascron sets an expired card active again when
-- its finish is moved back into the future (by the API, a CSV import or an
-- operator), so that status 2 always means "finish has passed".  This index
-- keeps that check a range scan over the few renewed cards, not a pass over
-- every expired card, however many accumulate.
CREATE INDEX cards_expired_finish ON cards (finish) WHERE status = 2;
