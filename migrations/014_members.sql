-- Members (docs/back-office.md, "Members"): the people behind the cards.
--
-- A member's mobile and ID number are personal data: stored sealed (AES-GCM under a key
-- derived from the member_data data key, bound to the member's alliance and the field), found
-- by a keyed hash (HMAC under another key derived from it), and shown masked. Neither is ever
-- in clear in the database, a dump or a log. A card may belong to no member (sold anonymous).

CREATE TABLE members (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alliance_id        integer NOT NULL REFERENCES alliances,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    mobile_hmac        bytea NOT NULL CHECK (length(mobile_hmac) = 32),
    mobile_sealed      bytea NOT NULL,
    mobile_masked      text NOT NULL CHECK (mobile_masked ~ '^1[0-9]{2}\*{4}[0-9]{4}$'),
    id_number_hmac     bytea CHECK (length(id_number_hmac) = 32),
    id_number_sealed   bytea,
    id_number_masked   text CHECK (id_number_masked ~ '^[0-9]{3}\*{11}[0-9]{3}[0-9X]$'),
    birthday           date,
    joined_on          date NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- One member per mobile (and per ID number) in an alliance.
    UNIQUE (alliance_id, mobile_hmac),
    UNIQUE (alliance_id, id_number_hmac),
    CHECK ((id_number_hmac IS NULL) = (id_number_sealed IS NULL)
           AND (id_number_sealed IS NULL) = (id_number_masked IS NULL))
);

ALTER TABLE cards ADD COLUMN member_id bigint REFERENCES members;
CREATE INDEX cards_member_id ON cards (member_id) WHERE member_id IS NOT NULL;

-- The back office keeps members and assigns cards; it opens the member_data key.
GRANT SELECT, INSERT, UPDATE ON members TO jifen_back_office;
-- A member's cards are shown with their balances (written by the host alone).
GRANT SELECT (id, kind, card_id, balance) ON accounts TO jifen_back_office;
-- Card service keeps members too (operators, migration 011).
GRANT SELECT, INSERT, UPDATE ON members TO jifen_op_card_service;
GRANT SELECT (id, kind, card_id, balance) ON accounts TO jifen_op_card_service;
CREATE POLICY data_keys_card_service_members ON data_keys TO jifen_op_card_service
    USING (purpose = 'member_data') WITH CHECK (purpose = 'member_data');
-- A policy of its own (permissive policies add up), so that this one grant reads alone.
CREATE POLICY data_keys_back_office_members ON data_keys TO jifen_back_office
    USING (purpose = 'member_data') WITH CHECK (purpose = 'member_data');
