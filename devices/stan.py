"""System trace audit numbers (field 11): one counter per simulated terminal."""

STAN_MAX = 999_999  # six digits; after it the count wraps to 000001 (000000 is never sent)


class StanCounter:
    def __init__(self, start: int = 1) -> None:
        assert 1 <= start <= STAN_MAX, f"STAN start {start} out of range"
        self._next = start

    def next(self) -> str:
        stan = self._next
        self._next = 1 if stan == STAN_MAX else stan + 1
        return f"{stan:06d}"

    def peek(self) -> str:
        return f"{self._next:06d}"
