-- Host-written state out of shared rows (docs/plans/partitions.md, step 2). The account host
-- no longer updates rows the back office owns (host_commands, cards, gift_catalogue,
-- lottery_prize_stock): with partitions those are replicated read-only from the central
-- database. It inserts its outcomes into tables of its own instead, in the same statement as
-- their postings (account_host/journal.py BATCH_SQL), and a trigger on each folds them into the
-- shared rows, so that the back office reads exactly what it read before. With one database
-- (partition 0) the fold runs in the host's statement; from step 3 the same triggers fire on
-- central's subscribed copies (ENABLE ALWAYS).
--
-- The folds are SECURITY DEFINER: the host holds INSERT on its own tables and no longer any
-- UPDATE on the shared ones. Row triggers, so a batch that writes none of these rows (nearly
-- every one) fires nothing.

-- A back-office command's outcome, once: the primary key refuses a second (the whole batch
-- fails), and host_commands_guard refuses to decide a command twice.
CREATE TABLE command_outcomes (
    command_id      bigint PRIMARY KEY REFERENCES host_commands,
    state           text NOT NULL CHECK (state IN ('done', 'refused')),
    result_code     text NOT NULL CHECK (result_code ~ '^[0-9A-Z]{2}$'),
    result          text CHECK (length(result) <= 200),
    transaction_id  bigint REFERENCES transactions,
    done_at         timestamptz NOT NULL,
    CHECK (state = 'done' OR transaction_id IS NULL)
);

-- A card's status as a command's transaction set it: closed (closure, or the replaced card),
-- or active (the replacing card, sold but not yet activated).
CREATE TABLE card_status_changes (
    card_id         bigint NOT NULL REFERENCES cards,
    status          text NOT NULL CHECK (status IN ('active', 'closed')),
    transaction_id  bigint NOT NULL REFERENCES transactions,
    changed_at      timestamptz NOT NULL,
    PRIMARY KEY (transaction_id, card_id)
);
CREATE INDEX card_status_changes_card ON card_status_changes (card_id, changed_at);

-- A gift's stock and state in one partition, as they stand after its host's last batch that
-- changed them (stock NULL: not counted). One row per gift and partition, upserted.
CREATE TABLE gift_stock (
    alliance_id  integer NOT NULL,
    gift_code    text NOT NULL,
    partition    text NOT NULL REFERENCES partitions ON UPDATE CASCADE,
    stock        bigint CHECK (stock >= 0),
    active       boolean NOT NULL,
    PRIMARY KEY (alliance_id, gift_code, partition),
    FOREIGN KEY (alliance_id, gift_code) REFERENCES gift_catalogue (alliance_id, gift_code)
);

-- A limited lottery prize's stock in one partition, as it stands after its host's last batch
-- that changed it. One row per prize and partition, upserted.
CREATE TABLE prize_stock (
    campaign_id  integer NOT NULL,
    prize_code   text NOT NULL,
    partition    text NOT NULL REFERENCES partitions ON UPDATE CASCADE,
    stock        bigint NOT NULL CHECK (stock >= 0),
    PRIMARY KEY (campaign_id, prize_code, partition),
    FOREIGN KEY (campaign_id, prize_code) REFERENCES lottery_prize_stock (campaign_id, prize_code)
);

-- Outcomes and status changes are history: never edited or deleted.
CREATE TRIGGER command_outcomes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON command_outcomes FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER card_status_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON card_status_changes FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- The command's row takes its outcome (wait_for_outcome, `jifen card commands` read it there).
CREATE FUNCTION command_outcomes_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    UPDATE public.host_commands
    SET state = NEW.state, result_code = NEW.result_code, result = NEW.result,
        transaction_id = NEW.transaction_id, done_at = NEW.done_at
    WHERE id = NEW.command_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'an outcome of command %, which does not exist', NEW.command_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER command_outcomes_fold AFTER INSERT ON command_outcomes
    FOR EACH ROW EXECUTE FUNCTION command_outcomes_fold();

-- The card's row takes the status (the host reads cards.status at its start).
CREATE FUNCTION card_status_changes_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    UPDATE public.cards SET status = NEW.status WHERE id = NEW.card_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER card_status_changes_fold AFTER INSERT ON card_status_changes
    FOR EACH ROW EXECUTE FUNCTION card_status_changes_fold();

-- The catalogue shows a gift's stock summed over the partitions that keep some (NULL while
-- none counts it), and the gift offered while any partition offers it. The catalogue's row is
-- locked before the sum is read, so that two partitions' changes folded at once (central's
-- apply workers, from step 3) both count.
CREATE FUNCTION gift_stock_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    PERFORM 1 FROM public.gift_catalogue
    WHERE alliance_id = NEW.alliance_id AND gift_code = NEW.gift_code FOR UPDATE;
    UPDATE public.gift_catalogue g SET stock = s.stock, active = s.active
    FROM (SELECT sum(stock)::bigint AS stock, bool_or(active) AS active
          FROM public.gift_stock
          WHERE alliance_id = NEW.alliance_id AND gift_code = NEW.gift_code) AS s
    WHERE g.alliance_id = NEW.alliance_id AND g.gift_code = NEW.gift_code;
    RETURN NULL;
END
$$;
CREATE TRIGGER gift_stock_fold AFTER INSERT OR UPDATE ON gift_stock
    FOR EACH ROW EXECUTE FUNCTION gift_stock_fold();

-- A limited prize's stock, summed over the partitions, as the gifts' (`jifen lottery show`).
CREATE FUNCTION prize_stock_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    PERFORM 1 FROM public.lottery_prize_stock
    WHERE campaign_id = NEW.campaign_id AND prize_code = NEW.prize_code FOR UPDATE;
    UPDATE public.lottery_prize_stock p SET stock = s.stock
    FROM (SELECT sum(stock)::bigint AS stock FROM public.prize_stock
          WHERE campaign_id = NEW.campaign_id AND prize_code = NEW.prize_code) AS s
    WHERE p.campaign_id = NEW.campaign_id AND p.prize_code = NEW.prize_code;
    RETURN NULL;
END
$$;
CREATE TRIGGER prize_stock_fold AFTER INSERT OR UPDATE ON prize_stock
    FOR EACH ROW EXECUTE FUNCTION prize_stock_fold();

REVOKE ALL ON FUNCTION command_outcomes_fold(), card_status_changes_fold(), gift_stock_fold(),
    prize_stock_fold() FROM PUBLIC;

-- The host writes its own tables and no shared row; it reads them back to tell whether a
-- batch of commands alone landed (account_host/database.py) and which commands it decided
-- (account_host/commands/reading.py). Auditors read them by default privileges (006).
REVOKE UPDATE (state, result_code, result, transaction_id, done_at) ON host_commands
    FROM jifen_host;
REVOKE UPDATE (status) ON cards FROM jifen_host;
REVOKE UPDATE (stock, active) ON gift_catalogue FROM jifen_host;
REVOKE UPDATE (stock) ON lottery_prize_stock FROM jifen_host;
GRANT SELECT, INSERT ON command_outcomes, card_status_changes TO jifen_host;
GRANT SELECT, INSERT, UPDATE (stock, active) ON gift_stock TO jifen_host;
GRANT SELECT, INSERT, UPDATE (stock) ON prize_stock TO jifen_host;
