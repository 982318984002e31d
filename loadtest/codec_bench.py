"""Microseconds per ISO decode and encode of a typical 0200 purchase and its 0210 answer.

    python -m loadtest.codec_bench [--number 20000] [--repeat 7]

Prints the codec the system uses (proto.iso_codec) and, when it is there, the pyiso8583
reference it replaced, so the two figures come from the same run on the same machine. Each
figure is the minimum over the repeats of timeit's mean (the least disturbed run: other
processes share the 2 cores).
"""

from __future__ import annotations

import argparse
import functools
import timeit
from collections.abc import Callable

from proto import iso_codec

# A purchase as a terminal sends it (with a MAC in 64) and the answer the front returns.
PURCHASE = {
    "t": "0200", "2": "6280000000000001", "3": "000000", "4": "000000012345",
    "7": "1123101500", "11": "000042", "12": "101500", "13": "1123", "22": "021",
    "25": "00", "41": "TERM0001", "42": "MERCHANT0000001", "49": "156", "60": "000001",
    "64": "0123456789ABCDEF",
}
PURCHASE_ANSWER = {
    "t": "0210", "2": "6280000000000001", "3": "000000", "4": "000000012345",
    "11": "000042", "37": "332810000042", "38": "A00042", "39": "00", "41": "TERM0001",
    "42": "MERCHANT0000001", "49": "156",
    "54": "0001999C0000000012340060011560000000000000090999C000000000012",
    "60": "000001",
}


def _microseconds(function: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def _codecs() -> list[tuple[str, Callable, Callable]]:
    codecs = [("proto.iso_codec", iso_codec.decode_iso, iso_codec.encode_iso)]
    reference = getattr(iso_codec, "decode_iso_reference", None)
    if reference is not None:
        codecs.append(("pyiso8583 reference", reference, iso_codec.encode_iso_reference))
    return codecs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (the minimum is kept)")
    arguments = parser.parse_args()
    print(f"{'codec':<22}{'message':<8}{'decode µs':>11}{'encode µs':>11}")
    for name, decode, encode in _codecs():
        for message in (PURCHASE, PURCHASE_ANSWER):
            body = encode(message)
            assert decode(body) == message, "the codec round-trips its own message"
            decode_us = _microseconds(functools.partial(decode, body), arguments.number,
                                      arguments.repeat)
            encode_us = _microseconds(functools.partial(encode, message), arguments.number,
                                      arguments.repeat)
            print(f"{name:<22}{message['t']:<8}{decode_us:>11.2f}{encode_us:>11.2f}")


if __name__ == "__main__":
    main()
