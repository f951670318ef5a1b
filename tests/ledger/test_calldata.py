"""The award batch's calldata is built by hand for speed: it must be byte for byte what the ABI
says (eth_abi, and web3 from the compiled contract's ABI), for any batch the contract accepts."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import function_abi_to_4byte_selector
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import ActivityAward, Metrics, load_artifact
from ledger._ledger import award_batch_calldata

U32 = st.integers(0, 2**32 - 1)

awards = st.builds(
    ActivityAward,
    activity_id=st.integers(1, 2**64 - 1),
    citizen=st.binary(min_size=20, max_size=20).filter(any).map(lambda b: "0x" + b.hex()),
    points=st.integers(1, 2**32 - 1),
    kind=st.integers(0, 255),
    metrics=st.builds(Metrics, U32, U32, U32, U32),
    evidence_hash=st.binary(min_size=32, max_size=32),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(awards, max_size=20))
def test_award_batch_calldata_is_the_abi_encoding(batch: list[ActivityAward]) -> None:
    (abi,) = [f for f in load_artifact("CivicPoints")["abi"] if f.get("name") == "awardPointsBatch"]
    expected = function_abi_to_4byte_selector(abi) + encode(
        ["(uint256,uint256,bytes32)[]"], [[a.packed() for a in batch]]
    )
    assert award_batch_calldata(batch) == expected
