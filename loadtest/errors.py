"""Errors of the load test; the CLI prints them as one clear line.

    LoadtestError                 the load test could not run (nothing measured is trusted)
    ├── UsageError            an option is malformed (mix, skew, address, override)
    ├── SetupError            the system under test could not be started or provisioned
    ├── FleetError            terminals could not connect or sign on
    └── ReferenceRunError     a reference (pgbench, bare front) failed to run

Errors *of the system under test* (unexpected answer codes, lost answers) are results, counted
and printed in the table, never exceptions.
"""


class LoadtestError(Exception):
    pass


class UsageError(LoadtestError):
    pass


class SetupError(LoadtestError):
    pass


class FleetError(LoadtestError):
    pass


class ReferenceRunError(LoadtestError):
    pass
