"""The deployment record: which chain and addresses every later command works with."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import DeploymentError

__all__ = ["Deployment"]


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    points_address: str
    badges_address: str
    block_number: int
    deployer: str
    source_hash: str
    points_tx: str
    badges_tx: str

    def save(self, path: Path) -> None:
        """Writes the record atomically: a crash never leaves a half-written file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".deployment-")
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise DeploymentError(f"no deployment record at {path}: run `civic deploy` first") from exc
        except json.JSONDecodeError as exc:
            raise DeploymentError(f"deployment record {path} is not valid JSON: {exc}") from exc
        try:
            return cls(**raw)
        except TypeError as exc:
            raise DeploymentError(f"deployment record {path} has unexpected fields: {exc}") from exc
