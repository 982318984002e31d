-- Written by the acquirer front only (issue 8): its store-and-forward queue of reversal
-- advices (0420) owed to the host. Not the journal: a row is what the front still has to say,
-- and the host's answer (00, or 25 for an original it never saw) settles it.
CREATE TABLE front_saf (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Why the 0420 is owed: the front's own reversal of a 0200 whose answer it could not
    -- deliver ('undelivered') or did not get in time ('no_answer'), or a terminal's own 0420
    -- taken while the host was unreachable ('terminal').
    origin              text NOT NULL CHECK (origin IN ('undelivered', 'no_answer', 'terminal')),
    terminal_code       text NOT NULL,                 -- ISO field 41
    stan                text NOT NULL,                 -- 11: the original's
    original_data       text NOT NULL,                 -- 90: the original's MTI, STAN and 7
    reason_code         text NOT NULL,                 -- 39 of the 0420
    processing_code     text,                          -- 3
    amount              bigint,                        -- 4: fen or points (field 49)
    currency            text,                          -- 49
    pan_masked          text,                          -- 2, masked: for operators' lists
    request             bytea NOT NULL,                -- the 0420 frame sent, msgpack
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'acknowledged', 'refused')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    last_response_code  text,                          -- 39 of the last 0430, if any
    created_at          timestamptz NOT NULL DEFAULT now(),
    settled_at          timestamptz
);

-- One pending reversal per original: a terminal's retransmitted 0420, or its own 0420 of an
-- original the front already reverses, is the same debt.
CREATE UNIQUE INDEX front_saf_one_pending_per_original
    ON front_saf (terminal_code, original_data) WHERE state = 'pending';
-- The sender's claim: the pending rows that are due, oldest first.
CREATE INDEX front_saf_due ON front_saf (next_attempt_at, id) WHERE state = 'pending';
-- Pruning settled rows after the retention.
CREATE INDEX front_saf_settled ON front_saf (settled_at) WHERE state <> 'pending';
