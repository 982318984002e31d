-- Operators read the journal (`jifen txn find`, `jifen card statement`; docs/back-office.md,
-- "Queries and statements"): HQ admins, card service and auditors all of it, a merchant admin
-- only its own merchant's transactions, their entries and postings, the accounts they touch
-- and the cards that transacted there. Row-level security is the guarantee, as for the
-- reference data (migration 011); every other role that reads or writes these tables has a
-- policy that passes all rows, so the host's writes and clearing's reads are as before.

GRANT SELECT ON transactions, journal_entries, postings, accounts
    TO jifen_op_hq_admin, jifen_op_card_service, jifen_op_merchant_admin;
GRANT SELECT ON cards TO jifen_op_merchant_admin;
-- A merchant admin names a card by its number: the keyed hash needs the pan_lookup key.
GRANT SELECT ON data_keys TO jifen_op_merchant_admin;
CREATE POLICY data_keys_merchant_admin ON data_keys FOR SELECT TO jifen_op_merchant_admin
    USING (purpose = 'pan_lookup');

ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE journal_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE postings ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE cards ENABLE ROW LEVEL SECURITY;

CREATE POLICY transactions_all ON transactions TO jifen_host, jifen_clearing, jifen_back_office,
    jifen_audit, jifen_op_hq_admin, jifen_op_card_service USING (true) WITH CHECK (true);
CREATE POLICY transactions_own ON transactions FOR SELECT TO jifen_op_merchant_admin
    USING (merchant_id = (SELECT operator_merchant_id()));

CREATE POLICY journal_entries_all ON journal_entries TO jifen_host, jifen_clearing,
    jifen_back_office, jifen_audit, jifen_op_hq_admin, jifen_op_card_service
    USING (true) WITH CHECK (true);
-- The subquery sees only the transactions the merchant admin may see.
CREATE POLICY journal_entries_own ON journal_entries FOR SELECT TO jifen_op_merchant_admin
    USING (EXISTS (SELECT 1 FROM transactions t WHERE t.id = journal_entries.transaction_id));

CREATE POLICY postings_all ON postings TO jifen_host, jifen_clearing, jifen_back_office,
    jifen_audit, jifen_op_hq_admin, jifen_op_card_service USING (true) WITH CHECK (true);
CREATE POLICY postings_own ON postings FOR SELECT TO jifen_op_merchant_admin
    USING (EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = postings.entry_id));

CREATE POLICY accounts_all ON accounts TO jifen_host, jifen_clearing, jifen_back_office,
    jifen_audit, jifen_op_hq_admin, jifen_op_card_service USING (true) WITH CHECK (true);
CREATE POLICY accounts_own ON accounts FOR SELECT TO jifen_op_merchant_admin
    USING (merchant_id = (SELECT operator_merchant_id())
           OR EXISTS (SELECT 1 FROM postings p WHERE p.account_id = accounts.id));

CREATE POLICY cards_all ON cards TO jifen_host, jifen_clearing, jifen_back_office, jifen_audit,
    jifen_op_hq_admin, jifen_op_card_service USING (true) WITH CHECK (true);
CREATE POLICY cards_own ON cards FOR SELECT TO jifen_op_merchant_admin
    USING (EXISTS (SELECT 1 FROM transactions t WHERE t.card_id = cards.id));
