"""Messages the pages say from Python: the services' error codes and form problems in the
reader's language (the service's English message when a code has no translation), notices after
a form succeeds, and the names of verification steps and record kinds.

``N_`` marks a message for extraction (``pybabel extract -k N_``); it is translated when shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..services.errors import classify

if TYPE_CHECKING:
    from .web import Page

__all__ = ["CHECKS", "ERRORS", "NOTICES", "N_", "REASONS", "RECORDS", "error_text", "field_problem", "reason_label"]


def N_(message: str) -> str:
    return message


#: The services' error codes (and the ledger's, snake_cased), as people read them.
ERRORS: dict[str, str] = {
    # signing in
    "wrong_pin": N_("The PIN is wrong."),
    "invalid_pin": N_("The PIN must be 4 to 8 digits."),
    "card_invalid": N_("This card is unknown or no longer valid. Ask the city for a new one."),
    "card_not_active": N_("This card is not activated yet. Open the link printed on it to choose a PIN."),
    "card_already_active": N_("This card is active already: sign in with its PIN."),
    "card_activation_expired": N_("The card was not activated in time. Ask the city to issue a new one."),
    "card_locked": N_("Too many wrong PINs. Try again in 15 minutes."),
    "card_required": N_("Confirm with the PIN of your active sign-in card."),
    "invalid_token": N_("You are not signed in, or your session ended. Sign in again."),
    "session_expired": N_("Your session has expired. Sign in again."),
    "not_authenticated": N_("Sign in first."),
    "forbidden": N_("Your role does not allow this."),
    "rate_limited": N_("Too many attempts. Wait a minute and try again."),
    "siwe_invalid": N_("The wallet's sign-in message could not be read."),
    "siwe_bad_signature": N_("The wallet's signature does not match the address."),
    "siwe_expired": N_("The sign-in message expired. Try again."),
    "siwe_not_yet_valid": N_("The sign-in message is not valid yet. Check your device's clock."),
    "siwe_wrong_domain": N_("The sign-in message was made for another site."),
    "siwe_wrong_chain": N_("The wallet is on another network."),
    "siwe_unknown_nonce": N_("The sign-in request expired. Try again."),
    "siwe_nonce_used": N_("This sign-in request was used already. Try again."),
    "wallet_refused": N_("The wallet did not sign."),
    # outings and claims
    "invalid_time": N_("Check the start and end times: the end must be after the start and not in the future."),
    "invalid_evidence": N_("The photo and the GPS track must be two different files."),
    "invalid_photo": N_("The photo must be a JPEG, PNG, WebP or HEIC image."),
    "invalid_track": N_("The GPS track must be a GPX file with at least one point."),
    "evidence_already_used": N_("This photo or track already backs another outing."),
    "evidence_not_found": N_("This evidence file is not kept any more (it may have been erased)."),
    "claim_not_found": N_("There is no such claim."),
    "claim_not_held": N_("This claim is not waiting for review any more."),
    "claim_not_rejected": N_("Only a rejected claim can be appealed."),
    "already_appealed": N_("This claim was appealed once already."),
    "award_too_large": N_("An award may not carry that many points."),
    "unknown_activity_kind": N_("This activity kind is not enabled."),
    "reference_in_use": N_("This reference was used for a different award."),
    "daily_cap_exceeded": N_("The daily points cap is reached."),
    # badges and events
    "claim_code_unknown": N_("This claim code is not valid."),
    "claim_code_expired": N_("This claim code has expired. Scan the code on the screen now."),
    "claim_code_used": N_("This code was used already. Scan the code on the screen now."),
    "claim_window_closed": N_("Badges for this event cannot be claimed now."),
    "claim_window_over": N_("The claim window has already ended."),
    "invalid_claim_window": N_("The end of the claim window must not be before its start."),
    "badge_was_revoked": N_("Your badge for this event was revoked. Ask the organisers."),
    "already_has_badge": N_("You hold this badge already."),
    "badge_not_held": N_("This address does not hold this badge."),
    "badge_not_revoked": N_("This badge is not revoked."),
    "no_badge": N_("This address does not hold this badge."),
    "event_not_found": N_("There is no such event."),
    "event_full": N_("The event is full."),
    "invalid_csv": N_("The CSV file cannot be used: it needs an 'address' or 'citizen_id' column."),
    "csv_too_long": N_("The CSV file lists too many attendees: split it."),
    "unknown_attendees": N_("Some entries are neither an address nor a citizen id."),
    "invalid_attendee": N_("An attendee is not a valid address."),
    "no_attendees": N_("No attendees were given."),
    # rewards
    "reward_not_found": N_("There is no such reward in the catalogue."),
    "insufficient_points": N_("You do not have enough points for this reward."),
    "out_of_stock": N_("This reward is out of stock."),
    "consent_required": N_("Sign the consent with your wallet."),
    "invalid_consent_signature": N_("The wallet's signature for this redemption is not valid."),
    "consent_expired": N_("The consent expired. Try again."),
    # citizens and keys
    "not_custodial": N_("The city holds no key for you: your own wallet holds it already."),
    "citizen_not_found": N_("There is no such citizen."),
    "invalid_address": N_("This is not a valid address (0x followed by 40 hexadecimal digits)."),
    "address_in_use": N_("Another citizen holds that address."),
    "same_address": N_("That is the citizen's current address."),
    # verification and proofs
    "activity_not_found": N_("There is no award with this activity id on-chain."),
    "record_not_found": N_("There is no such record on-chain."),
    "invalid_input": N_("This input is not valid."),
    "invalid_lookup": N_("Enter an address (0x…), an activity number, or a badge link."),
    # running the programme
    "ledger_paused": N_("The programme is paused: awards, redemptions and badges wait until it resumes."),
    "already_paused": N_("The programme is paused already."),
    "not_paused": N_("The programme is not paused."),
    "activity_already_reversed": N_("This award was reversed already."),
    "award_not_found": N_("There is no such award on-chain."),
    "invalid_role": N_("Unknown role."),
    "staff_token_not_found": N_("There is no such staff token."),
    "chain_unavailable": N_("The blockchain node is not answering. Try again shortly."),
    "city_key_lacks_role": N_("The city's key lacks the on-chain role for this. An administrator must grant it."),
    "not_authorized": N_("The city's key lacks the on-chain role for this. An administrator must grant it."),
    "invalid_request": N_("Some fields are missing or not valid."),
    "internal_error": N_("Something went wrong on our side. Try again."),
}

#: Notices shown after a form succeeded (``?done=<key>``).
NOTICES: dict[str, str] = {
    "signed_in": N_("You are signed in."),
    "signed_out": N_("You are signed out."),
    "card_activated": N_("Your card is active. Keep your PIN to yourself."),
    "outing_recorded": N_("Your outing is recorded."),
    "appealed": N_("Your appeal is sent. A reviewer will look at the claim again."),
    "badge_claimed": N_("The badge is yours. It is recorded on the blockchain."),
    "redeemed": N_("The reward is yours. The points were spent on the blockchain."),
    "staff_signed_in": N_("You are signed in as staff."),
    "event_created": N_("The event is created on the blockchain."),
    "reviewed": N_("The decision is recorded."),
    "settled": N_("Approved claims were awarded."),
    "issued": N_("The badges were issued."),
    "revoked": N_("The badge was revoked."),
    "reissued": N_("The badge was issued again."),
    "reversed": N_("The award was reversed."),
    "paused": N_("The programme is paused."),
    "unpaused": N_("The programme runs again."),
    "reward_saved": N_("The reward is saved."),
    "token_revoked": N_("The staff token was revoked."),
    "role_changed": N_("The role was changed on the blockchain."),
}

#: What each verification step checks (``ledger.verification``'s check names).
CHECKS: dict[str, str] = {
    "records_found": N_("Records found on the blockchain"),
    "balance_matches_contract": N_("The records add up to the balance the contract holds"),
    "badges_match_contract": N_("The badges in the records are the badges the contract holds"),
    "record_found": N_("The record is on the blockchain"),
    "emitted_by_contract": N_("Recorded by the city's contract"),
    "block_canonical": N_("The block is part of the chain (not replaced)"),
    "confirmations": N_("Enough blocks have followed it (final)"),
    "not_undone": N_("Not reversed or revoked since"),
    "sender_authorised": N_("Sent by an account holding the role for it"),
}

#: Each kind of record in a citizen's statement.
RECORDS: dict[str, str] = {
    "award": N_("Points awarded"),
    "reversal": N_("Award reversed"),
    "redemption": N_("Points spent on a reward"),
    "rebinding": N_("Record moved from another address"),
    "badge_issued": N_("Badge issued"),
    "badge_revoked": N_("Badge revoked"),
    "badge_reissued": N_("Badge issued again"),
    "badges_moved": N_("Badges moved from another address"),
}

#: Reason codes the staff pages offer (the contracts take any number; these are the pages' words).
REASONS: dict[int, str] = {
    1: N_("Recorded by mistake"),
    2: N_("The evidence did not hold up"),
    3: N_("Recorded twice"),
    4: N_("Asked for by the citizen"),
    5: N_("Lost key: moved to a new address"),
    9: N_("Other"),
}

#: Pydantic's problem types, as people read them.
_FIELD: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This is too short."),
    "string_too_long": N_("This is too long (at most %(max)s characters)."),
    "string_pattern_mismatch": N_("This is not in the expected format."),
    "int_parsing": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "greater_than_equal": N_("Enter at least %(min)s."),
    "less_than_equal": N_("Enter at most %(max)s."),
    "datetime_parsing": N_("Enter a date and time."),
    "datetime_type": N_("Enter a date and time."),
    "timezone_aware": N_("Enter a date and time."),
    "literal_error": N_("Choose one of the options."),
    "value_error": N_("This value is not valid."),
}


def error_text(page: Page, exc: BaseException) -> str:
    """The failure in the page's language; the service's own (English) message when the code
    has no translation."""
    failure = classify(exc)
    message = ERRORS.get(failure.code)
    return page._(message) if message else failure.message


def field_problem(page: Page, problem: dict[str, Any]) -> str:
    kind = str(problem.get("type", ""))
    context = problem.get("ctx") or {}
    message = _FIELD.get(kind)
    if message is None:
        return str(problem.get("msg", ""))
    values = {
        "max": context.get("max_length", context.get("le", "")),
        "min": context.get("min_length", context.get("ge", "")),
    }
    return page._(message, **values) if "%(" in message else page._(message)


def reason_label(page: Page, code: int | None) -> str:
    if code is None:
        return ""
    label = REASONS.get(code)
    return (
        page._("Reason %(code)s: %(label)s", code=code, label=page._(label))
        if label
        else page._("Reason code %(code)s", code=code)
    )
