"""TMKs at rest: sealed under the KEK, opened only by it; the KEK from env or a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from acquirer_front.keystore import (
    SESSION_KEY_PURPOSE,
    TMK_PURPOSE,
    KeyStore,
    KeyStoreError,
    load_kek,
    open_key,
    open_unbound_key,
    seal_key,
)
from proto.keys.sealing import seal

KEK = bytes(range(32))
TMK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
CODE = "TERM0001"


class TestSeal:
    def test_round_trip_and_never_clear(self) -> None:
        sealed = seal_key(KEK, TMK, CODE)
        assert TMK not in sealed and sealed != seal_key(KEK, TMK, CODE)  # a fresh nonce each time
        assert open_key(KEK, sealed, CODE) == TMK

    def test_aes_128_kek_works_too(self) -> None:
        store = KeyStore(bytes(16))
        assert store.open(store.seal(TMK, CODE), CODE) == TMK

    def test_wrong_kek_or_damage_is_an_error_not_garbage(self) -> None:
        sealed = seal_key(KEK, TMK, CODE)
        with pytest.raises(KeyStoreError, match="does not open"):
            open_key(bytes(32), sealed, CODE)
        damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
        with pytest.raises(KeyStoreError):
            open_key(KEK, damaged, CODE)
        with pytest.raises(KeyStoreError, match="format"):
            open_key(KEK, b"\x03" + sealed[1:], CODE)

    def test_a_key_copied_to_another_terminal_does_not_open(self) -> None:
        sealed = seal_key(KEK, TMK, CODE)
        assert sealed[0] == 2  # the layout's version of a key bound to its terminal
        with pytest.raises(KeyStoreError, match="does not open"):
            open_key(KEK, sealed, "TERM0002")
        session = seal_key(KEK, TMK, CODE, SESSION_KEY_PURPOSE)
        with pytest.raises(KeyStoreError, match="does not open"):
            open_key(KEK, session, "TERM0002", SESSION_KEY_PURPOSE)

    def test_a_key_bound_to_its_purpose_only_opens_only_for_the_migration(self) -> None:
        old = seal(KEK, TMK, TMK_PURPOSE)  # as sealed before migration 009 (version 1)
        with pytest.raises(KeyStoreError, match="format"):
            open_key(KEK, old, CODE)
        with pytest.raises(KeyStoreError):
            open_key(KEK, b"\x02" + old[1:], CODE)  # relabelling it does not help
        assert open_unbound_key(KEK, old, TMK_PURPOSE) == TMK

    def test_repr_hides_the_kek(self) -> None:
        assert KEK.hex() not in repr(KeyStore(KEK))


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
