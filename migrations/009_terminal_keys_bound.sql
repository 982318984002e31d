-- Terminal keys bound to their terminal (docs/security.md, "Terminals and session keys").
--
-- A sealed TMK (terminals.tmk_encrypted) and a sealed MAC session key
-- (terminal_sessions.session_key_encrypted) were AES-GCM under the KEK with the purpose alone as
-- associated data (sealed layout version 1), so one copied into another terminal's row opened
-- as that terminal's. From here they are bound to purpose + '/' + terminal code (version 2).
-- Re-sealing needs the KEK, which SQL cannot have: `jifen db migrate` (and `jifen up`) run this
-- file and then, in the same transaction, the data step `back_office.data_migrations` (it sets
-- jifen.data_step). A database with no version 1 key is finished here; one with such keys
-- refuses any other migrator. The front never opens a version 1 key.

DO $$
BEGIN
    IF (EXISTS (SELECT 1 FROM terminals
                WHERE tmk_encrypted IS NOT NULL AND get_byte(tmk_encrypted, 0) = 1)
        OR EXISTS (SELECT 1 FROM terminal_sessions
                   WHERE session_key_encrypted IS NOT NULL
                   AND get_byte(session_key_encrypted, 0) = 1))
       AND current_setting('jifen.data_step', true) IS DISTINCT FROM '009_terminal_keys_bound'
    THEN
        RAISE EXCEPTION 'migration 009 must re-seal existing TMKs and session keys with the KEK'
            USING HINT = 'run `jifen db migrate` (it has the KEK)';
    END IF;
END
$$;
