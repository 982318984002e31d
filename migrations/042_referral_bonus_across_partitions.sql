-- A referral bonus whose referrer's card is in another partition (docs/transfers.md,
-- "Referrals"). The referred member's first purchase is posted by its own partition's host,
-- which does not hold the referrer's card: it records the bonus owed in the purchase's statement
-- (bonus_owed, its own table), replication brings the row to central, where a fold makes it a
-- referral credit (referral_credits, central's, written only by the fold), replicated to every
-- partition. The transfers' driver then writes one command per credit (kind referral_credit,
-- naming the purchase: a unique index makes it impossible to write twice), and the referrer's
-- host posts it after checking it against its own copy of the credit: no approval, no step
-- that anyone but a host could have made.

CREATE TABLE bonus_owed (
    transaction_id    bigint PRIMARY KEY,          -- the referred member's first purchase
    member_id         bigint NOT NULL REFERENCES members,   -- the referred member
    referrer_card_id  bigint NOT NULL REFERENCES cards,
    alliance_id       integer NOT NULL REFERENCES alliances,
    points            bigint NOT NULL CHECK (points > 0),
    partition         text NOT NULL,               -- whose host owed it
    owed_at           timestamptz NOT NULL
);
CREATE TRIGGER bonus_owed_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON bonus_owed FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

CREATE TABLE referral_credits (
    transaction_id    bigint PRIMARY KEY,
    member_id         bigint NOT NULL REFERENCES members,
    referrer_card_id  bigint NOT NULL REFERENCES cards,
    alliance_id       integer NOT NULL REFERENCES alliances,
    points            bigint NOT NULL CHECK (points > 0),
    partition         text NOT NULL,
    owed_at           timestamptz NOT NULL
);
CREATE TRIGGER referral_credits_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON referral_credits FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- Central's fold: a bonus owed, from any partition's host (its own, or an apply worker's copy),
-- becomes a credit; the driver is woken. Off in a partition (`partition add`, and below for a
-- partition migrated after it was added): there, referral_credits are central's copies only.
CREATE FUNCTION bonus_owed_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.referral_credits (transaction_id, member_id, referrer_card_id,
                                         alliance_id, points, partition, owed_at)
    VALUES (NEW.transaction_id, NEW.member_id, NEW.referrer_card_id, NEW.alliance_id,
            NEW.points, NEW.partition, NEW.owed_at)
    ON CONFLICT (transaction_id) DO NOTHING;
    PERFORM pg_notify('jifen_changes', 'host_commands');
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION bonus_owed_fold() FROM PUBLIC;
CREATE TRIGGER bonus_owed_fold AFTER INSERT ON bonus_owed
    FOR EACH ROW EXECUTE FUNCTION bonus_owed_fold();
ALTER TABLE bonus_owed ENABLE ALWAYS TRIGGER bonus_owed_fold;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_subscription WHERE subname LIKE 'jifen\_reference\_p%') THEN
        ALTER TABLE bonus_owed DISABLE TRIGGER bonus_owed_fold;
    END IF;
END
$$;

-- A referral credit's command names its purchase; written once (the driver's INSERT ... WHERE
-- NOT EXISTS, and this index whatever writes it).
ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (
    kind IN ('points_adjustment', 'stored_value_adjustment', 'points_transfer',
             'card_replacement', 'card_closure', 'join_bonus', 'gift_restock',
             'gift_withdrawal', 'points_expiry', 'tier_review', 'imported_purchase',
             'transit_debit', 'transit_credit', 'transit_void', 'referral_credit'));
ALTER TABLE host_commands ADD COLUMN referral_transaction_id bigint,
    ADD CONSTRAINT host_commands_referral CHECK (
        (kind = 'referral_credit') = (referral_transaction_id IS NOT NULL));
CREATE UNIQUE INDEX host_commands_referral ON host_commands (referral_transaction_id)
    WHERE referral_transaction_id IS NOT NULL;

-- The replication: bonus_owed from each partition to central, referral_credits from central
-- to each partition. Existing subscriptions take the new tables at `jifen db migrate`'s
-- refresh (database/replication.py).
ALTER PUBLICATION jifen_partition_out ADD TABLE bonus_owed;
ALTER PUBLICATION jifen_reference ADD TABLE referral_credits;
GRANT SELECT ON bonus_owed, referral_credits TO jifen_replication;

GRANT SELECT, INSERT ON bonus_owed TO jifen_host;
GRANT SELECT ON referral_credits TO jifen_host, jifen_back_office;
GRANT INSERT (referral_transaction_id) ON host_commands TO jifen_back_office;
