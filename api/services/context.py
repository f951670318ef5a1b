"""What every service works with: settings, the store, the ledger, the cipher and the rules."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ledger import Ledger

from ..settings import ApiSettings
from ..store import Lease, Store, utcnow
from .rules import ClaimRules
from .security import Cipher

__all__ = ["Context", "Leases", "writer_lease"]


class Leases:
    """Database leases: at most one holder of each name at a time (the chain writer for a key,
    the indexer), taken over within ``ttl`` seconds when the holder stops renewing (it died)."""

    def __init__(self, store: Store, holder: str, ttl: float = 5.0) -> None:
        self.store = store
        self.holder = holder
        self.ttl = ttl

    def hold(self, name: str) -> bool:
        """Takes or renews ``name``; True while this process holds it."""
        now = utcnow()
        until = now + timedelta(seconds=self.ttl)
        with self.store.session() as session:
            taken = session.execute(
                update(Lease)
                .where(Lease.name == name, (Lease.holder == self.holder) | (Lease.expires_at < now))
                .values(holder=self.holder, expires_at=until)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                session.commit()
                return True
            if session.get(Lease, name) is not None:
                return False
            session.add(Lease(name=name, holder=self.holder, expires_at=until))
            try:
                session.commit()
            except IntegrityError:  # another process created it first
                return False
            return True

    def holds(self, name: str) -> bool:
        with self.store.session() as session:
            lease = session.get(Lease, name)
            return lease is not None and lease.holder == self.holder and lease.expires_at > utcnow()

    def release(self, name: str) -> None:
        with self.store.session() as session:
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == self.holder))
            session.commit()

    def alive(self, process_id: str) -> bool:
        """Whether the process ``process_id`` still renews its liveness lease."""
        return self.holder_of(f"process:{process_id}") == process_id

    def holder_of(self, name: str) -> str | None:
        with self.store.session() as session:
            lease = session.scalar(select(Lease).where(Lease.name == name, Lease.expires_at > utcnow()))
            return None if lease is None else lease.holder


@dataclass
class Context:
    settings: ApiSettings
    store: Store
    ledger: Ledger
    cipher: Cipher
    #: The city's published rules, when not those the settings give (speed, age limit).
    custom_rules: ClaimRules | None = None
    #: This process's identity in leases and idempotency records.
    process_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: Notified when this process finishes an intent: waiters in this process wake at once and
    #: look in ``finished_ids`` before asking the database.
    finished: threading.Condition = field(default_factory=threading.Condition)
    finished_ids: set[str] = field(default_factory=set)
    #: Called when this process's writer has mined something (the indexer looks at once).
    on_chain_moved: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.leases = Leases(self.store, self.process_id)
        self.rules: ClaimRules = self.custom_rules or ClaimRules.from_settings(self.settings)

    def chain_moved(self) -> None:
        for listener in self.on_chain_moved:
            listener()

    @property
    def writer_lease(self) -> str:
        """One chain writer per deployment (the city's one operating key), whichever process
        holds it."""
        return writer_lease(self.ledger.deployment.chain_id, self.ledger.deployment.points_address)


def writer_lease(chain_id: int, points_address: str) -> str:
    return f"chain-writer:{chain_id}:{points_address}"
