-- Keys and card numbers at rest (docs/security.md, "Keys and card numbers at rest").
--
-- Data keys per purpose, each sealed under the KEK; card numbers found by a keyed hash and kept
-- sealed; the SAF's stored requests sealed. Converting existing rows needs the keys, which SQL
-- cannot have: `jifen db migrate` (and `jifen up`) run this file and then, in the same
-- transaction, the data step `back_office.data_migrations` (it sets jifen.data_step). A
-- database with nothing to convert is finished here; one with rows refuses any other migrator.

CREATE TABLE data_keys (
    purpose     text NOT NULL
                CHECK (purpose IN ('tmk', 'pan_lookup', 'pan_seal', 'saf_seal', 'member_data')),
    version     integer NOT NULL CHECK (version > 0),
    sealed      bytea NOT NULL,            -- AES-GCM under the KEK (proto/keys/sealing.py)
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, version)
);

-- Each service reads (and, on its first start, creates) only its own purposes' keys. The
-- audit's default SELECT sees no row: no policy names it. The owner (the migrator) bypasses.
ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY data_keys_host ON data_keys TO jifen_host
    USING (purpose = 'pan_lookup') WITH CHECK (purpose = 'pan_lookup');
CREATE POLICY data_keys_front ON data_keys TO jifen_front
    USING (purpose IN ('tmk', 'saf_seal')) WITH CHECK (purpose IN ('tmk', 'saf_seal'));
CREATE POLICY data_keys_back_office ON data_keys TO jifen_back_office
    USING (purpose IN ('pan_lookup', 'pan_seal', 'tmk'))
    WITH CHECK (purpose IN ('pan_lookup', 'pan_seal', 'tmk'));
GRANT SELECT, INSERT ON data_keys TO jifen_host, jifen_front, jifen_back_office;

-- Cards: the keyed hash (HMAC-SHA256 under the pan_lookup key) finds a card; the sealed PAN
-- (pan_seal key) is for the few places that must show it; the mask (first 6, last 4) is for
-- display, and its first digits route the card (card ranges of at most 6 digits, below).
ALTER TABLE cards
    ADD COLUMN pan_hmac    bytea UNIQUE CHECK (length(pan_hmac) = 32),
    ADD COLUMN pan_sealed  bytea,
    ADD COLUMN pan_masked  text CHECK (pan_masked ~ '^[0-9]{6}\*{6,9}[0-9]{4}$'),
    ALTER COLUMN pan DROP NOT NULL;
-- The host and the back office route a card by the BIN in its mask (6 digits).
ALTER TABLE card_ranges ADD CONSTRAINT card_ranges_bin_in_mask CHECK (length(bin_low) <= 6);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cards) AND NOT EXISTS (SELECT 1 FROM front_saf) THEN
        -- Nothing to convert: finish as the data step would.
        ALTER TABLE cards DROP COLUMN pan,
            ALTER COLUMN pan_hmac SET NOT NULL,
            ALTER COLUMN pan_sealed SET NOT NULL,
            ALTER COLUMN pan_masked SET NOT NULL;
    ELSIF current_setting('jifen.data_step', true) IS DISTINCT FROM '008_keys_and_pans_at_rest'
    THEN
        RAISE EXCEPTION 'migration 008 must seal existing card numbers and SAF rows with the keys'
            USING HINT = 'run `jifen db migrate` (it has the KEK)';
    END IF;
END
$$;
