-- Terminal keys sealed to the front (docs/security.md, "Keys and card numbers at rest").
--
-- TMKs and MAC session keys were AES-GCM under the KEK (sealed layout version 2), so every
-- process that seals a TMK (the back office: `jifen terminal create`, the demo) could open
-- every TMK. From here they are sealed to the X25519 public key of the `tmk` data key (version
-- 3): the back office reads only the public key and can seal, never open; the front alone
-- reads the `tmk` data key (its private key).
--
-- Creating the key pair and re-sealing need the KEK, which SQL cannot have: `jifen db migrate`
-- (and `jifen up`) run this file and then, in the same transaction, the data step
-- `back_office.data_migrations` (it sets jifen.data_step). A database with no version 2 key
-- is finished here (the front publishes its public key on its first start); one with such keys
-- refuses any other migrator.

CREATE TABLE data_key_public (
    purpose     text NOT NULL CHECK (purpose IN ('tmk')),
    version     integer NOT NULL CHECK (version > 0),
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),   -- X25519, raw
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, version)
);
-- The front publishes the public half of its key pair; the back office seals to it. Nobody
-- updates or deletes it: a replaced public key would have new TMKs sealed to a stranger.
GRANT SELECT ON data_key_public TO jifen_front, jifen_back_office;
GRANT INSERT ON data_key_public TO jifen_front;

-- The back office no longer reads (or creates) the `tmk` data key.
DROP POLICY data_keys_back_office ON data_keys;
CREATE POLICY data_keys_back_office ON data_keys TO jifen_back_office
    USING (purpose IN ('pan_lookup', 'pan_seal'))
    WITH CHECK (purpose IN ('pan_lookup', 'pan_seal'));

DO $$
BEGIN
    IF (EXISTS (SELECT 1 FROM terminals
                WHERE tmk_encrypted IS NOT NULL AND get_byte(tmk_encrypted, 0) <> 3)
        OR EXISTS (SELECT 1 FROM terminal_sessions
                   WHERE session_key_encrypted IS NOT NULL
                   AND get_byte(session_key_encrypted, 0) <> 3))
       AND current_setting('jifen.data_step', true)
           IS DISTINCT FROM '010_terminal_keys_sealed_to_front'
    THEN
        RAISE EXCEPTION 'migration 010 must re-seal existing TMKs and session keys to the front'
            USING HINT = 'run `jifen db migrate` (it has the KEK)';
    END IF;
END
$$;
