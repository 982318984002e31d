"""Tiers (会员等级): each holder's standing, kept in memory and applied per request
(standing.py, sans I/O), its place in the host's state and batches (holders.py), and its
loading (loading.py). docs/rules.md, "Tiers", says what they do."""
