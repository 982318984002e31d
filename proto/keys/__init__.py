"""Keys at rest, shared by every process that holds one: the KEK (`kek`), the sealed layout
(`sealing`), data keys per purpose (`data_keys`), and card numbers at rest (`cards`)."""

from proto.keys.cards import open_pan, pan_hmac, seal_pan
from proto.keys.data_keys import Purpose, open_data_keys
from proto.keys.errors import KeyStoreError
from proto.keys.kek import load_kek, parse_kek_hex
from proto.keys.sealing import open_sealed, seal

__all__ = [
    "KeyStoreError", "Purpose", "load_kek", "open_data_keys", "open_pan", "open_sealed",
    "pan_hmac", "parse_kek_hex", "seal", "seal_pan",
]
