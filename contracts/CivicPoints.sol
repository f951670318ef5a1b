// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {CivicRoles} from "./CivicRoles.sol";
import {ICivicPoints} from "./interfaces/ICivicPoints.sol";

/// @title CivicPoints
/// @notice ESG reward points for citizens' recorded activities. See {ICivicPoints}.
/// @dev Gas is the city's running cost, so an award touches one storage slot per citizen (balance,
/// today's total and the consent nonce are packed together) and one bit pair in a shared bitmap
/// of activity ids. Awards emit `ActivityRecorded` rather than an ERC-20 `Transfer`: the record
/// carries the amount and the citizen, and a second log per award would cost about 1,800 gas.
contract CivicPoints is ICivicPoints, IERC20Metadata, AccessControl, Pausable, EIP712 {
    /// @dev Everything an award or a redemption touches for one citizen, in one slot.
    struct Citizen {
        uint96 balance;
        uint32 day;
        uint96 awardedToday;
        uint32 consentNonce;
    }

    struct Limits {
        uint64 maxPointsPerAward;
        uint64 dailyCap;
    }

    bytes32 private constant _REDEMPTION_TYPEHASH =
        keccak256("Redemption(address citizen,uint64 points,uint256 rewardId,uint256 nonce,uint256 deadline)");

    uint256 private constant _AWARDED = 1;
    uint256 private constant _REVERSED = 2;

    string private _name;
    string private _symbol;
    uint256 private _totalSupply;
    Limits private _limits;
    /// @dev Bit `k` set: activity kind `k` may be awarded.
    uint256 private _enabledKinds;
    mapping(address citizen => Citizen) private _citizens;
    /// @dev Two bits per activity id (awarded, reversed), 128 ids per word: dense ids share slots.
    mapping(uint256 word => uint256 bits) private _activityBits;

    constructor(string memory name_, string memory symbol_, address admin, uint64 maxPointsPerAward, uint64 dailyCap)
        EIP712(name_, "1")
    {
        _name = name_;
        _symbol = symbol_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setLimits(maxPointsPerAward, dailyCap);
        _setActivityKind(0, true, "plogging");
    }

    // ---------------------------------------------------------------- awards

    /// @inheritdoc ICivicPoints
    function awardPoints(Activity calldata activity) external onlyRole(CivicRoles.MINTER_ROLE) whenNotPaused {
        _totalSupply += _award(activity, _limits, _enabledKinds, _today());
    }

    /// @inheritdoc ICivicPoints
    function awardPointsBatch(Activity[] calldata activities)
        external
        onlyRole(CivicRoles.MINTER_ROLE)
        whenNotPaused
    {
        uint256 count = activities.length;
        if (count == 0) revert EmptyBatch();
        Limits memory limits_ = _limits;
        uint256 kinds = _enabledKinds;
        uint32 today = _today();
        uint256 minted;
        for (uint256 i; i < count; ++i) {
            // Bounded: each award is at most maxPointsPerAward (uint64), far from uint256 overflow.
            unchecked {
                minted += _award(activities[i], limits_, kinds, today);
            }
        }
        _totalSupply += minted;
    }

    function _award(Activity calldata a, Limits memory limits_, uint256 kinds, uint32 today)
        private
        returns (uint256)
    {
        uint256 id = a.activityId;
        address citizen = a.citizen;
        uint64 points = a.points;
        if (citizen == address(0)) revert InvalidCitizen(citizen);
        if (points == 0) revert ZeroPointsAward(id);
        if (points > limits_.maxPointsPerAward) revert AwardTooLarge(id, points, limits_.maxPointsPerAward);
        if ((kinds >> a.kind) & 1 == 0) revert UnknownActivityKind(id, a.kind);

        uint256 word = id >> 7;
        uint256 shift = (id & 127) << 1;
        uint256 bits = _activityBits[word];
        if ((bits >> shift) & _AWARDED != 0) revert DuplicateActivity(id);
        _activityBits[word] = bits | (_AWARDED << shift);

        Citizen storage c = _citizens[citizen];
        uint96 soFar = c.day == today ? c.awardedToday : 0;
        if (soFar + points > limits_.dailyCap) revert DailyCapExceeded(citizen, uint64(soFar), points, limits_.dailyCap);
        // Assigned as a whole so the compiler writes the slot once.
        // soFar + points <= dailyCap (a uint64), so it fits the uint96 field.
        unchecked {
            (c.day, c.awardedToday) = (today, soFar + points);
        }
        c.balance += points;
        _emitRecorded(a);
        return points;
    }

    /// @dev Separate from `_award` to keep its stack shallow.
    function _emitRecorded(Activity calldata a) private {
        emit ActivityRecorded(a.activityId, a.citizen, a.kind, a.points, a.metrics, a.evidenceHash);
    }

    // ---------------------------------------------------------------- redemption and reversal

    /// @inheritdoc ICivicPoints
    function redeem(uint64 points, uint256 rewardId) external {
        _spend(msg.sender, points);
        emit PointsRedeemed(msg.sender, rewardId, points, msg.sender);
    }

    /// @inheritdoc ICivicPoints
    function redeemWithConsent(
        address citizen,
        uint64 points,
        uint256 rewardId,
        uint256 deadline,
        bytes calldata signature
    ) external onlyRole(CivicRoles.REDEEMER_ROLE) {
        if (block.timestamp > deadline) revert ConsentExpired(deadline, block.timestamp);
        Citizen storage c = _citizens[citizen];
        uint32 nonce = c.consentNonce;
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(_REDEMPTION_TYPEHASH, citizen, points, rewardId, nonce, deadline)));
        // SignatureChecker also accepts ERC-1271 contract wallets, for citizens who move to one.
        if (!SignatureChecker.isValidSignatureNow(citizen, digest, signature)) {
            revert InvalidConsentSignature(citizen);
        }
        c.consentNonce = nonce + 1;
        _spend(citizen, points);
        emit PointsRedeemed(citizen, rewardId, points, msg.sender);
    }

    /// @inheritdoc ICivicPoints
    function reverseAward(uint256 activityId, address citizen, uint64 points, uint16 reasonCode)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        uint256 word = activityId >> 7;
        uint256 shift = (activityId & 127) << 1;
        uint256 bits = _activityBits[word];
        if ((bits >> shift) & _AWARDED == 0) revert ActivityNotAwarded(activityId);
        if ((bits >> shift) & _REVERSED != 0) revert ActivityAlreadyReversed(activityId);
        _activityBits[word] = bits | (_REVERSED << shift);
        _spend(citizen, points);
        emit AwardReversed(activityId, citizen, points, reasonCode);
    }

    function _spend(address citizen, uint64 points) private {
        Citizen storage c = _citizens[citizen];
        uint96 balance = c.balance;
        if (points == 0 || balance < points) revert InsufficientPoints(citizen, balance, points);
        c.balance = balance - points;
        _totalSupply -= points;
    }

    // ---------------------------------------------------------------- administration

    /// @inheritdoc ICivicPoints
    function setLimits(uint64 maxPointsPerAward, uint64 dailyCap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setLimits(maxPointsPerAward, dailyCap);
    }

    /// @inheritdoc ICivicPoints
    function setActivityKind(uint8 kind, bool enabled, string calldata label) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setActivityKind(kind, enabled, label);
    }

    /// @inheritdoc ICivicPoints
    function pause() external onlyRole(CivicRoles.PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ICivicPoints
    function unpause() external onlyRole(CivicRoles.PAUSER_ROLE) {
        _unpause();
    }

    function _setLimits(uint64 maxPointsPerAward, uint64 dailyCap) private {
        if (maxPointsPerAward == 0 || dailyCap < maxPointsPerAward) revert InvalidLimits(maxPointsPerAward, dailyCap);
        _limits = Limits(maxPointsPerAward, dailyCap);
        emit LimitsChanged(maxPointsPerAward, dailyCap);
    }

    function _setActivityKind(uint8 kind, bool enabled, string memory label) private {
        if (enabled) _enabledKinds |= (uint256(1) << kind);
        else _enabledKinds &= ~(uint256(1) << kind);
        emit ActivityKindSet(kind, enabled, label);
    }

    function _today() private view returns (uint32) {
        return uint32(block.timestamp / 1 days);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICivicPoints
    function limits() external view returns (uint64 maxPointsPerAward, uint64 dailyCap) {
        return (_limits.maxPointsPerAward, _limits.dailyCap);
    }

    /// @inheritdoc ICivicPoints
    function isActivityKindEnabled(uint8 kind) external view returns (bool) {
        return (_enabledKinds >> kind) & 1 == 1;
    }

    /// @inheritdoc ICivicPoints
    function activityStatus(uint256 activityId) external view returns (bool awarded, bool reversed) {
        uint256 state = (_activityBits[activityId >> 7] >> ((activityId & 127) << 1)) & 3;
        return (state & _AWARDED != 0, state & _REVERSED != 0);
    }

    /// @inheritdoc ICivicPoints
    function awardedToday(address citizen) external view returns (uint64) {
        Citizen memory c = _citizens[citizen];
        return c.day == _today() ? uint64(c.awardedToday) : 0;
    }

    /// @inheritdoc ICivicPoints
    function unpackMetrics(uint128 metrics)
        external
        pure
        returns (uint32 distanceMeters, uint32 durationSeconds, uint32 litterGrams, uint32 steps)
    {
        return (uint32(metrics >> 96), uint32(metrics >> 64), uint32(metrics >> 32), uint32(metrics));
    }

    /// @inheritdoc ICivicPoints
    function consentNonce(address citizen) external view returns (uint256) {
        return _citizens[citizen].consentNonce;
    }

    /// @inheritdoc IERC20Metadata
    function name() external view returns (string memory) {
        return _name;
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external view returns (string memory) {
        return _symbol;
    }

    /// @inheritdoc IERC20Metadata
    /// @dev Points are whole numbers.
    function decimals() external pure returns (uint8) {
        return 0;
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    /// @inheritdoc IERC20
    function balanceOf(address account) external view returns (uint256) {
        return _citizens[account].balance;
    }

    /// @inheritdoc IERC20
    function allowance(address, address) external pure returns (uint256) {
        return 0;
    }

    /// @notice Always reverts: points are non-transferable.
    function transfer(address, uint256) external pure returns (bool) {
        revert PointsNonTransferable();
    }

    /// @notice Always reverts: points are non-transferable.
    function approve(address, uint256) external pure returns (bool) {
        revert PointsNonTransferable();
    }

    /// @notice Always reverts: points are non-transferable.
    function transferFrom(address, address, uint256) external pure returns (bool) {
        revert PointsNonTransferable();
    }
}
