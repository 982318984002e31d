"""Composition root: configuration, the `jifen` command line, and `jifen up`.

The components (proto, acquirer_front, switch, account_host, clearing, devices, loadtest) never
import this package; it imports them and wires them together.
"""
