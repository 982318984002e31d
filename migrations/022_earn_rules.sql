-- Earn rules (docs/rules.md): per alliance, versions of one rule document (proto/
-- earn_rules.py), each in force from a local date until the next; the account host loads them
-- all and applies the version of the request's local date. A version is written once and kept:
-- a change is a new version from a later date, or one of the same date, not yet in force, that
-- replaces it (the replaced row names its successor; the audit trail has both digests).

CREATE TABLE earn_rule_sets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alliance_id     integer NOT NULL REFERENCES alliances,
    effective_from  date NOT NULL,
    document        jsonb NOT NULL,
    created_by      text NOT NULL DEFAULT session_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    approval_id     bigint REFERENCES approval_requests,
    replaced_by     bigint REFERENCES earn_rule_sets
);
CREATE UNIQUE INDEX earn_rule_sets_current ON earn_rule_sets (alliance_id, effective_from)
    WHERE replaced_by IS NULL;

-- A merchant's category (dining, retail, ...): the rule document may give it a base rate.
ALTER TABLE merchants ADD COLUMN category text CHECK (category ~ '^[a-z][a-z0-9_]{0,31}$');

GRANT SELECT, INSERT, UPDATE (replaced_by) ON earn_rule_sets TO jifen_back_office;
GRANT SELECT ON earn_rule_sets TO jifen_host, jifen_op_card_service;
-- Birthday promotions: the host reads a card's member's birthday (it keeps month and day).
GRANT SELECT (id, birthday) ON members TO jifen_host;
