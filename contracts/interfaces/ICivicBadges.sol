// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICivicBadges
/// @notice Soulbound attendance badges for city events, read through ERC-1155 with token id =
/// event id. A citizen holds at most one badge per event. Metadata for every event is served by
/// the city at {uri}, an ERC-1155 URI template with the `{id}` substitution; the collection's
/// metadata is at {contractURI} (ERC-7572). Soulbound in the ERC-5192 (`locked`) and ERC-5633
/// (`isSoulbound`) senses.
interface ICivicBadges {
    /// @notice Where an event takes place.
    enum Venue {
        Physical,
        Metaverse
    }

    /// @notice A city event as stored on-chain (one storage slot).
    /// @param capacity The most badges the event may have outstanding; zero means no limit.
    struct CityEvent {
        uint64 claimStart;
        uint64 claimEnd;
        uint32 capacity;
        uint32 attendees;
        Venue venue;
        bool exists;
    }

    /// @notice An issuer's authorisation for one attendee to claim one event's badge.
    struct Voucher {
        uint256 eventId;
        address attendee;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice A city event was registered. `clientRef` is the caller's unique reference for it,
    /// so a retried creation finds the event instead of creating a second one.
    event EventCreated(
        uint256 indexed eventId,
        Venue venue,
        uint64 claimStart,
        uint64 claimEnd,
        uint32 capacity,
        bytes32 indexed clientRef
    );

    /// @notice A badge was claimed with a voucher signed by `issuer` (a `TransferSingle` is also emitted).
    event BadgeClaimed(uint256 indexed eventId, address indexed attendee, address indexed issuer, uint256 nonce);

    /// @notice A badge was revoked (a `TransferSingle` to the zero address is also emitted). The
    /// revocation is remembered: the attendee cannot claim or be issued the badge again except by
    /// an explicit {reissueBadge}.
    event BadgeRevoked(uint256 indexed eventId, address indexed attendee, uint16 reasonCode);

    /// @notice A revoked badge was issued again by an explicit staff act.
    event BadgeReissued(uint256 indexed eventId, address indexed attendee, uint16 reasonCode);

    /// @notice ERC-5192: the token is locked to its holder. Emitted once per event id.
    event Locked(uint256 tokenId);

    /// @notice ERC-7572: the collection's metadata changed.
    event ContractURIUpdated();

    /// @notice The ERC-1155 metadata URI template changed.
    event URITemplateChanged(string template);

    /// @notice Badges cannot be transferred or approved.
    error BadgeNonTransferable();
    /// @notice No event has this id.
    error UnknownEvent(uint256 eventId);
    /// @notice The attendee already holds this event's badge.
    error AlreadyHasBadge(uint256 eventId, address attendee);
    /// @notice The attendee's badge for this event was revoked; only {reissueBadge} gives it back.
    error BadgeWasRevoked(uint256 eventId, address attendee);
    /// @notice The attendee's badge for this event was not revoked.
    error BadgeNotRevoked(uint256 eventId, address attendee);
    /// @notice The attendee does not hold this event's badge.
    error NoBadge(uint256 eventId, address attendee);
    /// @notice The event has as many badges as its capacity.
    error EventFull(uint256 eventId, uint32 capacity);
    /// @notice Claims are only accepted inside the event's claim window.
    error ClaimWindowClosed(uint256 eventId, uint64 claimStart, uint64 claimEnd, uint256 timestamp);
    /// @notice The claim window must not end before it starts.
    error InvalidClaimWindow(uint64 claimStart, uint64 claimEnd);
    /// @notice An event with this client reference exists already.
    error EventAlreadyCreated(bytes32 clientRef, uint256 eventId);
    /// @notice A client reference must be non-zero.
    error InvalidClientReference();
    /// @notice The voucher is past its deadline.
    error VoucherExpired(uint256 deadline, uint256 timestamp);
    /// @notice The issuer's voucher nonce has already been used.
    error VoucherAlreadyUsed(address issuer, uint256 nonce);
    /// @notice The voucher was not signed by an account holding ISSUER_ROLE.
    error InvalidVoucherSigner(address signer);
    /// @notice The zero address cannot hold a badge.
    error InvalidAttendee(address attendee);
    /// @notice A batch must hold at least one attendee.
    error EmptyBatch();
    /// @notice Only the points contract moves badges, as part of a citizen's re-binding.
    error RebindingNotAllowed(address caller);
    /// @notice A re-binding's target already holds (or held) badges.
    error RebindTargetHoldsBadges(address to);

