"""Starting the service: the chain, the store and the context every service works with.

The service never seeds anything: the demo club is a development tool (``civic demo``) that
``scripts/run`` runs before ``civic serve``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from ledger import Ledger, LedgerSettings, connect, deploy_ledger, open_ledger
from ledger.deployment import Deployment
from ledger.errors import ChainInUse, ConfigurationError

from .outbox import SqlOutbox
from .services.context import Context
from .services.security import Cipher
from .settings import ApiSettings, default_database_url
from .store import Store

__all__ = ["LazyLedger", "build_context", "lazy_context", "store_for", "worker_app"]


def store_for(settings: ApiSettings, ledger_settings: LedgerSettings) -> Store:
    """The store at the configured URL (or its default), migrated to the newest schema."""
    store = Store(settings.database_url or default_database_url(ledger_settings))
    store.migrate()
    return store


def _secret_file(path: Path) -> str:
    """A development data key kept beside the embedded chain (owner-readable only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
    return path.read_text().strip()


def _settings(ledger_settings: LedgerSettings, settings: ApiSettings | None) -> ApiSettings:
    settings = settings or ApiSettings()
    if ledger_settings.embedded:
        if ledger_settings.embedded_dir is None:
            raise ConfigurationError("the service needs a durable chain: set CIVIC_EMBEDDED_DIR or CIVIC_RPC_URL")
        # The chain's journal, the store and the data key are the city's: owner-readable only.
        ledger_settings.embedded_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(ledger_settings.embedded_dir, 0o700)
        if settings.data_key is None:
            key = _secret_file(ledger_settings.embedded_dir / "data.key")
            settings = settings.model_copy(update={"data_key": SecretStr(key)})
    if settings.data_key is None:
        raise ConfigurationError("CIVIC_DATA_KEY is required: a Fernet key encrypting personal data at rest")
    return settings


class LazyLedger:
    """A ledger opened on first use. A command that only records intents for the running
    service's writer never opens the chain (the embedded chain admits one process)."""

    def __init__(self, ledger_settings: LedgerSettings, outbox: SqlOutbox) -> None:
        self._settings = ledger_settings
        self._outbox = outbox
        self._ledger: Ledger | None = None
        self.deployment = Deployment.load(ledger_settings.deployment_file)

    @property
    def readable(self) -> bool:
        """Whether this process can read the chain: not while the running service holds the
        embedded chain (its writer then carries out this process's intents)."""
        try:
            self._open()
        except ChainInUse:
            return False
        return True

    def _open(self) -> Ledger:
        if self._ledger is None:
            self._ledger = open_ledger(self._settings, outbox=self._outbox, deployment=self.deployment)
        return self._ledger

    def __getattr__(self, name: str) -> object:
        if self._ledger is None:
            self._ledger = open_ledger(self._settings, outbox=self._outbox, deployment=self.deployment)
        return getattr(self._ledger, name)


def lazy_context(ledger_settings: LedgerSettings, settings: ApiSettings | None = None) -> Context:
    """A context over the store whose ledger opens only when used."""
    settings = _settings(ledger_settings, settings)
    store = store_for(settings, ledger_settings)
    ledger = LazyLedger(ledger_settings, SqlOutbox(store))
    return Context(settings, store, ledger, Cipher(settings.data_key.get_secret_value()))  # type: ignore[arg-type,union-attr]


def worker_app() -> object:
    """One of several API worker processes (``civic serve --workers N``), over a node."""
    from .app import create_app

    return create_app(build_context(LedgerSettings()))


def build_context(
    ledger_settings: LedgerSettings, settings: ApiSettings | None = None, *, deploy: bool | None = None
) -> Context:
    """Connects to the chain and the store. On the embedded chain (kept in CIVIC_EMBEDDED_DIR)
    the contracts are deployed on the first start; on a node, ``civic deploy`` does that."""
    settings = _settings(ledger_settings, settings)
    embedded = ledger_settings.embedded
    store = store_for(settings, ledger_settings)
    outbox = SqlOutbox(store)
    chain = connect(ledger_settings)
    deployment_file = ledger_settings.deployment_file
    if deployment_file.exists():
        ledger: Ledger = open_ledger(
            ledger_settings, outbox=outbox, chain=chain, deployment=Deployment.load(deployment_file)
        )
    elif deploy if deploy is not None else embedded:
        ledger = deploy_ledger(
            ledger_settings,
            outbox=outbox,
            chain=chain,
            max_points_per_award=500,
            daily_cap=settings.daily_points_cap,
            metadata_base_url=settings.public_base_url,
        )
        ledger.deployment.save(deployment_file)
    else:
        raise ConfigurationError(f"no deployment record at {deployment_file}: run `civic deploy` first")
    return Context(settings, store, ledger, Cipher(settings.data_key.get_secret_value()))  # type: ignore[union-attr]
