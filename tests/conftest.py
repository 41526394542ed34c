"""Shared fixtures. Tests run offline on real sample data vendored in tests/data (see its README.md)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = Path(os.environ.get("TSMAP_SHARED", ROOT.parent / "shared"))
DEMO_SIZE = 64


def data_path(*parts: str) -> Path:
    """A vendored extract of real data under tests/data (always there: a missing one is an error, not a skip)."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: tests/data/README.md lists the vendored files")
    return path


def shared_path(*parts: str) -> Path:
    """A path under ../shared (data not vendored, e.g. for lack of a licence), skipping the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not available: {path} is absent (it lives in the project's ../shared "
                    "and is not vendored in tests/data)")
    return path


@pytest.fixture(scope="session")
def demo_scene(tmp_path_factory):
    """A small synthetic scene (COGs + static STAC catalog), built once per test session."""
    from tsmap.synthetic import make_scene

    return make_scene(str(tmp_path_factory.mktemp("scene")), size=DEMO_SIZE)


@pytest.fixture()
def no_compute():
    """A dask scheduler that fails if anything computes: proves laziness."""
    import dask

    def _boom(*args, **kwargs):
        raise AssertionError("something computed while it should have stayed lazy")

    with dask.config.set(scheduler=_boom):
        yield


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """The CLI configures the root logger (``--quiet`` sets it to ERROR, with a stderr handler): undo that after
    each test, so that what a later test logs, and what ``caplog`` sees, does not depend on the test order."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in root.handlers[:]:
        if type(handler) is logging.StreamHandler and handler not in handlers:
            root.removeHandler(handler)


@pytest.fixture(autouse=True, scope="session")
def _text_cache_in_tmp(tmp_path_factory):
    """Text embeddings are cached on disk: keep the tests' cache out of the user's cache folder."""
    old = os.environ.get("TSMAP_CACHE_DIR")
    os.environ["TSMAP_CACHE_DIR"] = str(tmp_path_factory.mktemp("tsmap-cache"))
    yield
    if old is None:
        os.environ.pop("TSMAP_CACHE_DIR", None)
    else:
        os.environ["TSMAP_CACHE_DIR"] = old
