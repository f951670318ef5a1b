// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICivicPoints
/// @notice Non-transferable ESG reward points. Each award records one citizen activity (a plogging
/// outing or another kind the city registers); the full record is the `ActivityRecorded` event,
/// storage keeps only what the contract must check. Balances can be rebuilt from
/// `ActivityRecorded`, `AwardReversed` and `PointsRedeemed` alone.
interface ICivicPoints {
    /// @notice One activity to award.
    /// @param metrics The outing's measurements packed into one word, 32 bits each, high to low:
    /// distance in metres, duration in seconds, litter in grams, steps
    /// (`distance << 96 | duration << 64 | litter << 32 | steps`; {unpackMetrics} splits it).
    /// Packed because every 32-byte word of calldata and log data is paid for by the city on
    /// every award; one word instead of four keeps an award under 12,000 gas.
    /// @param evidenceHash A commitment to the photos or GPS track kept off-chain.
    struct Activity {
        uint256 activityId;
        address citizen;
        uint64 points;
        uint8 kind;
        uint128 metrics;
        bytes32 evidenceHash;
    }

    /// @notice An activity was recorded and its points awarded; `metrics` is packed as in {Activity}.
    event ActivityRecorded(
        uint256 indexed activityId,
        address indexed citizen,
        uint8 kind,
        uint64 points,
        uint128 metrics,
        bytes32 evidenceHash
    );

    /// @notice A wrongful award was reversed: the points were taken back; the original record stays.
    event AwardReversed(uint256 indexed activityId, address indexed citizen, uint64 points, uint16 reasonCode);

    /// @notice Points were spent on a city reward with the citizen's consent.
    /// @param relayer The account that sent the transaction: the citizen, or a redeemer relaying
    /// the citizen's signature.
    event PointsRedeemed(address indexed citizen, uint256 indexed rewardId, uint64 points, address relayer);

    /// @notice The per-award maximum or the per-citizen daily cap changed.
    event LimitsChanged(uint64 maxPointsPerAward, uint64 dailyCap);

    /// @notice An activity kind was enabled or disabled.
    event ActivityKindSet(uint8 indexed kind, bool enabled, string label);

    /// @notice Points cannot be transferred or approved.
    error PointsNonTransferable();
    /// @notice The activity id has already been awarded.
    error DuplicateActivity(uint256 activityId);
    /// @notice The activity kind is not enabled.
    error UnknownActivityKind(uint256 activityId, uint8 kind);
    /// @notice An award must carry at least one point.
    error ZeroPointsAward(uint256 activityId);
    /// @notice The award is larger than the per-award maximum.
    error AwardTooLarge(uint256 activityId, uint64 points, uint64 maxPointsPerAward);
    /// @notice The award would take the citizen past the daily cap.
    error DailyCapExceeded(address citizen, uint64 awardedToday, uint64 points, uint64 dailyCap);
    /// @notice The zero address cannot hold points.
    error InvalidCitizen(address citizen);
    /// @notice A batch must hold at least one activity.
    error EmptyBatch();
    /// @notice Limits must be non-zero and the per-award maximum must not exceed the daily cap.
    error InvalidLimits(uint64 maxPointsPerAward, uint64 dailyCap);
    /// @notice The citizen holds fewer points than the operation needs.
    error InsufficientPoints(address citizen, uint256 balance, uint256 needed);
    /// @notice The activity id was never awarded.
    error ActivityNotAwarded(uint256 activityId);
    /// @notice The award has already been reversed.
    error ActivityAlreadyReversed(uint256 activityId);
    /// @notice The citizen's signed consent is past its deadline.
    error ConsentExpired(uint256 deadline, uint256 timestamp);
    /// @notice The consent signature was not made by the citizen for these terms.
    error InvalidConsentSignature(address citizen);

    /// @notice Awards points for one activity. Requires MINTER_ROLE; stops while paused.
    function awardPoints(Activity calldata activity) external;

    /// @notice Awards points for many activities in one transaction; all or none.
    function awardPointsBatch(Activity[] calldata activities) external;

    /// @notice Spends the caller's own points on reward `rewardId`.
    function redeem(uint64 points, uint256 rewardId) external;

    /// @notice Spends a citizen's points on a reward with the citizen's EIP-712 signature over
    /// (citizen, points, rewardId, nonce, deadline). Requires REDEEMER_ROLE.
    function redeemWithConsent(
        address citizen,
        uint64 points,
        uint256 rewardId,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Reverses a wrongful award, taking back `points` from `citizen`. Requires the admin
    /// role. The caller supplies the original award's citizen and points (read from its
    /// `ActivityRecorded` event); an auditor checks that they match.
    function reverseAward(uint256 activityId, address citizen, uint64 points, uint16 reasonCode) external;

    /// @notice Sets the per-award maximum and the per-citizen daily cap. Requires the admin role.
    function setLimits(uint64 maxPointsPerAward, uint64 dailyCap) external;

    /// @notice Enables or disables an activity kind. Requires the admin role.
    function setActivityKind(uint8 kind, bool enabled, string calldata label) external;

    /// @notice Pauses awards. Requires PAUSER_ROLE.
    function pause() external;

    /// @notice Resumes awards. Requires PAUSER_ROLE.
    function unpause() external;

    /// @notice The per-award maximum and the per-citizen daily cap.
    function limits() external view returns (uint64 maxPointsPerAward, uint64 dailyCap);

    /// @notice Whether `kind` may be awarded.
    function isActivityKindEnabled(uint8 kind) external view returns (bool);

    /// @notice Whether `activityId` was awarded, and whether it was reversed since.
    function activityStatus(uint256 activityId) external view returns (bool awarded, bool reversed);

    /// @notice Points awarded to `citizen` on the current UTC day.
    function awardedToday(address citizen) external view returns (uint64);

    /// @notice Splits an activity's packed `metrics` into its named measurements.
    function unpackMetrics(uint128 metrics)
        external
        pure
        returns (uint32 distanceMeters, uint32 durationSeconds, uint32 litterGrams, uint32 steps);

    /// @notice The nonce the citizen's next redemption consent must carry.
    function consentNonce(address citizen) external view returns (uint256);
}
