-- A merchant admin's reads of other partitions (`jifen txn find`, `jifen card statement`;
-- docs/back-office.md, "Queries and statements"). Operators log in on central only, so another
-- partition is read as jifen_audit, which every policy passes whole. There the query now sets
-- the merchant admin's merchant (read on central, under the admin's own login) and takes the
-- role jifen_merchant_reader for its transaction: the very policies that narrow a merchant
-- admin on central (migrations 011, 017, 019) apply to it, with that merchant.
--
-- The merchant comes from a setting of the session, which migration 011 refuses for a merchant
-- admin's own login (it could SET any merchant). Here it is sound: only jifen_audit's members
-- (its logins, the auditors) and a superuser may SET ROLE to the reader, and they read every
-- row already; whoever sets another merchant reads nothing it could not read without the role.
-- The reader's grants are SELECT on tables jifen_audit reads whole, and its policies are ORed
-- with jifen_audit's, which pass every row: jifen_audit, a member, gains nothing either.

DO $$
BEGIN
    CREATE ROLE jifen_merchant_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT jifen_merchant_reader TO jifen_audit;
GRANT SELECT ON transactions, journal_entries, postings, accounts, cards, merchants, terminals,
    host_requests TO jifen_merchant_reader;
-- operator_merchant_id() reads its row (none: the reader is no operator, operators_self).
GRANT SELECT ON operators TO jifen_merchant_reader;

-- The reader's merchant: the setting, and only for the reader; any other login's is its
-- operators row, as before. Unset or empty: NULL, which no policy matches (nothing is read).
CREATE OR REPLACE FUNCTION operator_merchant_id() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN current_user = 'jifen_merchant_reader'
                THEN nullif(current_setting('jifen.reader_merchant_id', true), '')::integer
                ELSE (SELECT merchant_id FROM public.operators
                      WHERE name = current_user AND active)
           END
$$;

-- The merchant admin's own policies, for the reader too: one text, so they cannot drift.
ALTER POLICY merchants_own ON merchants TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY terminals_own ON terminals TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY transactions_own ON transactions TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY journal_entries_own ON journal_entries
    TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY postings_own ON postings TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY accounts_own ON accounts TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY cards_own ON cards TO jifen_op_merchant_admin, jifen_merchant_reader;
ALTER POLICY host_requests_own ON host_requests
    TO jifen_op_merchant_admin, jifen_merchant_reader;
