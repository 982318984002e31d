"""Risk control on the host's path (docs/rules.md, "Risk control"): velocity limits per card
and processing code (65, 61) and abnormal growth of a day's points (reviews, and the card
blocked past the block level). Sans I/O; loading.py reads their state."""
