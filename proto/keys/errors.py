"""Errors of the keys at rest.

    KeyStoreError            a key is missing, malformed or too open, or a sealed value does
                             not open (wrong key, wrong purpose or owner, damaged)
"""


class KeyStoreError(Exception):
    pass
