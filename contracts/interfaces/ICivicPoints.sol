// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICivicPoints
/// @notice Non-transferable ESG reward points. Each award records one citizen activity (a plogging
/// outing or another kind the city registers). Every change of a balance emits an ERC-20
/// `Transfer` (from the zero address on award, to it on reversal and redemption, between two
/// addresses on a re-binding), followed by the record event that says why: `ActivityRecorded`,
/// `AwardReversed`, `PointsRedeemed` or `CitizenRebound`. Balances can be rebuilt from those
/// events alone.
interface ICivicPoints {
    /// @notice One activity to award, packed into three words because the city pays for every
    /// 32-byte word of calldata on every award.
    /// @param head `citizen << 96 | points << 32` (the low 32 bits are reserved and must be zero).
    /// @param body `activityId << 192 | kind << 128 | metrics` (bits 136 to 191 are reserved and
    /// must be zero). `metrics` packs the outing's measurements, 32 bits each, high to low:
    /// distance in metres, duration in seconds, litter in grams, steps ({unpackMetrics} splits it).
    /// `body` is also the `activity` word of `ActivityRecorded`, unchanged.
    /// @param evidenceHash A salted commitment to the photos or GPS track kept off-chain.
    struct Award {
        uint256 head;
        uint256 body;
        bytes32 evidenceHash;
    }

    /// @notice A citizen's award was recorded. The citizen and the points are those of the ERC-20
    /// `Transfer` from the zero address emitted just before it (log index minus one).
    /// @param activity The award's `body` word: activity id, kind and packed metrics.
    event ActivityRecorded(uint256 activity, bytes32 evidenceHash);

    /// @notice A wrongful award was reversed: the points were taken back from whoever holds the
    /// citizen's record now (see `CitizenRebound`); the original record stays.
    event AwardReversed(uint256 indexed activityId, address indexed citizen, uint64 points, uint16 reasonCode);

    /// @notice Points were spent on a city reward with the citizen's consent.
    /// @param relayer The account that sent the transaction: the citizen, or a redeemer relaying
    /// the citizen's signature.
    event PointsRedeemed(address indexed citizen, uint256 indexed rewardId, uint64 points, address relayer);

    /// @notice A citizen's record (points, daily total, consent nonce and badges) moved from a
    /// lost address to a new one the citizen signed for. The old address holds nothing afterwards
    /// and cannot be awarded again.
    event CitizenRebound(address indexed from, address indexed to, uint16 reasonCode);

    /// @notice The per-award maximum or the per-citizen daily cap changed.
    event LimitsChanged(uint64 maxPointsPerAward, uint64 dailyCap);

    /// @notice An activity kind was enabled or disabled.
    event ActivityKindSet(uint8 indexed kind, bool enabled, string label);

    /// @notice The badge contract that re-bindings move badges in was set (once).
    event BadgesLinked(address badges);

    /// @notice Points cannot be transferred or approved.
    error PointsNonTransferable();
    /// @notice Activity ids must increase across every award, so none is ever used twice.
    error ActivityIdNotIncreasing(uint256 activityId, uint256 lastActivityId);
    /// @notice The packed award has non-zero reserved bits.
    error MalformedAward(uint256 index);
    /// @notice The activity kind is not enabled.
    error UnknownActivityKind(uint256 activityId, uint8 kind);
    /// @notice An award must carry at least one point.
    error ZeroPointsAward(uint256 activityId);
    /// @notice The award is larger than the per-award maximum.
    error AwardTooLarge(uint256 activityId, uint64 points, uint64 maxPointsPerAward);
    /// @notice The award would take the citizen past the daily cap (a day in the city's time zone).
    error DailyCapExceeded(address citizen, uint64 awardedToday, uint64 points, uint64 dailyCap);
    /// @notice The zero address, or an address whose record was re-bound, cannot receive points.
    error InvalidCitizen(address citizen);
    /// @notice A batch must hold at least one activity.
    error EmptyBatch();
    /// @notice Limits must be non-zero and the per-award maximum must not exceed the daily cap.
    error InvalidLimits(uint64 maxPointsPerAward, uint64 dailyCap);
    /// @notice The citizen holds fewer points than the operation needs.
    error InsufficientPoints(address citizen, uint256 balance, uint256 needed);
    /// @notice No recorded award matches the one given (wrong citizen, points, id or proof).
    error AwardNotFound(uint256 activityId);
    /// @notice The award has already been reversed.
    error ActivityAlreadyReversed(uint256 activityId);
    /// @notice The citizen's signed consent is past its deadline.
    error ConsentExpired(uint256 deadline, uint256 timestamp);
    /// @notice The consent signature was not made by the citizen for these terms.
    error InvalidConsentSignature(address citizen);
    /// @notice A re-binding needs a fresh target address that is not the source.
    error InvalidRebinding(address from, address to);
    /// @notice The badge contract is already linked, or not linked yet.
    error BadgesLinkInvalid(address badges);

