"""Back-office commands (proto.host_commands): read by the change listener (`reading.py`),
applied by the writer in a group commit like a terminal's request (`applying.py`), their
outcome written in that commit's statement; `outcomes.py` hears how each batch ended."""
