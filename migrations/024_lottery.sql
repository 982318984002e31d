-- The points lottery (host interface 1.2, 0200 910000; docs/rules.md, "The lottery"): one open
-- campaign per alliance, its prize table and draw price, and a secret that decides each draw
-- (proto/lottery.py) until it is published for auditors to re-derive the draws. The account
-- host alone writes the prizes' stock and the draws, in its group commits.

CREATE TABLE lottery_campaigns (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alliance_id        integer NOT NULL REFERENCES alliances,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    draw_price_points  bigint NOT NULL CHECK (draw_price_points > 0),
    prize_table        jsonb NOT NULL,              -- proto.lottery.PrizeTable
    -- Drawn by the database (two version-4 UUIDs: 244 random bits), read by the account host
    -- alone; no operator's session and no CLI process ever holds it before it is published.
    secret             bytea NOT NULL CHECK (length(secret) = 32) DEFAULT decode(
                           replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
                           'hex'),
    state              text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'ended')),
    published_secret   bytea CHECK (published_secret IS NULL OR published_secret = secret),
    created_by         text NOT NULL DEFAULT session_user,
    created_at         timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz,
    approval_id        bigint REFERENCES approval_requests,
    CHECK ((state = 'ended') = (ended_at IS NOT NULL)),
    CHECK (published_secret IS NULL OR state = 'ended')
);
CREATE UNIQUE INDEX lottery_campaigns_one_open ON lottery_campaigns (alliance_id)
    WHERE state = 'open';

-- Prizes with a stock (those without are unlimited): set at creation, then the host's.
CREATE TABLE lottery_prize_stock (
    campaign_id  integer NOT NULL REFERENCES lottery_campaigns,
    prize_code   text NOT NULL,
    stock        bigint NOT NULL CHECK (stock >= 0),
    PRIMARY KEY (campaign_id, prize_code)
);

-- One row per draw, in the draw's transaction's group commit.
CREATE TABLE lottery_draws (
    transaction_id  bigint PRIMARY KEY REFERENCES transactions,
    campaign_id     integer NOT NULL REFERENCES lottery_campaigns,
    card_id         bigint NOT NULL REFERENCES cards,
    draw_number     integer NOT NULL CHECK (draw_number >= 0),   -- the card's standing draws before
    draw_value      integer NOT NULL CHECK (draw_value BETWEEN 0 AND 999999),
    prize_code      text NOT NULL                                -- or NONE
);
CREATE INDEX lottery_draws_card ON lottery_draws (campaign_id, card_id);

GRANT SELECT (id, alliance_id, code, draw_price_points, prize_table, state, published_secret,
              created_by, created_at, ended_at, approval_id),
      INSERT (alliance_id, code, draw_price_points, prize_table, approval_id),
      UPDATE (state, ended_at) ON lottery_campaigns TO jifen_back_office;
-- Publishing copies the secret it may not read: through this function alone.
CREATE FUNCTION lottery_publish_secret(campaign integer) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    UPDATE public.lottery_campaigns SET published_secret = secret
    WHERE id = campaign AND state = 'ended' AND published_secret IS NULL
    RETURNING true
$$;
REVOKE ALL ON FUNCTION lottery_publish_secret(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lottery_publish_secret(integer) TO jifen_back_office;
GRANT SELECT, INSERT ON lottery_prize_stock TO jifen_back_office;
GRANT SELECT ON lottery_draws TO jifen_back_office;
GRANT SELECT ON lottery_campaigns TO jifen_host;
GRANT SELECT, UPDATE (stock) ON lottery_prize_stock TO jifen_host;
GRANT SELECT, INSERT ON lottery_draws TO jifen_host;
-- Auditors read everything but a secret not yet published.
REVOKE SELECT ON lottery_campaigns FROM jifen_audit;
GRANT SELECT (id, alliance_id, code, draw_price_points, prize_table, state, published_secret,
              created_by, created_at, ended_at, approval_id) ON lottery_campaigns TO jifen_audit;
