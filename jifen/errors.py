"""Errors of the command line.

    CliError            a clear message for the operator, exit code 2 by default
    └── ConfigError     the configuration file or environment is wrong
"""


class CliError(Exception):
    exit_code = 2


class ConfigError(CliError):
    pass