    /// @notice Registers a city event and returns its id (ids count up from 1). Requires ISSUER_ROLE.
    function createEvent(Venue venue, uint64 claimStart, uint64 claimEnd, uint32 capacity, bytes32 clientRef)
        external
        returns (uint256 eventId);

    /// @notice Issues the event's badge to one attendee. Requires ISSUER_ROLE; stops while paused.
    function issueBadge(uint256 eventId, address attendee) external;

    /// @notice Issues the event's badge to many attendees in one transaction; all or none.
    function issueBadges(uint256 eventId, address[] calldata attendees) external;

    /// @notice Claims a badge with a voucher signed by an issuer. Anyone may submit it (the city
    /// relays and pays gas); the badge always goes to `voucher.attendee`. Only inside the
    /// event's claim window; stops while paused.
    function claimBadge(Voucher calldata voucher, bytes calldata signature) external;

    /// @notice Revokes an attendee's badge with a reason code. Requires ISSUER_ROLE.
    function revokeBadge(uint256 eventId, address attendee, uint16 reasonCode) external;

    /// @notice Issues a revoked badge again, with a reason code. Requires ISSUER_ROLE; stops while paused.
    function reissueBadge(uint256 eventId, address attendee, uint16 reasonCode) external;

    /// @notice Moves every badge (and every revocation) of `from` to `to`. Only the points
    /// contract calls it, inside {ICivicPoints-rebindCitizen}; emits one ERC-1155 `TransferBatch`.
    function rebind(address from, address to, address operator) external;

    /// @notice Sets the ERC-1155 metadata URI template (with `{id}`). Requires the admin role.
    function setURITemplate(string calldata template) external;

    /// @notice Sets the collection metadata URI (ERC-7572). Requires the admin role.
    function setContractURI(string calldata uri) external;

    /// @notice Pauses issuance and claims. Requires PAUSER_ROLE.
    function pause() external;

    /// @notice Resumes issuance and claims. Requires PAUSER_ROLE.
    function unpause() external;

    /// @notice The stored event.
    function cityEvent(uint256 eventId) external view returns (CityEvent memory);

    /// @notice The event created with `clientRef`, or zero.
    function eventIdFor(bytes32 clientRef) external view returns (uint256);

    /// @notice How many events exist; ids run from 1 to this number.
    function eventCount() external view returns (uint256);

    /// @notice Whether `attendee` holds the badge of `eventId`.
    function hasBadge(uint256 eventId, address attendee) external view returns (bool);

    /// @notice Whether `attendee`'s badge of `eventId` was revoked (and not re-issued since).
    function isRevoked(uint256 eventId, address attendee) external view returns (bool);

    /// @notice Whether an issuer's voucher nonce has been used.
    function isVoucherNonceUsed(address issuer, uint256 nonce) external view returns (bool);

    /// @notice The EIP-712 digest an issuer signs for `voucher`.
    function voucherDigest(Voucher calldata voucher) external view returns (bytes32);

    /// @notice The collection's name, for wallets and explorers.
    function name() external view returns (string memory);

    /// @notice The collection's symbol, for wallets and explorers.
    function symbol() external view returns (string memory);

    /// @notice ERC-7572: where the collection's metadata JSON is served.
    function contractURI() external view returns (string memory);

    /// @notice ERC-5192: always true for an existing event, every badge is soulbound.
    function locked(uint256 tokenId) external view returns (bool);

    /// @notice ERC-5633: always true for an existing event, every badge is soulbound.
    function isSoulbound(uint256 id) external view returns (bool);
}
