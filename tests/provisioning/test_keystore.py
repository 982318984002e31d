"""TMKs at rest: sealed under the KEK, opened only by it; the KEK from env or a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from acquirer_front.keystore import KeyStore, KeyStoreError, load_kek, open_key, seal_key

KEK = bytes(range(32))
TMK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


class TestSeal:
    def test_round_trip_and_never_clear(self) -> None:
        sealed = seal_key(KEK, TMK)
        assert TMK not in sealed and sealed != seal_key(KEK, TMK)  # a fresh nonce each time
        assert open_key(KEK, sealed) == TMK

    def test_aes_128_kek_works_too(self) -> None:
        store = KeyStore(bytes(16))
        assert store.open(store.seal(TMK)) == TMK

    def test_wrong_kek_or_damage_is_an_error_not_garbage(self) -> None:
        sealed = seal_key(KEK, TMK)
        with pytest.raises(KeyStoreError, match="does not open"):
            open_key(bytes(32), sealed)
        damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
        with pytest.raises(KeyStoreError):
            open_key(KEK, damaged)
        with pytest.raises(KeyStoreError, match="format"):
            open_key(KEK, b"\x02" + sealed[1:])

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
