"""System-test fixtures: the real service as a subprocess (see ``harness``), on the embedded
chain as scripts/run starts it, or over a real anvil node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.node import AnvilNode, anvil_binary
from ledger.errors import ConfigurationError

from .harness import Service


def anvil_available() -> bool:
    try:
        anvil_binary()
    except ConfigurationError:
        return False
    return True


requires_anvil = pytest.mark.skipif(not anvil_available(), reason="anvil not installed (npm ci)")


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service as scripts/run starts it: the demo club seeded, then `civic serve`; shared by
    a module's journeys."""
    yield from Service(tmp_path_factory.mktemp("embedded") / "var").running()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    """anvil on a free port, its state dumped to ``tmp_path`` (every second and on stop)."""
    anvil = AnvilNode(state_path=tmp_path / "anvil" / "state.json").start()
    try:
        yield anvil
    finally:
        anvil.stop()


@pytest.fixture
def node_service(tmp_path: Path, node: AnvilNode) -> Iterator[Service]:
    """The service over ``node``, after `civic deploy` and `civic staff-token`."""
    yield from Service(tmp_path / "service", node=node).running()
