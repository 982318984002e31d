"""Earning points by the alliance's rules (proto.earn_rules; docs/rules.md): the versions in
force (`rule_book.py`), the points one purchase earns (`earn.py`, sans I/O), and each card's
points of the day and month that the caps count (`counters.py`). All in memory: no database
round trip per request."""
