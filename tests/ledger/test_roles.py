"""Access control: which role each privileged action needs, and granting and revoking roles."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from ledger import ActivityAward, BadgeIssued, Ledger, PointsRedeemed, Role, RoleChanged, Venue, errors
from ledger.records import ROLE_CONTRACTS
from tests.conftest import clock, contract, open_event


@pytest.fixture
def stranger(chain):
    """A funded account that holds no role."""
    return chain.new_account(funded=True)


@pytest.fixture
def as_stranger(chain, ledger, stranger):
    """A second Ledger bound to the same deployment, signing with ``stranger``."""
    return Ledger(chain.chain, ledger.deployment, stranger)


def denied(account, role):
    return {"account": account.address, "needed_role": role.role_id.hex()}


def role_logs(chain, ledger, name, event):
    """``(role, account, sender)`` of every ``event`` of contract ``name``, read with plain web3."""
    logs = getattr(contract(chain, ledger, name).events, event)().get_logs(from_block=0)
    return [(bytes(log["args"]["role"]), log["args"]["account"], log["args"]["sender"]) for log in logs]


def role_changes(results):
    return [
        (r.contract_name, r.role, r.account, r.granted, r.by)
        for result in results
        for r in result.records
        if isinstance(r, RoleChanged)
    ]


def test_role_contracts_name_where_each_role_is_granted():
    assert {role: role.contracts for role in Role} == {
        Role.ADMIN: ("points", "badges", "anchors"),
        Role.MINTER: ("points",),
        Role.ISSUER: ("badges",),
        Role.REDEEMER: ("points",),
        Role.PAUSER: ("points", "badges"),
        Role.ANCHOR: ("anchors",),
    }
    assert ROLE_CONTRACTS[Role.PAUSER] == Role.PAUSER.contracts
    assert Role.ADMIN.role_id == b"\0" * 32
    assert Role.ANCHOR.role_id == keccak(text="ANCHOR_ROLE")


# ---------------------------------------------------------------- deployment


def test_deploy_gives_city_every_role_and_operators_the_operating_roles(chain, city, ledger, stranger):
    assert all(ledger.has_role(role, city.address) for role in Role)
    assert not any(ledger.has_role(role, stranger.address) for role in Role)

    operator = chain.new_account()
    with_operator = Ledger.deploy(chain.chain, city, operators=[operator.address])

    held = {role: with_operator.has_role(role, operator.address) for role in Role}
    assert held == {
        Role.ADMIN: False,
        Role.MINTER: True,
        Role.ISSUER: True,
        Role.REDEEMER: True,
        Role.PAUSER: True,
        Role.ANCHOR: True,
    }
    assert all(with_operator.has_role(role, city.address) for role in Role)


# ---------------------------------------------------------------- actions without the role


def test_award_points_without_minter_role_reverts_not_authorized(ledger, as_stranger, stranger, citizens):
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.award_points([ActivityAward(1, citizens[0].address, 10), ActivityAward(2, citizens[1].address, 10)])

    assert exc.value.values == denied(stranger, Role.MINTER)
    assert ledger.total_supply() == 0
    assert ledger.last_activity_id() == 0


def test_create_event_without_issuer_role_reverts_not_authorized(chain, ledger, as_stranger, stranger):
    now = clock(chain)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.create_event(Venue.PHYSICAL, now, now + 100, 0)

    assert exc.value.values == denied(stranger, Role.ISSUER)
    assert ledger.event_count() == 0


def test_issue_badge_without_issuer_role_reverts_not_authorized(chain, ledger, as_stranger, stranger, citizens):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.issue_badge(event_id, citizens[0].address)

    assert exc.value.values == denied(stranger, Role.ISSUER)
    assert ledger.has_badge(event_id, citizens[0].address) is False


def test_issue_badges_without_issuer_role_reverts_not_authorized(chain, ledger, as_stranger, stranger, citizens):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.issue_badges(event_id, [citizens[0].address, citizens[1].address])

    assert exc.value.values == denied(stranger, Role.ISSUER)
    assert ledger.city_event(event_id).attendees == 0


def test_revoke_badge_without_issuer_role_reverts_not_authorized(chain, ledger, as_stranger, stranger, citizens):
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, citizens[0].address)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.revoke_badge(event_id, citizens[0].address, reason_code=1)

    assert exc.value.values == denied(stranger, Role.ISSUER)
    assert ledger.has_badge(event_id, citizens[0].address) is True


def test_reissue_badge_without_issuer_role_reverts_not_authorized(chain, ledger, as_stranger, stranger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.reissue_badge(event_id, attendee, reason_code=1)

    assert exc.value.values == denied(stranger, Role.ISSUER)
    assert ledger.is_badge_revoked(event_id, attendee) is True
    assert ledger.has_badge(event_id, attendee) is False


def test_redeem_with_consent_without_redeemer_role_reverts_not_authorized(ledger, as_stranger, stranger, citizens):
    citizen = citizens[0]
    ledger.award_points([ActivityAward(1, citizen.address, 100)])
    consent = ledger.sign_redemption(citizen, 40, reward_id=1)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.redeem_with_consent(consent)

    assert exc.value.values == denied(stranger, Role.REDEEMER)
    assert ledger.balance_of(citizen.address) == 100
    assert ledger.consent_nonce(citizen.address) == 0


def test_pause_without_pauser_role_reverts_not_authorized(ledger, as_stranger, stranger):
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.pause()

    assert exc.value.values == denied(stranger, Role.PAUSER)
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.set_paused("badges", True)
    assert exc.value.values == denied(stranger, Role.PAUSER)
    assert ledger.is_paused() is False
    assert ledger.is_paused_contract("badges") is False


def test_unpause_without_pauser_role_reverts_not_authorized(ledger, as_stranger, stranger):
    ledger.pause()

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.unpause()

    assert exc.value.values == denied(stranger, Role.PAUSER)
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.set_paused("badges", False)
    assert exc.value.values == denied(stranger, Role.PAUSER)
    assert ledger.is_paused_contract("points") is True
    assert ledger.is_paused_contract("badges") is True


def test_set_limits_without_admin_role_reverts_not_authorized(ledger, as_stranger, stranger):
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.set_limits(10, 20)

    assert exc.value.values == denied(stranger, Role.ADMIN)
    assert ledger.limits() == (1_000, 3_000)


def test_reverse_award_without_admin_role_reverts_not_authorized(ledger, as_stranger, stranger, citizens):
    ledger.award_points([ActivityAward(1, citizens[0].address, 100)])

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.reverse_award(1, reason_code=1)

    assert exc.value.values == denied(stranger, Role.ADMIN)
    assert ledger.balance_of(citizens[0].address) == 100
    assert ledger.is_reversed(1) is False
    assert ledger.activity(1)[1] is None


def test_set_activity_kind_without_admin_role_reverts_not_authorized(chain, ledger, as_stranger, stranger):
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.set_activity_kind(4, True, "cycling")

    assert exc.value.values == denied(stranger, Role.ADMIN)
    assert contract(chain, ledger, "points").functions.isActivityKindEnabled(4).call() is False


def test_set_badge_metadata_without_admin_role_reverts_not_authorized(ledger, as_stranger, stranger):
    before = ledger.badge_collection()

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.set_badge_metadata("https://evil.example/{id}", "https://evil.example/c.json")

    assert exc.value.values == denied(stranger, Role.ADMIN)
    assert ledger.badge_collection() == before


def test_anchor_records_without_anchor_role_reverts_not_authorized(chain, ledger, as_stranger, stranger):
    root = keccak(text="period-1")
    now = clock(chain)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.anchor_records(root, now - 3_600, now, 10)

    assert exc.value.values == denied(stranger, Role.ANCHOR)
    assert ledger.anchored_at(root) is None


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_grant_role_without_admin_role_reverts_not_authorized(ledger, as_stranger, stranger, role):
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.grant_role(role, stranger.address)

    assert exc.value.values == denied(stranger, Role.ADMIN)
    assert ledger.has_role(role, stranger.address) is False


def test_revoke_role_without_admin_role_reverts_not_authorized(ledger, city, as_stranger, stranger):
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.revoke_role(Role.MINTER, city.address)

    assert exc.value.values == denied(stranger, Role.ADMIN)
    assert ledger.has_role(Role.MINTER, city.address) is True


def test_sign_voucher_without_issuer_role_raises_access_denied(chain, ledger, as_stranger, citizens):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.AccessDenied):
        as_stranger.sign_voucher(event_id, citizens[0].address)


# ---------------------------------------------------------------- granting and revoking


def test_grant_role_minter_lets_account_award_and_revoke_role_stops_it(ledger, as_stranger, stranger, citizens):
    citizen = citizens[0].address

    ledger.grant_role(Role.MINTER, stranger.address)

    assert ledger.has_role(Role.MINTER, stranger.address) is True
    as_stranger.award_points([ActivityAward(1, citizen, 10)])
    assert ledger.balance_of(citizen) == 10

    ledger.revoke_role(Role.MINTER, stranger.address)

    assert ledger.has_role(Role.MINTER, stranger.address) is False
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.award_points([ActivityAward(2, citizen, 10)])
    assert exc.value.values == denied(stranger, Role.MINTER)
    assert ledger.balance_of(citizen) == 10


def test_grant_role_minter_grants_nothing_else(chain, ledger, as_stranger, stranger):
    ledger.grant_role(Role.MINTER, stranger.address)
    now = clock(chain)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.create_event(Venue.PHYSICAL, now, now + 100, 0)

    assert exc.value.values == denied(stranger, Role.ISSUER)
    assert [r for r in Role if ledger.has_role(r, stranger.address)] == [Role.MINTER]


def test_grant_role_issuer_lets_account_create_issue_revoke_and_reissue(chain, ledger, as_stranger, stranger, citizens):
    attendee = citizens[0].address

    ledger.grant_role(Role.ISSUER, stranger.address)

    now = clock(chain)
    event_id, _ = as_stranger.create_event(Venue.METAVERSE, now - 10, now + 1_000, 0)
    as_stranger.issue_badge(event_id, attendee)
    assert ledger.has_badge(event_id, attendee) is True
    as_stranger.revoke_badge(event_id, attendee, reason_code=1)
    assert ledger.has_badge(event_id, attendee) is False
    as_stranger.reissue_badge(event_id, attendee, reason_code=2)
    assert ledger.has_badge(event_id, attendee) is True

    ledger.revoke_role(Role.ISSUER, stranger.address)

    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.issue_badge(event_id, citizens[1].address)
    assert exc.value.values == denied(stranger, Role.ISSUER)


def test_claim_badge_voucher_from_second_issuer_records_that_issuer(chain, ledger, as_stranger, stranger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.grant_role(Role.ISSUER, stranger.address)
    voucher = as_stranger.sign_voucher(event_id, attendee, nonce=1)

    result = ledger.claim_badge(voucher)  # relayed by the city, signed by the second issuer

    badges = contract(chain, ledger, "badges")
    receipt = chain.w3.eth.get_transaction_receipt(result.tx_hash)
    (claimed,) = badges.events.BadgeClaimed().process_receipt(receipt, errors=DISCARD)
    assert claimed["args"]["issuer"] == stranger.address
    (issued,) = [r for r in result.records if isinstance(r, BadgeIssued)]
    assert (issued.attendee, issued.voucher_issuer, issued.operator) == (attendee, stranger.address, ledger.address)
    assert badges.functions.isVoucherNonceUsed(stranger.address, 1).call() is True
    assert ledger.has_badge(event_id, attendee) is True


def test_revoke_role_issuer_invalidates_outstanding_vouchers(chain, ledger, as_stranger, stranger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.grant_role(Role.ISSUER, stranger.address)
    voucher = as_stranger.sign_voucher(event_id, attendee)

    ledger.revoke_role(Role.ISSUER, stranger.address)

    with pytest.raises(errors.InvalidVoucherSigner) as exc:
        ledger.claim_badge(voucher)
    assert exc.value.values == {"signer": stranger.address}
    assert ledger.has_badge(event_id, attendee) is False


def test_grant_role_redeemer_lets_account_relay_consent(ledger, as_stranger, stranger, citizens):
    citizen = citizens[0]
    ledger.award_points([ActivityAward(1, citizen.address, 100)])

    ledger.grant_role(Role.REDEEMER, stranger.address)
    result = as_stranger.redeem_with_consent(ledger.sign_redemption(citizen, 40, reward_id=1))

    assert ledger.balance_of(citizen.address) == 60
    (redemption,) = [r for r in result.records if isinstance(r, PointsRedeemed)]
    assert redemption.relayer == stranger.address
    ledger.revoke_role(Role.REDEEMER, stranger.address)
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.redeem_with_consent(ledger.sign_redemption(citizen, 10, reward_id=2))
    assert exc.value.values == denied(stranger, Role.REDEEMER)


def test_grant_role_pauser_lets_account_pause_both_contracts(ledger, as_stranger, stranger):
    ledger.grant_role(Role.PAUSER, stranger.address)

    as_stranger.pause()

    assert ledger.is_paused_contract("points") is True
    assert ledger.is_paused_contract("badges") is True
    as_stranger.unpause()
    assert ledger.is_paused() is False
    ledger.revoke_role(Role.PAUSER, stranger.address)
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.pause()
    assert exc.value.values == denied(stranger, Role.PAUSER)


def test_grant_role_anchor_lets_account_anchor_and_revoke_role_stops_it(chain, ledger, as_stranger, stranger):
    now = clock(chain)
    first, second = keccak(text="period-1"), keccak(text="period-2")

    ledger.grant_role(Role.ANCHOR, stranger.address)
    as_stranger.anchor_records(first, now - 3_600, now, 10)

    assert ledger.anchored_at(first) is not None
    ledger.revoke_role(Role.ANCHOR, stranger.address)
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.anchor_records(second, now - 3_600, now, 10)
    assert exc.value.values == denied(stranger, Role.ANCHOR)
    assert ledger.anchored_at(second) is None


def test_grant_role_admin_lets_account_administer_every_contract(chain, ledger, as_stranger, stranger, citizens):
    other = citizens[0].address

    ledger.grant_role(Role.ADMIN, stranger.address)

    assert ledger.has_role(Role.ADMIN, stranger.address) is True
    as_stranger.set_limits(10, 20)
    assert ledger.limits() == (10, 20)
    as_stranger.set_activity_kind(4, True, "cycling")
    assert contract(chain, ledger, "points").functions.isActivityKindEnabled(4).call() is True
    as_stranger.grant_role(Role.ISSUER, other)  # badges-side role: needs admin on the badge contract
    assert ledger.has_role(Role.ISSUER, other) is True
    as_stranger.grant_role(Role.ANCHOR, other)  # anchors-side role: needs admin on the anchor contract
    assert ledger.has_role(Role.ANCHOR, other) is True

    ledger.revoke_role(Role.ADMIN, stranger.address)

    assert ledger.has_role(Role.ADMIN, stranger.address) is False
    with pytest.raises(errors.NotAuthorized) as exc:
        as_stranger.set_limits(30, 40)
    assert exc.value.values == denied(stranger, Role.ADMIN)


@pytest.mark.parametrize("missing", ["points", "badges", "anchors"])
def test_has_role_admin_needs_the_role_on_every_contract(chain, ledger, stranger, missing):
    for name in ROLE_CONTRACTS[Role.ADMIN]:
        if name != missing:
            ledger.set_role(name, Role.ADMIN, stranger.address, True)

    for name in ROLE_CONTRACTS[Role.ADMIN]:
        held = contract(chain, ledger, name).functions.hasRole(Role.ADMIN.role_id, stranger.address).call()
        assert held is (name != missing)
    assert ledger.has_role(Role.ADMIN, stranger.address) is False


def test_grant_role_emits_role_granted_on_each_contract_of_the_role(chain, ledger, city, stranger):
    before = {name: role_logs(chain, ledger, name, "RoleGranted") for name in ("points", "badges", "anchors")}

    results = ledger.grant_role(Role.MINTER, stranger.address) + ledger.grant_role(Role.PAUSER, stranger.address)

    assert role_changes(results) == [
        ("points", Role.MINTER, stranger.address, True, city.address),
        ("points", Role.PAUSER, stranger.address, True, city.address),
        ("badges", Role.PAUSER, stranger.address, True, city.address),
    ]
    new = {name: role_logs(chain, ledger, name, "RoleGranted")[len(before[name]) :] for name in before}
    assert new == {
        "points": [
            (Role.MINTER.role_id, stranger.address, city.address),
            (Role.PAUSER.role_id, stranger.address, city.address),
        ],
        "badges": [(Role.PAUSER.role_id, stranger.address, city.address)],
        "anchors": [],
    }


def test_grant_role_already_held_emits_nothing(chain, ledger, city):
    before = role_logs(chain, ledger, "points", "RoleGranted")

    results = ledger.grant_role(Role.MINTER, city.address)

    assert role_changes(results) == []
    assert role_logs(chain, ledger, "points", "RoleGranted") == before
    assert ledger.has_role(Role.MINTER, city.address) is True


def test_revoke_role_emits_role_revoked(chain, ledger, city, stranger):
    ledger.grant_role(Role.ISSUER, stranger.address)
    assert role_logs(chain, ledger, "badges", "RoleRevoked") == []

    results = ledger.revoke_role(Role.ISSUER, stranger.address)

    assert role_changes(results) == [("badges", Role.ISSUER, stranger.address, False, city.address)]
    assert role_logs(chain, ledger, "badges", "RoleRevoked") == [(Role.ISSUER.role_id, stranger.address, city.address)]
    assert role_logs(chain, ledger, "points", "RoleRevoked") == []
    assert ledger.has_role(Role.ISSUER, stranger.address) is False
