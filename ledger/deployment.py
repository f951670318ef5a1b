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
    anchors_address: str
    block_number: int
    deployer: str
    #: Hash of the compiler input the deployed code was compiled from (see the artifacts).
    source_hash: str
    points_tx: str
    badges_tx: str
    anchors_tx: str
    #: The city's time zone: its name, and its offset the contract's daily cap uses.
    time_zone: str = "Asia/Seoul"
    day_offset_seconds: int = 32_400

    @property
    def contracts(self) -> dict[str, str]:
        """Addresses by the names the ledger uses for them."""
        return {"points": self.points_address, "badges": self.badges_address, "anchors": self.anchors_address}

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
            raise DeploymentError(
                f"deployment record {path} does not match this version of the ledger ({exc}): "
                "deploy again, or use the release that wrote it"
            ) from exc
