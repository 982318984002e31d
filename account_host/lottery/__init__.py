"""The points lottery in the host's memory (host interface 1.2, 0200 910000): each alliance's
open campaign with its secret, prize table and stock, each card's standing draws, and the
recent draws a reversal may undo (`book.py`); read at start and when a campaign changes
(`loading.py`). The draw itself is proto.lottery's."""
