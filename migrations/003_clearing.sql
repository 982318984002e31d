-- Nightly alliance clearing (docs/clearing.md): sealed business days, settlement rules, and
-- clearing runs with their positions, nets and settlement instructions. Clearing reads the
-- journal and writes only these tables. Amounts are integer fen; prices and rates are exact
-- decimals (numeric), never floats.

-- A sealed business date of an alliance (`jifen clearing close-day`): the host never posts to
-- it again; it posts to the day after the alliance's latest sealed date at the earliest.
CREATE TABLE business_days (
    alliance_id    integer NOT NULL REFERENCES alliances,
    business_date  date NOT NULL,
    sealed_at      timestamptz NOT NULL,
    sealed_by      text NOT NULL,
    PRIMARY KEY (alliance_id, business_date)
);

-- Settlement rules, versioned by effective date: the rule in force for (merchant, D) is the
-- merchant's latest with effective_from <= D, else the alliance's (merchant_id NULL).
CREATE TABLE settlement_rules (
    id                      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alliance_id             integer NOT NULL REFERENCES alliances,
    merchant_id             integer REFERENCES merchants,
    effective_from          date NOT NULL,
    -- what an issuing merchant pays HQ per point its customers earned, fen
    issue_price_fen         numeric(18, 6) NOT NULL CHECK (issue_price_fen >= 0),
    -- what HQ reimburses a redeeming merchant per point redeemed (结算比例), fen
    redemption_rate_fen     numeric(18, 6) NOT NULL CHECK (redemption_rate_fen >= 0),
    -- HQ's commission: basis points of what HQ pays the merchant (redemptions + stored value
    -- spent), and/or fen per financial transaction at the merchant
    commission_bp           integer NOT NULL DEFAULT 0
                            CHECK (commission_bp BETWEEN 0 AND 10000),
    commission_fen_per_txn  numeric(18, 6) NOT NULL DEFAULT 0
                            CHECK (commission_fen_per_txn >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    created_by              text NOT NULL DEFAULT current_user,
    UNIQUE NULLS NOT DISTINCT (alliance_id, merchant_id, effective_from)
);

-- One clearing of one alliance's business date: the first 'run', then 'adjustment's that
-- carry deltas against it and the adjustments before them. Never updated.
CREATE TABLE clearing_runs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alliance_id      integer NOT NULL REFERENCES alliances,
    business_date    date NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('run', 'adjustment')),
    adjusts_run_id   bigint REFERENCES clearing_runs,
    reason           text,
    rules            jsonb NOT NULL,      -- the rules in force, as used (a snapshot)
    journal_entries  bigint NOT NULL,     -- entries of the date read (all of them)
    postings         bigint NOT NULL,     -- postings of the alliance's merchants and HQ
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL DEFAULT current_user,
    elapsed_ms       integer NOT NULL DEFAULT 0,
    CHECK ((kind = 'run') = (adjusts_run_id IS NULL)),
    CHECK (kind = 'run' OR reason IS NOT NULL)
);
-- Idempotency: a date is cleared once; a concurrent second run fails on this index.
CREATE UNIQUE INDEX clearing_runs_one_per_date ON clearing_runs (alliance_id, business_date)
    WHERE kind = 'run';
CREATE INDEX clearing_runs_date ON clearing_runs (alliance_id, business_date);

-- Per merchant and category, what the run found: points moved, the fen amount from the
-- merchant's side (+ HQ owes the merchant, - the merchant owes HQ), postings counted.
-- merchant_id NULL: HQ's own lines (exchange, breakage), outside the nets.
CREATE TABLE clearing_positions (
    run_id       bigint NOT NULL REFERENCES clearing_runs,
    merchant_id  integer REFERENCES merchants,
    category     text NOT NULL CHECK (category IN (
                     'points_issued', 'points_redeemed', 'commission',
                     'stored_value_loaded', 'stored_value_spent',
                     'points_exchanged', 'breakage')),
    points       bigint NOT NULL,
    amount_fen   bigint NOT NULL,
    count        bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (run_id, merchant_id, category)
);

-- Each party's net for the run: merchant_id NULL is HQ. Per run, the nets sum to zero.
CREATE TABLE clearing_nets (
    run_id       bigint NOT NULL REFERENCES clearing_runs,
    merchant_id  integer REFERENCES merchants,
    net_fen      bigint NOT NULL,     -- + the party receives, - the party pays
    UNIQUE NULLS NOT DISTINCT (run_id, merchant_id)
);

-- Who pays whom: hub and spoke through HQ (NULL), one instruction per merchant with a net.
CREATE TABLE settlement_instructions (
    run_id             bigint NOT NULL REFERENCES clearing_runs,
    payer_merchant_id  integer REFERENCES merchants,
    payee_merchant_id  integer REFERENCES merchants,
    amount_fen         bigint NOT NULL CHECK (amount_fen > 0),
    CHECK ((payer_merchant_id IS NULL) <> (payee_merchant_id IS NULL))
);
CREATE INDEX settlement_instructions_run ON settlement_instructions (run_id);

-- Clearing reads one business date's entries in id ranges (a progress bar, bounded memory),
-- and `jifen clearing status` lists the dates: both walk this index.
CREATE INDEX journal_entries_business_date ON journal_entries (business_date, id);
