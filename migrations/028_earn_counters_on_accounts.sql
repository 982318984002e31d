-- A card's points of the local day and of the month, which the caps per day and per month
-- count (docs/rules.md, "Caps"), ride on its points account row, which every earning and
-- every reversal of one writes anyway: `key << 40 | points`, the key a date ordinal
-- (counted_day) or year * 12 + month - 1 (counted_month), in the alliance's time zone; the
-- points stored at most 2^40 - 1, above any cap. The host reads them at start with the
-- balance, instead of summing a month of the journal (about 6 s at 10^6 cards that each
-- earned once: docs/performance.md, "Counters with the balance"); it still sums the journal
-- for an alliance whose rules did not count all month. A key other than today's or this
-- month's is a count of an earlier day or month: no points.
ALTER TABLE accounts
    ADD COLUMN counted_day bigint,
    ADD COLUMN counted_month bigint,
    ADD CONSTRAINT accounts_counted_of_points CHECK (
        (counted_day IS NULL AND counted_month IS NULL)
        OR (kind = 'member_points' AND counted_day IS NOT NULL AND counted_month IS NOT NULL));
