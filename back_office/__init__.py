"""The back office: what the alliance's staff do beside the terminals' traffic.

Today: provisioning (alliances, merchants, terminals, card ranges, cards, the demo) and the
ledger check (`jifen audit`). It reads and writes reference data in PostgreSQL and tells the
running services through `proto.changes`; a change of a balance is never written here but sent
to the account host as a frame, the only writer of balances and the journal.
"""