    /// @notice Awards points for one or many activities in one transaction; all or none.
    /// Requires MINTER_ROLE; stops while paused. Activity ids
    /// must increase within the batch and above {lastActivityId}. A Merkle root of the batch's
    /// awards is kept under the batch's first activity id, so a reversal can prove which award
    /// it reverses.
    function awardPointsBatch(Award[] calldata awards) external;

    /// @notice Spends the caller's own points on reward `rewardId`. Stops while paused.
    function redeem(uint64 points, uint256 rewardId) external;

    /// @notice Spends a citizen's points on a reward with the citizen's EIP-712 signature over
    /// (citizen, points, rewardId, nonce, deadline). Requires REDEEMER_ROLE; stops while paused.
    function redeemWithConsent(
        address citizen,
        uint64 points,
        uint256 rewardId,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Reverses a wrongful award. The award is given whole (`head`, `body` as it was sent)
    /// with a Merkle proof against the root of its batch (`batchKey` = the batch's first activity
    /// id), so the points taken back are exactly those awarded, from the citizen they were
    /// awarded to (or the address the record was re-bound to). Requires the admin role.
    function reverseAward(
        uint256 head,
        uint256 body,
        uint256 batchKey,
        bytes32[] calldata proof,
        uint16 reasonCode
    ) external;

    /// @notice Moves a citizen's whole record (points and badges) from `from` to `to`, after a
    /// lost key. `to` must be fresh (no points, no badges, never re-bound) and must have signed an
    /// EIP-712 `Rebinding(from, to, reasonCode, deadline)`. Requires the admin role.
    function rebindCitizen(address from, address to, uint16 reasonCode, uint256 deadline, bytes calldata signature)
        external;

    /// @notice Sets the badge contract that re-bindings move badges in. Once. Requires the admin role.
    function linkBadges(address badges) external;

    /// @notice Sets the per-award maximum and the per-citizen daily cap. Requires the admin role.
    function setLimits(uint64 maxPointsPerAward, uint64 dailyCap) external;

    /// @notice Enables or disables an activity kind. Requires the admin role.
    function setActivityKind(uint8 kind, bool enabled, string calldata label) external;

    /// @notice Pauses awards, redemptions and re-bindings. Requires PAUSER_ROLE.
    function pause() external;

    /// @notice Resumes them. Requires PAUSER_ROLE.
    function unpause() external;

    /// @notice The per-award maximum and the per-citizen daily cap.
    function limits() external view returns (uint64 maxPointsPerAward, uint64 dailyCap);

    /// @notice Seconds added to UTC to find the city's day for the daily cap (32,400 for Seoul).
    function dayOffset() external view returns (int32);

    /// @notice The city's current day number: (timestamp + dayOffset) / 86,400.
    function today() external view returns (uint32);

    /// @notice Whether `kind` may be awarded.
    function isActivityKindEnabled(uint8 kind) external view returns (bool);

    /// @notice The highest activity id awarded so far (ids only ever increase).
    function lastActivityId() external view returns (uint256);

    /// @notice The Merkle root of the batch whose first activity id is `batchKey` (zero if none).
    function awardRoot(uint256 batchKey) external view returns (bytes32);

    /// @notice Whether the award of `activityId` has been reversed.
    function isReversed(uint256 activityId) external view returns (bool);

    /// @notice Points awarded to `citizen` on the city's current day.
    function awardedToday(address citizen) external view returns (uint64);

    /// @notice Where `citizen`'s record is now: the address it was re-bound to (following every
    /// re-binding), or `citizen` itself.
    function currentAddress(address citizen) external view returns (address);

    /// @notice Splits an award's `body` into its activity id, kind and named measurements.
    function unpackActivity(uint256 body)
        external
        pure
        returns (
            uint64 activityId,
            uint8 kind,
            uint32 distanceMeters,
            uint32 durationSeconds,
            uint32 litterGrams,
            uint32 steps
        );

    /// @notice The nonce the citizen's next redemption consent must carry.
    function consentNonce(address citizen) external view returns (uint256);
}
