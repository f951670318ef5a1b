"""Settings, and the one place that turns them into a connected :class:`Ledger`.

Every setting reads ``CIVIC_<NAME>`` from the environment. :func:`connect` gives the chain (the
embedded eth-tester chain, durable or in memory, or a JSON-RPC node); :func:`open_ledger` gives a
ledger on it with every option wired: the command line, the service and the tests all use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from ._chain import Chain
from ._ledger import Ledger
from .deployment import Deployment
from .errors import ChainUnavailable, ConfigurationError
from .outbox import Outbox

__all__ = ["LedgerSettings", "connect", "embedded_funder", "load_signer", "open_ledger"]

#: Where the embedded chain, its store and its keys live unless CIVIC_EMBEDDED_DIR says otherwise.
DEFAULT_EMBEDDED_DIR = Path("var/embedded")


class LedgerSettings(BaseSettings):
    """How the ledger reaches its chain and signs. Every field reads ``CIVIC_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CIVIC_", extra="ignore")

    #: JSON-RPC URL of the node; unset means the embedded eth-tester chain.
    rpc_url: str | None = None
    #: Hex private key of the city's operating account.
    private_key: SecretStr | None = None
    #: Encrypted keystore (web3 secret storage) holding the operating key, and its password.
    keystore_path: Path | None = None
    keystore_password: SecretStr | None = None
    #: Where the embedded chain keeps its journal (it survives restarts); unset keeps it in memory.
    embedded_dir: Path | None = DEFAULT_EMBEDDED_DIR
    #: Where `deploy` writes the deployment record and later commands read it (default: beside
    #: the embedded chain, or var/deployment.json for a node).
    deployment_path: Path | None = None
    #: "estimate" asks the node (the default on a node); "preflight" runs one eth_call and sends
    #: a fixed gas budget; "budget" sends the budget unchecked (the default on the embedded chain,
    #: where an estimate costs a dozen executions). See ledger._transactions.
    gas_strategy: Literal["estimate", "preflight", "budget"] | None = None
    #: Blocks that must follow a record before it is reported final (0 on the embedded chain,
    #: whose single node cannot reorganise; raise it on a public chain).
    confirmations: int = 0
    #: Seconds to wait for a receipt, and how often to poll for it.
    receipt_timeout: float = 120.0
    receipt_poll: float = 0.02
    #: Seconds a transaction may wait unmined before it is replaced with a fee bump.
    replace_after: float = 30.0
    #: The city's time zone: the daily cap is a day there (fixed in the contract at deployment).
    time_zone: str = "Asia/Seoul"

    @property
    def embedded(self) -> bool:
        return self.rpc_url is None

    @property
    def deployment_file(self) -> Path:
        if self.deployment_path is not None:
            return self.deployment_path
        if self.embedded and self.embedded_dir is not None:
            return self.embedded_dir / "deployment.json"
        return Path("var/deployment.json")

    def sender_options(self) -> dict[str, Any]:
        return {
            "gas_strategy": self.gas_strategy,
            "receipt_timeout": self.receipt_timeout,
            "receipt_poll": self.receipt_poll,
            "replace_after": self.replace_after,
        }


def connect(settings: LedgerSettings) -> Chain:
    """The configured chain: eth-tester in-process (durable in ``embedded_dir``), or a node."""
    if settings.rpc_url is None:
        if settings.embedded_dir is not None:
            from .embedded import open_durable_chain

            return Chain(open_durable_chain(settings.embedded_dir))
        from .embedded import LockedTesterProvider

        return Chain(Web3(LockedTesterProvider()))
    # The validation middleware asks eth_chainId before every call; the chain id cannot change
    # under a running ledger, so cacheable requests like it are cached.
    provider = Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}, cache_allowed_requests=True)
    try:
        return Chain(Web3(provider))
    except ChainUnavailable as exc:
        raise ChainUnavailable(f"cannot reach the node at {settings.rpc_url}: {exc}") from exc


def load_signer(settings: LedgerSettings, chain: Chain | None = None) -> LocalAccount:
    """The operating account, from an encrypted keystore or a secret in the environment; on the
    embedded chain without one, its funded development account."""
    if settings.keystore_path is not None:
        if settings.keystore_password is None:
            raise ConfigurationError("CIVIC_KEYSTORE_PATH is set but CIVIC_KEYSTORE_PASSWORD is not")
        try:
            keyfile = json.loads(settings.keystore_path.read_text())
            key = Account.decrypt(keyfile, settings.keystore_password.get_secret_value())
        except FileNotFoundError as exc:
            raise ConfigurationError(f"keystore {settings.keystore_path} not found") from exc
        except ValueError as exc:
            raise ConfigurationError(f"cannot decrypt keystore {settings.keystore_path}: {exc}") from exc
        return Account.from_key(key)  # type: ignore[no-any-return]
    if settings.private_key is not None:
        try:
            return Account.from_key(settings.private_key.get_secret_value())  # type: ignore[no-any-return]
        except (ValueError, TypeError) as exc:
            raise ConfigurationError("CIVIC_PRIVATE_KEY is not a valid private key") from exc
    if chain is not None:
        funder = embedded_funder(chain)
        if funder is not None:
            return funder
    raise ConfigurationError("no signing key: set CIVIC_PRIVATE_KEY, or CIVIC_KEYSTORE_PATH and _PASSWORD")


def embedded_funder(chain: Chain) -> LocalAccount | None:
    """On the embedded chain, an account of eth-tester's genesis allocation that can fund others."""
    provider = chain._w3.provider
    if not isinstance(provider, EthereumTesterProvider):
        return None
    tester: Any = provider.ethereum_tester
    key = tester.backend.account_keys[0]
    return Account.from_key(key.to_bytes())  # type: ignore[no-any-return]


def open_ledger(
    settings: LedgerSettings,
    *,
    outbox: Outbox | None = None,
    chain: Chain | None = None,
    deployment: Deployment | None = None,
) -> Ledger:
    """A ledger on the configured chain and deployment, signing with the configured key."""
    chain = chain or connect(settings)
    return Ledger(
        chain,
        deployment or Deployment.load(settings.deployment_file),
        load_signer(settings, chain),
        confirmations=settings.confirmations,
        outbox=outbox,
        **settings.sender_options(),
    )


def deploy_ledger(
    settings: LedgerSettings, *, outbox: Outbox | None = None, chain: Chain | None = None, **kwargs: Any
) -> Ledger:
    """Deploys the contracts on the configured chain with the configured key."""
    chain = chain or connect(settings)
    return Ledger.deploy(
        chain,
        load_signer(settings, chain),
        time_zone=settings.time_zone,
        confirmations=settings.confirmations,
        outbox=outbox,
        **settings.sender_options(),
        **kwargs,
    )
