// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {CivicRoles} from "./CivicRoles.sol";
import {ICivicBadges} from "./interfaces/ICivicBadges.sol";
import {ICivicPoints} from "./interfaces/ICivicPoints.sol";

/// @title CivicPoints
/// @notice ESG reward points for citizens' recorded activities. See {ICivicPoints}.
/// @dev Gas is the city's running cost, so the data is laid out for it: an award touches one
/// storage slot per citizen (balance, the day's total, the consent nonce and the re-bound flag
/// are packed together); the programme's totals, last activity id and limits share one slot
/// read and written once per batch; activity ids only increase, so no bitmap of used ids is
/// written; an award travels in three words and its record event repeats nothing the ERC-20
/// `Transfer` before it already says. A batch keeps one Merkle root of its awards, which is what
/// binds a later reversal to the award it reverses.
contract CivicPoints is ICivicPoints, IERC20Metadata, AccessControl, Pausable, EIP712 {
    using BitMaps for BitMaps.BitMap;

    /// @dev Everything an award or a redemption touches for one citizen. Kept in one slot packed
    /// by hand (see {_citizen}): a struct assigned to storage is written member by member, and a
    /// struct in memory per award grows memory; both cost hundreds of gas per award.
    struct Citizen {
        uint64 balance;
        uint64 awardedToday;
        uint32 day;
        uint32 consentNonce;
        bool rebound;
    }

    /// @dev What every batch reads and writes once, in one slot.
    struct Programme {
        uint64 totalSupply;
        uint64 lastActivityId;
        uint64 maxPointsPerAward;
        uint64 dailyCap;
    }

    bytes32 private constant _REDEMPTION_TYPEHASH =
        keccak256("Redemption(address citizen,uint64 points,uint256 rewardId,uint256 nonce,uint256 deadline)");
    bytes32 private constant _REBINDING_TYPEHASH =
        keccak256("Rebinding(address from,address to,uint16 reasonCode,uint256 deadline)");
    /// @dev Reserved bits of an award's head (the low 32) and body (bits 136 to 191).
    uint256 private constant _HEAD_RESERVED = type(uint32).max;
    uint256 private constant _BODY_RESERVED = uint256(type(uint56).max) << 136;
    /// @dev A citizen's packed slot (see {_citizen}): the consent nonce and the re-bound flag.
    uint256 private constant _NONCE_AND_FLAG = uint256(0x1ffffffff) << 160;
    uint256 private constant _REBOUND = uint256(1) << 192;

    int32 private immutable _dayOffset;
    string private _name;
    string private _symbol;
    Programme private _programme;
    /// @dev Bit `k` set: activity kind `k` may be awarded.
    uint256 private _enabledKinds;
    address private _badges;
    mapping(address citizen => uint256 packed) private _citizens;
    mapping(address from => address to) private _reboundTo;
    mapping(uint256 batchKey => bytes32 root) private _awardRoots;
    BitMaps.BitMap private _reversed;

    /// @param dayOffset_ Seconds east of UTC of the city's time zone: the daily cap resets at the
    /// city's midnight (32,400 for Asia/Seoul).
    constructor(
        string memory name_,
        string memory symbol_,
        address admin,
        uint64 maxPointsPerAward,
        uint64 dailyCap,
        int32 dayOffset_
    ) EIP712(name_, "1") {
        _name = name_;
        _symbol = symbol_;
        _dayOffset = dayOffset_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setLimits(maxPointsPerAward, dailyCap);
        _setActivityKind(0, true, "plogging");
    }

    // ---------------------------------------------------------------- awards

    /// @inheritdoc ICivicPoints
    function awardPointsBatch(Award[] calldata awards) external onlyRole(CivicRoles.MINTER_ROLE) whenNotPaused {
        uint256 count = awards.length;
        if (count == 0) revert EmptyBatch();
        Programme memory p = _programme;
        uint256 kinds = _enabledKinds;
        uint32 day = _today();
        // OpenZeppelin's Merkle tree layout: 2n - 1 nodes, leaf i at the end in reverse order.
        bytes32[] memory tree = new bytes32[](2 * count - 1);
        uint256 last = p.lastActivityId;
        uint256 minted;
        for (uint256 i; i < count; ++i) {
            (uint256 head, uint256 body) = (awards[i].head, awards[i].body);
            (address citizen, uint64 points, uint256 activityId, uint8 kind) = _decode(head, body, i);
            if (activityId <= last) revert ActivityIdNotIncreasing(activityId, last);
            if (points == 0) revert ZeroPointsAward(activityId);
            if (points > p.maxPointsPerAward) revert AwardTooLarge(activityId, points, p.maxPointsPerAward);
            if ((kinds >> kind) & 1 == 0) revert UnknownActivityKind(activityId, kind);
            uint256 packed = _citizens[citizen];
            if (citizen == address(0) || packed & _REBOUND != 0) revert InvalidCitizen(citizen);
            uint64 soFar = uint32(packed >> 128) == day ? uint64(packed >> 64) : 0;
            if (soFar + points > p.dailyCap) revert DailyCapExceeded(citizen, soFar, points, p.dailyCap);
            // Balance, the day's total and the day are rewritten; the nonce and flag are kept.
            _citizens[citizen] = (packed & _NONCE_AND_FLAG) | (uint256(day) << 128)
                | (uint256(soFar + points) << 64) | (uint64(packed) + points);
            _emitTransfer(address(0), citizen, points);
            emit ActivityRecorded(body, awards[i].evidenceHash);
            last = activityId;
            // Bounded: each award is at most maxPointsPerAward (a uint64), far from overflow.
            unchecked {
                minted += points;
                tree[2 * count - 2 - i] = _leaf(head, body);
            }
        }
        _awardRoots[awards[0].body >> 192] = _merkleRoot(tree, count);
        p.lastActivityId = uint64(last);
        p.totalSupply += uint64(minted);
        _programme = p;
    }

    /// @dev Splits a packed award; reserved bits must be zero so that each award has one encoding.
    function _decode(uint256 head, uint256 body, uint256 index)
        private
        pure
        returns (address citizen, uint64 points, uint256 activityId, uint8 kind)
    {
        if (head & _HEAD_RESERVED != 0 || body & _BODY_RESERVED != 0) revert MalformedAward(index);
        return (address(uint160(head >> 96)), uint64(head >> 32), body >> 192, uint8(body >> 128));
    }

    /// @dev A citizen's slot: balance (bits 0-63), the day's total (64-127), the day (128-159),
    /// the consent nonce (160-191), re-bound (bit 192). The award loop reads and writes the word
    /// itself; everything else goes through these two helpers.
    function _citizen(address citizen) private view returns (Citizen memory) {
        uint256 packed = _citizens[citizen];
        return Citizen(
            uint64(packed), uint64(packed >> 64), uint32(packed >> 128), uint32(packed >> 160), packed & _REBOUND != 0
        );
    }

    function _storeCitizen(address citizen, Citizen memory c) private {
        _citizens[citizen] = uint256(c.balance) | (uint256(c.awardedToday) << 64) | (uint256(c.day) << 128)
            | (uint256(c.consentNonce) << 160) | (c.rebound ? _REBOUND : 0);
    }

    /// @dev A leaf commits to who got how many points for which activity (head and body).
    function _leaf(uint256 head, uint256 body) private pure returns (bytes32) {
        return Hashes.efficientKeccak256(bytes32(head), bytes32(body));
    }

    /// @dev The root of OpenZeppelin's standard tree shape over leaves already placed in `tree`.
    function _merkleRoot(bytes32[] memory tree, uint256 leaves) private pure returns (bytes32) {
        for (uint256 i = leaves - 1; i > 0;) {
            unchecked {
                --i;
                tree[i] = Hashes.commutativeKeccak256(tree[2 * i + 1], tree[2 * i + 2]);
            }
        }
        return tree[0];
    }

    // ---------------------------------------------------------------- redemption and reversal

    /// @inheritdoc ICivicPoints
    function redeem(uint64 points, uint256 rewardId) external whenNotPaused {
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
    ) external onlyRole(CivicRoles.REDEEMER_ROLE) whenNotPaused {
        if (block.timestamp > deadline) revert ConsentExpired(deadline, block.timestamp);
        Citizen memory c = _citizen(citizen);
        uint32 nonce = c.consentNonce;
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(_REDEMPTION_TYPEHASH, citizen, points, rewardId, nonce, deadline)));
        // SignatureChecker also accepts ERC-1271 contract wallets, for citizens who move to one.
        if (!SignatureChecker.isValidSignatureNow(citizen, digest, signature)) {
            revert InvalidConsentSignature(citizen);
        }
        c.consentNonce = nonce + 1;
        _storeCitizen(citizen, c);
        _spend(citizen, points);
        emit PointsRedeemed(citizen, rewardId, points, msg.sender);
    }

    /// @inheritdoc ICivicPoints
    function reverseAward(
        uint256 head,
        uint256 body,
        uint256 batchKey,
        bytes32[] calldata proof,
        uint16 reasonCode
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        (address citizen, uint64 points, uint256 activityId,) = _decode(head, body, 0);
        bytes32 root = _awardRoots[batchKey];
        if (root == 0 || !MerkleProof.verifyCalldata(proof, root, _leaf(head, body))) revert AwardNotFound(activityId);
        if (_reversed.get(activityId)) revert ActivityAlreadyReversed(activityId);
        _reversed.set(activityId);
        address holder = _currentAddress(citizen);
        _spend(holder, points);
        emit AwardReversed(activityId, holder, points, reasonCode);
    }

    function _spend(address citizen, uint64 points) private {
        Citizen memory c = _citizen(citizen);
        if (points == 0 || c.balance < points) revert InsufficientPoints(citizen, c.balance, points);
        c.balance -= points;
        _storeCitizen(citizen, c);
        _programme.totalSupply -= points;
        _emitTransfer(citizen, address(0), points);
    }

    /// @dev Every balance change goes through here; a gas-report variant overrides it to measure
    /// what the ERC-20 events cost.
    function _emitTransfer(address from, address to, uint256 value) internal virtual {
        emit Transfer(from, to, value);
    }

    // ---------------------------------------------------------------- re-binding a lost key

    /// @inheritdoc ICivicPoints
    function rebindCitizen(address from, address to, uint16 reasonCode, uint256 deadline, bytes calldata signature)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        whenNotPaused
    {
        if (block.timestamp > deadline) revert ConsentExpired(deadline, block.timestamp);
        Citizen memory source = _citizen(from);
        bool fresh = _citizens[to] == 0 && _reboundTo[to] == address(0);
        if (from == to || to == address(0) || source.rebound || !fresh) revert InvalidRebinding(from, to);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(_REBINDING_TYPEHASH, from, to, reasonCode, deadline)));
        if (!SignatureChecker.isValidSignatureNow(to, digest, signature)) revert InvalidConsentSignature(to);
        address badges = _badges;
        if (badges == address(0)) revert BadgesLinkInvalid(address(0));

        _storeCitizen(to, source);
        _storeCitizen(from, Citizen(0, 0, 0, 0, true));
        _reboundTo[from] = to;
        if (source.balance != 0) _emitTransfer(from, to, source.balance);
        ICivicBadges(badges).rebind(from, to, msg.sender);
        emit CitizenRebound(from, to, reasonCode);
    }

    function _currentAddress(address citizen) private view returns (address) {
        for (address next = _reboundTo[citizen]; next != address(0); next = _reboundTo[citizen]) {
            citizen = next;
        }
        return citizen;
    }

    // ---------------------------------------------------------------- administration

    /// @inheritdoc ICivicPoints
    function linkBadges(address badges) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_badges != address(0) || badges == address(0)) revert BadgesLinkInvalid(badges);
        _badges = badges;
        emit BadgesLinked(badges);
    }

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
        (_programme.maxPointsPerAward, _programme.dailyCap) = (maxPointsPerAward, dailyCap);
        emit LimitsChanged(maxPointsPerAward, dailyCap);
    }

    function _setActivityKind(uint8 kind, bool enabled, string memory label) private {
        if (enabled) _enabledKinds |= (uint256(1) << kind);
        else _enabledKinds &= ~(uint256(1) << kind);
        emit ActivityKindSet(kind, enabled, label);
    }

    function _today() private view returns (uint32) {
        return uint32(uint256(int256(block.timestamp) + _dayOffset) / 1 days);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICivicPoints
    function limits() external view returns (uint64 maxPointsPerAward, uint64 dailyCap) {
        return (_programme.maxPointsPerAward, _programme.dailyCap);
    }

    /// @inheritdoc ICivicPoints
    function dayOffset() external view returns (int32) {
        return _dayOffset;
    }

    /// @inheritdoc ICivicPoints
    function today() external view returns (uint32) {
        return _today();
    }

    /// @inheritdoc ICivicPoints
    function isActivityKindEnabled(uint8 kind) external view returns (bool) {
        return (_enabledKinds >> kind) & 1 == 1;
    }

    /// @inheritdoc ICivicPoints
    function lastActivityId() external view returns (uint256) {
        return _programme.lastActivityId;
    }

    /// @inheritdoc ICivicPoints
    function awardRoot(uint256 batchKey) external view returns (bytes32) {
        return _awardRoots[batchKey];
    }

    /// @inheritdoc ICivicPoints
    function isReversed(uint256 activityId) external view returns (bool) {
        return _reversed.get(activityId);
    }

    /// @inheritdoc ICivicPoints
    function awardedToday(address citizen) external view returns (uint64) {
        Citizen memory c = _citizen(citizen);
        return c.day == _today() ? c.awardedToday : 0;
    }

    /// @inheritdoc ICivicPoints
    function currentAddress(address citizen) external view returns (address) {
        return _currentAddress(citizen);
    }

    /// @inheritdoc ICivicPoints
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
        )
    {
        return (
            uint64(body >> 192),
            uint8(body >> 128),
            uint32(body >> 96),
            uint32(body >> 64),
            uint32(body >> 32),
            uint32(body)
        );
    }

    /// @inheritdoc ICivicPoints
    function consentNonce(address citizen) external view returns (uint256) {
        return _citizen(citizen).consentNonce;
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
        return _programme.totalSupply;
    }

    /// @inheritdoc IERC20
    function balanceOf(address account) external view returns (uint256) {
        return _citizen(account).balance;
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
