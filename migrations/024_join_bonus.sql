-- Points for joining (docs/rules.md, "Bonuses"): a command to the account host when a member
-- gets their first card, posted against the alliance's bonus account; clearing shows it among
-- HQ's own lines.

ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (kind IN (
    'points_adjustment', 'stored_value_adjustment', 'points_transfer', 'card_replacement',
    'card_closure', 'join_bonus'));
-- One join bonus per member: the back office looks before it asks (under the member's lock),
-- and the audit checks it (back_office/ledger_check/commands.py).

ALTER TABLE accounts DROP CONSTRAINT accounts_chart;
ALTER TABLE accounts ADD CONSTRAINT accounts_chart CHECK (
    (ledger = 'points' AND kind = 'member_points'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'points' AND kind IN ('merchant_points_issued', 'merchant_points_redeemed')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'points'
        AND kind IN ('alliance_points_exchanged', 'alliance_breakage', 'alliance_points_adjusted',
                     'alliance_points_bonus')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
    OR (ledger = 'money' AND kind = 'member_stored_value'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('merchant_stored_value_loaded', 'merchant_stored_value_spent')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('alliance_stored_value_exchange', 'alliance_stored_value_adjusted',
                     'alliance_stored_value_refunded')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
);

ALTER TABLE clearing_positions DROP CONSTRAINT clearing_positions_category_check;
ALTER TABLE clearing_positions ADD CONSTRAINT clearing_positions_category_check
    CHECK (category IN ('points_issued', 'points_redeemed', 'commission',
                        'stored_value_loaded', 'stored_value_spent',
                        'points_exchanged', 'breakage', 'points_adjusted',
                        'stored_value_adjusted', 'stored_value_refunded', 'points_bonus'));
