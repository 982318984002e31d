-- Partition databases (docs/plans/partitions.md, step 3). Every database has this schema; a
-- database is used as central (reference data, the back office, clearing) or as a partition's
-- (its host's ledger). Central publishes reference data (`jifen_reference`) and each partition
-- its host's outcomes (`jifen_partition_out`), by PostgreSQL's logical replication; `jifen
-- partition add` (back_office/partitions/) creates the subscriptions and sets the triggers
-- below as each side needs them. With one partition (main is central) none of this replicates.

-- A card's status as central last set it, and when: the back office's changes (lost, stolen,
-- blocked, closed, activated) and the folded host changes (card_status_changes_fold, below).
-- A partition's host takes its own newest card_status_changes row when it is newer: until
-- its change has come back from central, the partition's copy of `cards` still says before.
ALTER TABLE cards ADD COLUMN status_changed_at timestamptz;

CREATE FUNCTION cards_status_stamped() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NEW.status_changed_at IS NOT DISTINCT FROM OLD.status_changed_at THEN
        NEW.status_changed_at := now();
    END IF;
    RETURN NEW;
END
$$;
-- A row trigger of origin: replicated updates (a partition's copy) keep central's stamp.
CREATE TRIGGER cards_status_stamped BEFORE UPDATE OF status ON cards
    FOR EACH ROW EXECUTE FUNCTION cards_status_stamped();

-- The fold stamps the card with the host's own time of the change, which the host compares.
CREATE OR REPLACE FUNCTION card_status_changes_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    UPDATE public.cards SET status = NEW.status, status_changed_at = NEW.changed_at
    WHERE id = NEW.card_id;
    RETURN NULL;
END
$$;

-- Central holds every partition's outcomes but only its own transactions: a command's, an
-- outcome's and a status change's transaction may be in another partition's database. Ids
-- are unique system-wide (migration 029), and `jifen audit` (command_mismatch) checks each
-- command against the transaction that names it, as for the journal's references (005).
ALTER TABLE host_commands DROP CONSTRAINT host_commands_transaction;
ALTER TABLE command_outcomes DROP CONSTRAINT command_outcomes_transaction_id_fkey;
ALTER TABLE card_status_changes DROP CONSTRAINT card_status_changes_transaction_id_fkey;

-- The folds run on central for every partition's rows, which its apply workers insert with
-- session_replication_role = replica (where ordinary triggers do not fire): ALWAYS. In a
-- partition other than central `partition add` disables them: its shared rows are read-only
-- copies of central's, and its host reads its own rows where they are newer.
ALTER TABLE command_outcomes ENABLE ALWAYS TRIGGER command_outcomes_fold;
ALTER TABLE card_status_changes ENABLE ALWAYS TRIGGER card_status_changes_fold;
ALTER TABLE gift_stock ENABLE ALWAYS TRIGGER gift_stock_fold;
ALTER TABLE prize_stock ENABLE ALWAYS TRIGGER prize_stock_fold;

-- A NOTIFY on central does not reach a partition: there, each replicated table the host
-- reloads announces its own changes as the back office would (proto/changes.py's payloads:
-- the trigger's argument is the table's name on the channel, `cards` with the row's id), once
-- the row is in the partition's database. Disabled here: on central the back office
-- notifies itself; `partition add` sets them ENABLE ALWAYS in a partition, after the initial
-- copy (which would announce every row).
CREATE FUNCTION jifen_replicated_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_ARGV[0] = 'cards' THEN
        PERFORM pg_notify('jifen_changes', 'cards:' || CASE WHEN TG_OP = 'DELETE'
                                                          THEN OLD.id ELSE NEW.id END);
    ELSE
        PERFORM pg_notify('jifen_changes', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

-- A member's birthday is loaded with each of its cards (birthday promotions): its change
-- announces those cards, as back_office/members/members.py does on central.
CREATE FUNCTION jifen_replicated_member_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.birthday IS DISTINCT FROM OLD.birthday THEN
        PERFORM pg_notify('jifen_changes', 'cards:' || c.id)
        FROM public.cards c WHERE c.member_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER jifen_replicated_change AFTER UPDATE ON members
    FOR EACH ROW EXECUTE FUNCTION jifen_replicated_member_change();
ALTER TABLE members DISABLE TRIGGER jifen_replicated_change;

DO $$
DECLARE
    -- table -> the change it announces (proto/changes.py Table)
    announced CONSTANT text[][] := ARRAY[
        ['alliances', 'alliances'], ['merchants', 'merchants'], ['shops', 'terminals'],
        ['terminals', 'terminals'], ['cards', 'cards'], ['card_ranges', 'card_ranges'],
        ['business_days', 'business_days'], ['gift_catalogue', 'gift_catalogue'],
        ['host_commands', 'host_commands'], ['earn_rule_sets', 'earn_rules'],
        ['lottery_campaigns', 'lottery_campaigns'],
        ['lottery_prize_stock', 'lottery_campaigns']];
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY announced LOOP
        EXECUTE format('CREATE TRIGGER jifen_replicated_change AFTER INSERT OR UPDATE OR DELETE'
                       ' ON %I FOR EACH ROW EXECUTE FUNCTION jifen_replicated_change(%L)',
                       pair[1], pair[2]);
        EXECUTE format('ALTER TABLE %I DISABLE TRIGGER jifen_replicated_change', pair[1]);
    END LOOP;
END
$$;

-- What central sends every partition (docs/plans/partitions.md §1): the reference data its
-- host loads and joins, and the partitions with their RRN ranges. `members` too: the host
-- joins a card's member (birthday, tier holder). Of the data keys only the host's own
-- (pan_lookup, migration 008): the front's and the back office's keys (TMKs, PIN
-- verification, sealed PANs and members' data) never leave central.
CREATE PUBLICATION jifen_reference FOR TABLE
    alliances, merchants, shops, terminals, cards, members, card_ranges, earn_rule_sets,
    gift_catalogue, lottery_campaigns, lottery_prize_stock, business_days, host_commands,
    approval_requests, data_keys WHERE (purpose = 'pan_lookup'), partitions, rrn_ranges;
-- What each partition sends central: its host's outcomes, folded there into the rows above.
CREATE PUBLICATION jifen_partition_out FOR TABLE
    command_outcomes, card_status_changes, gift_stock, prize_stock;

-- The subscriptions' login: a member of this role with the REPLICATION attribute (not
-- inherited, so the login has it itself: database/roles.py, docs/security.md), reading the
-- published tables for the initial copy and nothing else.
DO $$
BEGIN
    CREATE ROLE jifen_replication NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO jifen_replication;
GRANT SELECT ON alliances, merchants, shops, terminals, cards, members, card_ranges,
    earn_rule_sets, gift_catalogue, lottery_campaigns, lottery_prize_stock, business_days,
    host_commands, approval_requests, data_keys, partitions, rrn_ranges,
    command_outcomes, card_status_changes, gift_stock, prize_stock TO jifen_replication;
-- The published tables under row-level security (migrations 008, 011, 015, 017): the copy
-- reads them whole, as the subscriber holds them whole (data_keys: the published rows).
CREATE POLICY merchants_replication ON merchants FOR SELECT TO jifen_replication USING (true);
CREATE POLICY terminals_replication ON terminals FOR SELECT TO jifen_replication USING (true);
CREATE POLICY shops_replication ON shops FOR SELECT TO jifen_replication USING (true);
CREATE POLICY cards_replication ON cards FOR SELECT TO jifen_replication USING (true);
CREATE POLICY data_keys_replication ON data_keys FOR SELECT TO jifen_replication
    USING (purpose = 'pan_lookup');
