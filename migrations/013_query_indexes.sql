-- The back office's queries (docs/back-office.md, "Queries and statements"): `jifen txn find`
-- and `jifen card statement`, each under 100 ms on a journal of 10^7 postings
-- (docs/performance.md, "Queries and statements").
--
-- `txn find` pages newest first by (business_date, id), a keyset: each filter has an index
-- whose columns are the filter, then that key, so a page is one short index range scan
-- whatever the journal's size. The host writes every index below on each INSERT: three of
-- them replace an index of the same table instead of adding one (the business date's, the
-- time's, the postings' by account), so the writer maintains three more index entries a
-- transaction, none more a posting, and one a declined request (the commit benchmark's
-- figures are in docs/performance.md).

-- A business date (range) alone: the date, then the key. Replaces (business_date), which
-- clearing reads by its leading column as before.
DROP INDEX transactions_business_date;
CREATE INDEX transactions_business_date ON transactions (business_date, id);

-- A UTC time range without business dates pages by (posted_at, id). Replaces (posted_at),
-- which the host's start reads by its leading column as before.
DROP INDEX transactions_posted_at;
CREATE INDEX transactions_posted_at ON transactions (posted_at, id);

-- A card's transactions (the card found by its PAN's keyed hash). Unknown-card advices have
-- no card and are left out.
CREATE INDEX transactions_card ON transactions (card_id, business_date, id)
    WHERE card_id IS NOT NULL;
-- A merchant's (a merchant admin's rows: row-level security will filter on merchant_id).
CREATE INDEX transactions_merchant ON transactions (merchant_id, business_date, id);
-- A terminal's. (terminal_code, batch_number) stays: the host loads open batches by it.
CREATE INDEX transactions_terminal ON transactions (terminal_code, business_date, id);

-- A card's statement walks the postings of its two member accounts in journal order and sums
-- those before the range for the opening balance: (account_id, entry_id) with the amount is
-- an index-only scan. Replaces (account_id), which nothing else read (docs/performance.md,
-- "Host group commit", lever (d)).
DROP INDEX postings_account;
CREATE INDEX postings_account ON postings (account_id, entry_id) INCLUDE (amount);

-- Declined requests are in host_requests only (a transaction row is an approval): the answer
-- frame (proto.frames.Answer, msgpack, array-like) holds field 39. Its bytes: a fixarray
-- header, the correlation id (a positive fixint, or 0xcc/0xcd/0xce/0xcf and 1, 2, 4 or 8
-- bytes), then field 39 as a 2-byte fixstr (0xa2). Anything else is NULL. SQL functions of one
-- expression over immutable built-ins, not STRICT: the planner inlines them, in the index
-- below too, so the host's INSERT calls no function of ours (qualified: CREATE INDEX runs them
-- with search_path = pg_catalog). Tested against msgspec's
-- encoding (tests/back_office/test_queries_response_code.py).
CREATE FUNCTION host_answer_id_extra_bytes(answer bytea) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(answer) < 2 THEN 0
                ELSE CASE get_byte(answer, 1) WHEN 204 THEN 1 WHEN 205 THEN 2 WHEN 206 THEN 4
                                              WHEN 207 THEN 8 ELSE 0 END
           END
$$;
-- Total: any bytes at all give a code or NULL, never an error (the index below evaluates it
-- in the host's INSERT, which must not fail on it). CASE evaluates its branches in order.
CREATE FUNCTION host_answer_response_code(answer bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(answer) < public.host_answer_id_extra_bytes(answer) + 5 THEN NULL
                WHEN get_byte(answer, public.host_answer_id_extra_bytes(answer) + 2) = 162
                THEN encode(substring(answer FROM public.host_answer_id_extra_bytes(answer) + 4
                                             FOR 2), 'escape')  -- 0xa2: fixstr of 2
           END
$$;
GRANT EXECUTE ON FUNCTION host_answer_id_extra_bytes(bytea), host_answer_response_code(bytea)
    TO PUBLIC;

-- Declines, newest first, with the key as tie-break (a batch's rows share received_at). Few
-- rows (a decline in a hundred requests, say), so the writer's cost is the predicate.
CREATE INDEX host_requests_declined
    ON host_requests (received_at, terminal_code, mti, stan, transmission_time)
    WHERE host_answer_response_code(answer) IS DISTINCT FROM '00';
