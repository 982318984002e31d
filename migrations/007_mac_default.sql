-- MAC by default (host interface 1.2, §7 and §8; docs/security.md, "Terminals and session keys").
--
-- A terminal registered from now on requires MAC unless created with `--no-mac`: without a MAC,
-- anyone who knows a terminal and merchant ID can transact as it. Existing terminals keep their
-- flag (no silent conversion: a terminal that cannot MAC would be locked out with A0); the
-- README says how to find and convert them (`jifen terminal list`, `jifen terminal set-mac`).
ALTER TABLE terminals ALTER COLUMN requires_mac SET DEFAULT true;

-- An alliance that requires MAC for loads (210000) and exchanges (400060) answers 58 to them
-- from a terminal that need not MAC. True for a new alliance, and for existing ones too: these
-- are the two processing codes that create stored value, the hole the security issue found.
ALTER TABLE alliances ADD COLUMN requires_mac_for_loads boolean NOT NULL DEFAULT true;
