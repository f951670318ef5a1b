"""Settings, the chain connection and the signing key, all from the environment (``CIVIC_``)."""

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

from .errors import ChainUnavailable, ConfigurationError

__all__ = ["LedgerSettings", "advance_chain_time", "connect", "embedded_funder", "load_signer"]


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
    embedded_dir: Path | None = Path("var/embedded")
    #: Where `deploy` writes the deployment record and later commands read it (default: beside
    #: the embedded chain, or var/deployment.json for a node).
    deployment_path: Path | None = None
    #: "estimate" asks the node (fast on real nodes); "preflight" runs one eth_call and sends a
    #: fixed gas budget (on eth-tester an estimate costs a dozen executions). Default by backend.
    gas_strategy: Literal["estimate", "preflight"] | None = None
    #: Blocks that must follow a record before it is reported final (0 on the embedded chain,
    #: whose single node cannot reorganise; raise it on a public chain).
    confirmations: int = 0
    #: Seconds to wait for a receipt, and how often to poll for it.
    receipt_timeout: float = 120.0
    receipt_poll: float = 0.02

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


def connect(settings: LedgerSettings) -> Web3:
    """A Web3 bound to the configured backend: eth-tester in-process, or a JSON-RPC node."""
    if settings.rpc_url is None:
        if settings.embedded_dir is not None:
            from .embedded import open_durable_chain

            return open_durable_chain(settings.embedded_dir)
        w3 = Web3(EthereumTesterProvider())
    else:
        # The validation middleware asks eth_chainId before every call; the chain id cannot change
        # under a running ledger, so cacheable requests like it are cached.
        provider = Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}, cache_allowed_requests=True)
        w3 = Web3(provider)
        try:
            _ = w3.eth.chain_id
        except Exception as exc:  # requests and web3 raise several kinds here
            raise ChainUnavailable(f"cannot reach the node at {settings.rpc_url}: {exc}") from exc
    return w3


def load_signer(settings: LedgerSettings) -> LocalAccount:
    """The operating account, from an encrypted keystore or a secret in the environment."""
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
        return Account.from_key(key)
    if settings.private_key is not None:
        try:
            return Account.from_key(settings.private_key.get_secret_value())
        except (ValueError, TypeError) as exc:
            raise ConfigurationError("CIVIC_PRIVATE_KEY is not a valid private key") from exc
    raise ConfigurationError("no signing key: set CIVIC_PRIVATE_KEY, or CIVIC_KEYSTORE_PATH and _PASSWORD")


def embedded_funder(w3: Web3) -> LocalAccount | None:
    """On the embedded chain, an account of eth-tester's genesis allocation that can fund others."""
    provider = w3.provider
    if not isinstance(provider, EthereumTesterProvider):
        return None
    tester: Any = provider.ethereum_tester
    key = tester.backend.account_keys[0]
    return Account.from_key(key.to_bytes())


def advance_chain_time(w3: Web3, seconds: int) -> None:
    """Moves a development chain's clock forward and mines a block (eth-tester or anvil/hardhat)."""
    from .embedded import DurableTesterProvider

    provider = w3.provider
    if isinstance(provider, DurableTesterProvider):
        provider.advance_time(seconds)
        return
    if isinstance(provider, EthereumTesterProvider):
        tester: Any = provider.ethereum_tester
        tester.time_travel(int(w3.eth.get_block("latest")["timestamp"]) + seconds)
        tester.mine_blocks()
        return
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
