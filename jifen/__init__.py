"""Composition root: the `jifen` command line and `jifen up`.

It imports every package and wires them together; none of them imports it
(docs/architecture.md, checked by tests/architecture).
"""
