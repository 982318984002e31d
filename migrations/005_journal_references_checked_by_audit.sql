-- The journal's own references are kept by the account host (the single writer, which writes
-- a transaction, its entries, their postings and any new account in ONE statement) and are
-- checked by `jifen audit` (check `reference_missing`), not by foreign keys: PostgreSQL's
-- per-row foreign-key triggers were half of its CPU per purchase (docs/performance.md, "Host
-- group commit", lever (d): 187-247 -> 117-130 us per request at batch 16, 183-207 -> 68-92
-- at batch 64). Cards, merchants and alliances are never deleted (they are deactivated), so
-- what these keys guarded against is a bug of the writer, which the audit finds.
ALTER TABLE postings
    DROP CONSTRAINT postings_entry_id_fkey,
    DROP CONSTRAINT postings_account_id_fkey;
ALTER TABLE journal_entries
    DROP CONSTRAINT journal_entries_transaction_id_fkey;
ALTER TABLE transactions
    DROP CONSTRAINT transactions_merchant_id_fkey,
    DROP CONSTRAINT transactions_card_id_fkey,
    DROP CONSTRAINT transactions_original_transaction_id_fkey;
ALTER TABLE accounts
    DROP CONSTRAINT accounts_card_id_fkey,
    DROP CONSTRAINT accounts_merchant_id_fkey,
    DROP CONSTRAINT accounts_alliance_id_fkey;
