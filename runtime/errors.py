"""Errors of running Jifen's processes.

    ConfigError     the configuration file or environment is wrong; the message names the field
"""


class ConfigError(Exception):
    pass
