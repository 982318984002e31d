"""Terminal keys at rest: sealed to the front's key pair, opened only by its private half; the
earlier layouts under the KEK open only for the migrations; the KEK from env or a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from acquirer_front.keystore import (
    SESSION_KEY_PURPOSE,
    TMK_PURPOSE,
    KeyStore,
    KeyStoreError,
    TmkSealer,
    open_unbound_key,
    open_under_kek,
    seal_under_kek,
)
from proto.keys import load_kek
from proto.keys.sealed_box import public_key_of
from proto.keys.sealing import seal

KEK = bytes(range(32))
PRIVATE_KEY = bytes(range(100, 132))
TMK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
CODE = "TERM0001"


class TestSealedToTheFront:
    def test_round_trip_and_never_clear(self) -> None:
        sealer = TmkSealer(public_key_of(PRIVATE_KEY))
        sealed = sealer.seal(TMK, CODE)
        assert TMK not in sealed and sealed != sealer.seal(TMK, CODE)  # fresh each time
        assert sealed[0] == 3  # the layout's version of a key sealed to the front
        assert KeyStore(PRIVATE_KEY).open(sealed, CODE) == TMK

    def test_another_key_pair_or_damage_is_an_error_not_garbage(self) -> None:
        sealed = KeyStore(PRIVATE_KEY).seal(TMK, CODE)
        with pytest.raises(KeyStoreError, match="does not open"):
            KeyStore(bytes(32)).open(sealed, CODE)
        for position in (1, 40, len(sealed) - 1):  # the ephemeral key, the nonce, the tag
            damaged = bytearray(sealed)
            damaged[position] ^= 1
            with pytest.raises(KeyStoreError):
                KeyStore(PRIVATE_KEY).open(bytes(damaged), CODE)
        with pytest.raises(KeyStoreError, match="format"):
            KeyStore(PRIVATE_KEY).open(b"\x02" + sealed[1:], CODE)

    def test_a_key_copied_to_another_terminal_or_purpose_does_not_open(self) -> None:
        store = KeyStore(PRIVATE_KEY)
        with pytest.raises(KeyStoreError, match="does not open"):
            store.open(store.seal(TMK, CODE), "TERM0002")
        with pytest.raises(KeyStoreError, match="does not open"):
            store.open(store.seal(TMK, CODE, SESSION_KEY_PURPOSE), CODE)

    def test_keys_under_the_kek_open_only_for_the_migrations(self) -> None:
        store = KeyStore(PRIVATE_KEY)
        bound = seal_under_kek(KEK, TMK, CODE, TMK_PURPOSE)  # before 010 (version 2)
        with pytest.raises(KeyStoreError, match="format"):
            store.open(bound, CODE)
        with pytest.raises(KeyStoreError, match="does not open"):
            open_under_kek(KEK, bound, "TERM0002", TMK_PURPOSE)
        assert open_under_kek(KEK, bound, CODE, TMK_PURPOSE) == TMK
        old = seal(KEK, TMK, TMK_PURPOSE)  # before 009 (version 1)
        with pytest.raises(KeyStoreError, match="format"):
            store.open(old, CODE)
        with pytest.raises(KeyStoreError):
            open_under_kek(KEK, b"\x02" + old[1:], CODE, TMK_PURPOSE)  # relabelling fails
        assert open_unbound_key(KEK, old, TMK_PURPOSE) == TMK

    def test_repr_hides_the_private_key(self) -> None:
        assert PRIVATE_KEY.hex() not in repr(KeyStore(PRIVATE_KEY))


class TestLoadKek:
    def test_environment_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("JIFEN_KEK", KEK.hex())
        assert load_kek(str(tmp_path / "kek.hex")) == KEK
        assert not (tmp_path / "kek.hex").exists()

    def test_bad_environment_value(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("JIFEN_KEK", "abcd")
        with pytest.raises(KeyStoreError, match="32 or 64"):
            load_kek(None)
        monkeypatch.setenv("JIFEN_KEK", "zz" * 16)
        with pytest.raises(KeyStoreError, match="not hex"):
            load_kek(None)

    def test_file_is_created_private_once(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("JIFEN_KEK", raising=False)
        path = tmp_path / "var" / "kek.hex"
        kek = load_kek(str(path))
        assert len(kek) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_kek(str(path)) == kek
        assert [entry.name for entry in path.parent.iterdir()] == ["kek.hex"]

    def test_a_file_others_can_read_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("JIFEN_KEK", raising=False)
        path = tmp_path / "kek.hex"
        path.write_text(KEK.hex())
        path.chmod(0o644)
        with pytest.raises(KeyStoreError, match="chmod 600"):
            load_kek(str(path))
        path.chmod(0o600)
        assert load_kek(str(path)) == KEK
