"""Route lookup: narrowest range wins, default host for no PAN or no range, unknown hosts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from switch.routes import CardRange, RouteTable

HOSTS = ("a", "b", "c")


def table(*ranges: tuple[str, str, str], default_host: str = "a") -> RouteTable:
    return RouteTable([CardRange(*card_range) for card_range in ranges],
                      default_host=default_host, known_hosts=HOSTS)


class TestLookup:
    def test_pan_in_a_range_goes_to_its_host(self) -> None:
        routes = table(("621700", "621799", "b"))
        assert routes.host_for("6217001234567890") == "b"
        assert routes.host_for("6217991234567890") == "b"
        assert routes.host_for("6218001234567890") == "a"
        assert routes.host_for("6216991234567890") == "a"

    def test_no_pan_goes_to_the_default_host(self) -> None:
        routes = table(("0", "9", "b"), default_host="c")
        assert routes.host_for(None) == "c"
        assert routes.host_for("") == "c"

    def test_pan_without_a_range_goes_to_the_default_host(self) -> None:
        assert table().host_for("6217001234567890") == "a"
        assert table(("4", "4", "b")).host_for("6217001234567890") == "a"

    def test_pan_with_non_digits_goes_to_the_default_host(self) -> None:
        assert table(("6", "6", "b")).host_for("62170012345X7890") == "a"

    def test_longer_prefix_wins_over_a_shorter_one(self) -> None:
        routes = table(("6", "6", "b"), ("6217", "6217", "c"), ("62", "62", "a"))
        assert routes.host_for("6217001234567890") == "c"
        assert routes.host_for("6218001234567890") == "a"
        assert routes.host_for("6318001234567890") == "b"

    def test_smaller_span_wins_among_prefixes_of_one_length(self) -> None:
        routes = table(("620000", "629999", "b"), ("621700", "621799", "c"),
                       ("621750", "621750", "a"))
        assert routes.host_for("6217501234567890") == "a"
        assert routes.host_for("6217491234567890") == "c"
        assert routes.host_for("6217511234567890") == "c"
        assert routes.host_for("6216991234567890") == "b"
        assert routes.host_for("6218001234567890") == "b"

    def test_the_oldest_range_wins_a_tie(self) -> None:
        routes = table(("621700", "621799", "c"), ("621700", "621799", "b"))
        assert routes.host_for("6217001234567890") == "c"

    def test_partly_overlapping_ranges_split_at_their_bounds(self) -> None:
        routes = table(("100", "300", "b"), ("200", "350", "c"))   # spans 200 and 150
        assert routes.host_for("1999999999999999") == "b"
        assert routes.host_for("2000000000000000") == "c"
        assert routes.host_for("3000000000000000") == "c"
        assert routes.host_for("3500000000000000") == "c"
        assert routes.host_for("3510000000000000") == "a"

    def test_pan_shorter_than_a_prefix_skips_it(self) -> None:
        routes = table(("1234567890123", "1234567890123", "b"), ("1", "1", "c"))
        assert routes.host_for("123456789012") == "c"

    def test_leading_zeros_are_digits_of_the_prefix(self) -> None:
        routes = table(("0001", "0009", "b"))
        assert routes.host_for("0005123412341234") == "b"
        assert routes.host_for("0010123412341234") == "a"


class TestUnknownHost:
    def test_a_range_naming_an_unconfigured_host_is_unroutable(self) -> None:
        routes = table(("621700", "621799", "nowhere"))
        assert routes.host_for("6217001234567890") is None
        assert routes.host_for("6218001234567890") == "a"

    def test_it_still_shadows_the_wider_ranges_it_lies_in(self) -> None:
        routes = table(("6", "6", "b"), ("621700", "621799", "nowhere"))
        assert routes.host_for("6217001234567890") is None
        assert routes.host_for("6218001234567890") == "b"


def naive_host_for(ranges: list[CardRange], pan: str, default_host: str) -> str | None:
    """The definition, read literally: every matching range, narrowest first, oldest first."""
    matches = [
        (-len(card_range.bin_low), int(card_range.bin_high) - int(card_range.bin_low), order,
         card_range.host_name)
        for order, card_range in enumerate(ranges)
        if card_range.bin_low <= pan[:len(card_range.bin_low)] <= card_range.bin_high
        and len(pan) >= len(card_range.bin_low)
    ]
    if not matches:
        return default_host
    host = min(matches)[3]
    return host if host in HOSTS else None


@st.composite
def card_ranges(draw: st.DrawFn) -> CardRange:
    length = draw(st.integers(1, 4))
    low = draw(st.integers(0, 10**length - 1))
    high = draw(st.integers(low, min(10**length - 1, low + draw(st.sampled_from([0, 3, 50, 999])))))
    host = draw(st.sampled_from([*HOSTS, "nowhere"]))
    return CardRange(f"{low:0{length}d}", f"{high:0{length}d}", host)


PANS = st.text(alphabet="0123456789", min_size=16, max_size=19)


@settings(max_examples=200, deadline=None)
@given(ranges=st.lists(card_ranges(), max_size=12), pans=st.lists(PANS, min_size=1, max_size=10))
def test_lookup_agrees_with_the_definition(ranges: list[CardRange], pans: list[str]) -> None:
    routes = RouteTable(ranges, default_host="a", known_hosts=HOSTS)
    probes = pans + [card_range.bin_low + pans[0] for card_range in ranges] + \
        [card_range.bin_high + pans[0] for card_range in ranges]
    for pan in probes:
        assert routes.host_for(pan) == naive_host_for(ranges, pan, "a"), pan
