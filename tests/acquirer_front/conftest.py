"""Fixtures of the front's tests.

pytest's default import mode puts tests/ on sys.path, where the directory tests/acquirer_front
(and tests/proto, tests/switch) would shadow the real packages as namespace packages, since the
editable install's finder comes after the path finder. The repository root first fixes that
(the same as `pythonpath = ["."]` in pytest's settings).
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_DIR = str(Path(__file__).resolve().parents[2])
if _REPO_DIR not in sys.path:
    sys.path.insert(0, _REPO_DIR)
for _name in ("acquirer_front", "proto"):
    if getattr(sys.modules.get(_name), "__file__", "") is None:
        del sys.modules[_name]   # a namespace package imported through tests/ by mistake
