"""Test modules need unique basenames: the test folders have no __init__.py, so pytest
imports each module by its basename and a second file of the same name fails collection
of the whole suite (as tests/runtime/test_ops_pool.py once did)."""

from collections import Counter
from pathlib import Path


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in Path(__file__).parent.rglob("*.py")
                    if "plugin_pkg" not in p.parts)
    assert [n for n, k in names.items() if k > 1] == []
