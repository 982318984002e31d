"""Errors of running Jifen's processes.

    ConfigError     the configuration file or environment is wrong; the message names the field
    PkiError        the links' CA or certificates cannot be created or read (`runtime.pki`)
"""


class ConfigError(Exception):
    pass


class PkiError(Exception):
    pass
