"""Expiring points: each earning is a lot with its last day; spending, returns, reversals and
transfers move lots by the rules of docs/rules.md ("Expiring points"); a nightly command books
what expired to the alliance's breakage account."""
