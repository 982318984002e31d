"""Partitions (docs/plans/partitions.md): adding one's database (`add.py`) and showing them
all with their replication (`listing.py`)."""
