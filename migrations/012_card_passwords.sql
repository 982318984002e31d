-- Card passwords (host interface 1.2, §4 "Card password"; docs/security.md, "Card passwords").
--
-- A card's password is kept only as its verification value (proto.card_password: a MAC of the
-- PAN and the password under the `pin_verification` data key), written by the back office;
-- password_version counts the times it was set, so that a reset starts the wrong tries afresh.
-- The account host counts wrong tries in card_password_tries, in the same statement as the
-- request that made them (account_host/journal.py), and a row whose password_version is not
-- the card's counts nothing. Terminals that MAC get a PIN session key at sign-on and key
-- change, sealed to the front like their MAC key.

ALTER TABLE cards
    ADD COLUMN password_verification bytea
        CHECK (length(password_verification) = 16),
    ADD COLUMN password_version integer NOT NULL DEFAULT 0 CHECK (password_version >= 0);

CREATE TABLE card_password_tries (
    card_id           bigint PRIMARY KEY REFERENCES cards,
    password_version  integer NOT NULL CHECK (password_version >= 0),
    tries             integer NOT NULL CHECK (tries >= 0),
    changed_at        timestamptz NOT NULL
);
-- The host writes the tries; the back office reads them to show a lock.
GRANT SELECT, INSERT, UPDATE ON card_password_tries TO jifen_host;
GRANT SELECT ON card_password_tries TO jifen_back_office;

ALTER TABLE terminal_sessions ADD COLUMN pin_key_encrypted bytea;

-- The PIN verification key: the front (field 52 into a verification value) and the back office
-- (setting a password) read it; the host never does, so the values it holds test no guess.
ALTER TABLE data_keys DROP CONSTRAINT data_keys_purpose_check;
ALTER TABLE data_keys ADD CONSTRAINT data_keys_purpose_check CHECK (
    purpose IN ('tmk', 'pan_lookup', 'pan_seal', 'saf_seal', 'member_data',
                'pin_verification'));
DROP POLICY data_keys_front ON data_keys;
CREATE POLICY data_keys_front ON data_keys TO jifen_front
    USING (purpose IN ('tmk', 'saf_seal', 'pin_verification'))
    WITH CHECK (purpose IN ('tmk', 'saf_seal', 'pin_verification'));
DROP POLICY data_keys_back_office ON data_keys;
CREATE POLICY data_keys_back_office ON data_keys TO jifen_back_office
    USING (purpose IN ('pan_lookup', 'pan_seal', 'pin_verification'))
    WITH CHECK (purpose IN ('pan_lookup', 'pan_seal', 'pin_verification'));
-- Card service sets and resets passwords too (operators, migration 011).
GRANT SELECT ON card_password_tries TO jifen_op_card_service;
CREATE POLICY data_keys_card_service_pins ON data_keys TO jifen_op_card_service
    USING (purpose = 'pin_verification') WITH CHECK (purpose = 'pin_verification');
