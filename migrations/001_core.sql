-- Core schema: the alliance, its merchants and terminals, cards, the double-entry journal,
-- and the host's idempotency record. Amounts are integers: fen in the money ledger, whole
-- points in the points ledger.

CREATE TABLE alliances (
    id                        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                      text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name                      text NOT NULL,
    timezone                  text NOT NULL DEFAULT 'Asia/Shanghai',
    cutover_local_time        time NOT NULL DEFAULT '23:00',
    -- points -> stored value: this many points buy 100 fen (issue: full transaction set)
    exchange_points_per_yuan  integer NOT NULL DEFAULT 100 CHECK (exchange_points_per_yuan > 0),
    created_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE merchants (
    id                    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_code         text NOT NULL UNIQUE CHECK (length(merchant_code) = 15),  -- ISO field 42
    alliance_id           integer NOT NULL REFERENCES alliances,
    name                  text NOT NULL,
    active                boolean NOT NULL DEFAULT true,
    earn_points_per_yuan  integer NOT NULL DEFAULT 1 CHECK (earn_points_per_yuan >= 0),
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE terminals (
    terminal_code   text PRIMARY KEY CHECK (length(terminal_code) = 8),          -- ISO field 41
    merchant_id     integer NOT NULL REFERENCES merchants,
    requires_mac    boolean NOT NULL DEFAULT false,
    tmk_encrypted   bytea,            -- terminal master key under the local KEK, never in clear
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Written by the acquirer front only: which terminals are signed on.
CREATE TABLE terminal_sessions (
    terminal_code          text PRIMARY KEY REFERENCES terminals,
    signed_on              boolean NOT NULL,
    session_key_encrypted  bytea,
    changed_at             timestamptz NOT NULL DEFAULT now()
);

-- Routing: PANs whose first length(bin_low) digits lie in [bin_low, bin_high] belong to
-- the account host named host_name (a name the switch's config maps to an address).
CREATE TABLE card_ranges (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bin_low    text NOT NULL CHECK (bin_low ~ '^[0-9]{1,12}$'),
    bin_high   text NOT NULL CHECK (bin_high ~ '^[0-9]{1,12}$'),
    host_name  text NOT NULL,
    CHECK (length(bin_low) = length(bin_high) AND bin_low <= bin_high)
);

CREATE TABLE cards (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pan          text NOT NULL UNIQUE CHECK (pan ~ '^[0-9]{16,19}$'),
    alliance_id  integer NOT NULL REFERENCES alliances,
    status       text NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'lost', 'stolen', 'blocked')),
    expires_on   date NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Everything below is written by the account host only.

-- Block allocators for identifiers that must never repeat (RRN, authorisation code, row ids).
CREATE TABLE host_counters (
    name        text PRIMARY KEY,
    next_value  bigint NOT NULL
);
INSERT INTO host_counters (name, next_value) VALUES
    ('rrn', 1), ('auth_code', 1), ('transaction', 1), ('entry', 1), ('account', 1);

-- An account exists from its first posting on. ledger: 'points' (999) or 'money' (156, fen).
CREATE TABLE accounts (
    id           bigint PRIMARY KEY,
    ledger       text NOT NULL CHECK (ledger IN ('points', 'money')),
    kind         text NOT NULL,
    card_id      bigint REFERENCES cards,
    merchant_id  integer REFERENCES merchants,
    alliance_id  integer REFERENCES alliances,
    balance      bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (kind, card_id, merchant_id, alliance_id)
);

-- One row per approved request that moves value: the business record.
CREATE TABLE transactions (
    id                       bigint PRIMARY KEY,
    kind                     text NOT NULL,
    business_date            date NOT NULL,
    posted_at                timestamptz NOT NULL,
    terminal_code            text NOT NULL,
    merchant_id              integer NOT NULL REFERENCES merchants,
    card_id                  bigint REFERENCES cards,
    batch_number             integer,
    mti                      text NOT NULL,
    stan                     text NOT NULL,
    transmission_time        text NOT NULL,
    rrn                      text UNIQUE,
    auth_code                text,
    amount                   bigint NOT NULL,
    currency                 text NOT NULL,
    points                   bigint NOT NULL,       -- points moved, signed, as in tag PT
    original_transaction_id  bigint REFERENCES transactions
);
CREATE INDEX transactions_business_date ON transactions (business_date);
CREATE INDEX transactions_terminal_batch ON transactions (terminal_code, batch_number);

-- A journal entry lives in one ledger, and its postings sum to zero.
CREATE TABLE journal_entries (
    id              bigint PRIMARY KEY,
    transaction_id  bigint NOT NULL REFERENCES transactions,
    ledger          text NOT NULL CHECK (ledger IN ('points', 'money')),
    business_date   date NOT NULL
);
CREATE INDEX journal_entries_transaction ON journal_entries (transaction_id);

CREATE TABLE postings (
    entry_id    bigint NOT NULL REFERENCES journal_entries,
    account_id  bigint NOT NULL REFERENCES accounts,
    amount      bigint NOT NULL,
    PRIMARY KEY (entry_id, account_id)
);
CREATE INDEX postings_account ON postings (account_id);

-- Every request that reached the retransmission check, with its first answer: the key of the
-- spec's idempotent retransmission (MTI + 41 + 11 + 7) and a digest of the compared content.
CREATE TABLE host_requests (
    terminal_code      text NOT NULL,
    mti                text NOT NULL,
    stan               text NOT NULL,
    transmission_time  text NOT NULL,
    content_digest     bytea NOT NULL,
    answer             bytea NOT NULL,     -- the answer frame, msgpack
    received_at        timestamptz NOT NULL,
    PRIMARY KEY (terminal_code, mti, stan, transmission_time)
);
CREATE INDEX host_requests_received_at ON host_requests (received_at);

-- A terminal's settlement batches; the open one is the highest-numbered row with closed_at NULL,
-- or 000001 when the terminal has none yet.
CREATE TABLE terminal_batches (
    terminal_code  text NOT NULL REFERENCES terminals,
    batch_number   integer NOT NULL CHECK (batch_number BETWEEN 1 AND 999999),
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    result_code    text,
    PRIMARY KEY (terminal_code, batch_number, opened_at)
);
