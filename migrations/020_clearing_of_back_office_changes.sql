-- Clearing shows HQ's own lines for the back office's changes of balances (migration 018):
-- points and stored value given or taken, and stored value refunded in cash at a closure; and
-- for the points given as bonuses and the lottery's net (migrations 023, 024).
ALTER TABLE clearing_positions DROP CONSTRAINT clearing_positions_category_check;
ALTER TABLE clearing_positions ADD CONSTRAINT clearing_positions_category_check
    CHECK (category IN ('points_issued', 'points_redeemed', 'commission',
                        'stored_value_loaded', 'stored_value_spent',
                        'points_exchanged', 'breakage', 'points_adjusted',
                        'stored_value_adjusted', 'stored_value_refunded', 'points_bonus',
                        'lottery'));
