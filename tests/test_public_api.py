from __future__ import annotations

import importlib.metadata

import mioesim_async


def test_all_is_sorted():
    """__all__ is kept sorted, so additions are easy to review."""
    assert mioesim_async.__all__ == sorted(mioesim_async.__all__)


def test_all_is_complete():
    """Every public name defined by the package is exported, and only those."""
    public = {
        name
        for name, value in vars(mioesim_async).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("mioesim_async")
    }
    assert public == set(mioesim_async.__all__) - {"__version__"}


def test_exported_names_say_where_they_come_from():
    for name in mioesim_async.__all__:
        assert hasattr(mioesim_async, name), name


def test_version_matches_the_installed_metadata():
    assert mioesim_async.__version__ == importlib.metadata.version("mioesim-async")
