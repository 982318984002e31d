"""Balances and lots by account id (account_host/account_columns.py) against plain dicts:
random operations on ids near each other, on page edges and far apart (another partition's
base), read back the same through every way the host reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from account_host.account_columns import AccountLots, Balances

# Dense ids, the edges of the first pages, and ids far away (2^48: a partition's base).
ACCOUNT_IDS = (st.integers(1, 10_000) | st.sampled_from([4095, 4096, 4097, 8191, 8192])
               | st.integers(2**48, 2**48 + 5_000) | st.integers(2**62, 2**63 - 1))
BALANCES = st.integers(-(2**63), 2**63 - 1)
PACKED = st.binary(min_size=8, max_size=104)

BALANCE_OPS = st.lists(st.one_of(
    st.tuples(st.just("set"), ACCOUNT_IDS, BALANCES),
    st.tuples(st.just("setdefault"), ACCOUNT_IDS, BALANCES),
    st.tuples(st.just("del"), ACCOUNT_IDS, st.just(0)),
), max_size=60)
LOT_OPS = st.lists(st.one_of(
    st.tuples(st.just("set"), ACCOUNT_IDS, PACKED),
    st.tuples(st.just("setdefault"), ACCOUNT_IDS, PACKED),
    st.tuples(st.just("pop"), ACCOUNT_IDS, st.just(b"")),
), max_size=60)


@given(BALANCE_OPS, st.lists(ACCOUNT_IDS, max_size=10))
def test_balances_read_back_as_a_dict_would(
    ops: list[tuple[str, int, int]], probes: list[int],
) -> None:
    balances, model = Balances(), dict[int, int]()
    for op, account_id, balance in ops:
        if op == "set":
            balances[account_id] = model[account_id] = balance
        elif op == "setdefault":
            assert balances.setdefault(account_id, balance) == \
                model.setdefault(account_id, balance)
        elif account_id in model:
            del balances[account_id], model[account_id]
        else:
            with pytest.raises(KeyError):
                del balances[account_id]
    assert len(balances) == len(model)
    assert list(balances.items()) == sorted(model.items())
    for account_id in [*model, *probes]:
        assert (account_id in balances) == (account_id in model)
        assert balances.get(account_id) == model.get(account_id, 0)
        assert balances.get(account_id, -1) == model.get(account_id, -1)
        if account_id not in model:
            with pytest.raises(KeyError):
                balances[account_id]   # noqa: B018 (the lookup is the test)


def test_an_account_with_balance_zero_exists_and_one_never_created_does_not() -> None:
    balances = Balances()
    balances[7] = 0
    assert 7 in balances and 8 not in balances and len(balances) == 1
    assert balances.get(8, 99) == 99 and balances.get(7, 99) == 0
    assert "7" not in balances and -7 not in balances   # not ids: never found


def test_a_balance_past_the_columns_64_bits_raises_rather_than_wraps() -> None:
    balances = Balances()
    balances[1] = 2**63 - 1
    with pytest.raises(OverflowError):
        balances[1] += 1
    assert balances[1] == 2**63 - 1


@given(st.lists(st.tuples(ACCOUNT_IDS, BALANCES, st.none() | st.binary(max_size=24)),
                max_size=40), st.lists(st.tuples(ACCOUNT_IDS, BALANCES, PACKED), max_size=5))
def test_a_load_in_one_call_is_setting_one_by_one(
    rows: list[tuple[int, int, bytes | None]], earlier: list[tuple[int, int, bytes]],
) -> None:
    balances, lots = Balances(), AccountLots()
    balance_model, lots_model = dict[int, int](), dict[int, bytes]()
    for account_id, balance, packed in earlier:
        balances[account_id] = balance_model[account_id] = balance
        lots[account_id] = lots_model[account_id] = packed
    balances.update_from([row[0] for row in rows], [row[1] for row in rows])
    lots.update_from([row[0] for row in rows], [row[2] for row in rows])
    for account_id, balance, packed in rows:
        balance_model[account_id] = balance
        if packed:
            lots_model[account_id] = packed
    assert (len(balances), list(balances.items())) == \
        (len(balance_model), sorted(balance_model.items()))
    assert (len(lots), list(lots.items())) == (len(lots_model), sorted(lots_model.items()))


@given(LOT_OPS, st.lists(ACCOUNT_IDS, max_size=10))
def test_lots_read_back_as_a_dict_would(
    ops: list[tuple[str, int, bytes]], probes: list[int],
) -> None:
    lots, model = AccountLots(), dict[int, bytes]()
    for op, account_id, packed in ops:
        if op == "set":
            lots[account_id] = model[account_id] = packed
        elif op == "setdefault":
            assert lots.setdefault(account_id, packed) == model.setdefault(account_id, packed)
        else:
            assert lots.pop(account_id, None) == model.pop(account_id, None)
    assert len(lots) == len(model)
    assert list(lots.items()) == sorted(model.items())
    for account_id in [*model, *probes]:
        assert (account_id in lots) == (account_id in model)
        assert lots.get(account_id) == model.get(account_id)
        assert lots.get(account_id, b"x") == model.get(account_id, b"x")


def test_an_account_without_lots_is_absent_not_empty() -> None:
    lots = AccountLots()
    with pytest.raises(AssertionError):
        lots[3] = b""
    assert 3 not in lots and len(lots) == 0
