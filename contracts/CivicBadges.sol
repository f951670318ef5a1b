// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC1155MetadataURI} from "@openzeppelin/contracts/token/ERC1155/extensions/IERC1155MetadataURI.sol";
import {ERC1155Utils} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Utils.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {CivicRoles} from "./CivicRoles.sol";
import {ICivicBadges} from "./interfaces/ICivicBadges.sol";

/// @title CivicBadges
/// @notice Soulbound attendance badges for city events. See {ICivicBadges}.
/// @dev Badges are kept as bits in a per-citizen bitmap (256 event ids per word) instead of
/// OpenZeppelin ERC1155's balance mapping: a citizen's later badges then update a slot already
/// written rather than create one. The ERC-1155 surface (balanceOf, TransferSingle, the receiver
/// hook, metadata URI) is kept so wallets and explorers read badges as usual.
contract CivicBadges is
    ICivicBadges,
    IERC1155,
    IERC1155MetadataURI,
    AccessControl,
    Pausable,
    ReentrancyGuardTransient,
    EIP712
{
    bytes32 private constant _VOUCHER_TYPEHASH =
        keccak256("Voucher(uint256 eventId,address attendee,uint256 nonce,uint256 deadline)");

    /// @dev ERC-5192 minimal soulbound interface id.
    bytes4 private constant _ERC5192_INTERFACE_ID = 0xb45a3c0e;

    uint256 private _eventCount;
    mapping(uint256 eventId => CityEvent) private _events;
    mapping(uint256 eventId => string) private _uris;
    mapping(address attendee => mapping(uint256 word => uint256 bits)) private _badges;
    mapping(address issuer => mapping(uint256 word => uint256 bits)) private _usedNonces;

    constructor(address admin) EIP712("CivicBadges", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- events

    /// @inheritdoc ICivicBadges
    function createEvent(Venue venue, uint64 claimStart, uint64 claimEnd, uint32 capacity, string calldata uri_)
        external
        onlyRole(CivicRoles.ISSUER_ROLE)
        returns (uint256 eventId)
    {
        if (claimEnd < claimStart) revert InvalidClaimWindow(claimStart, claimEnd);
        eventId = ++_eventCount;
        _events[eventId] = CityEvent(claimStart, claimEnd, capacity, 0, venue, true);
        _uris[eventId] = uri_;
        emit EventCreated(eventId, venue, claimStart, claimEnd, capacity, uri_);
        emit Locked(eventId);
        emit URI(uri_, eventId);
    }

    // ---------------------------------------------------------------- issuance

    /// @inheritdoc ICivicBadges
    function issueBadge(uint256 eventId, address attendee)
        external
        onlyRole(CivicRoles.ISSUER_ROLE)
        whenNotPaused
        nonReentrant
    {
        CityEvent memory e = _existingEvent(eventId);
        _mintBadge(eventId, attendee, e);
        _events[eventId].attendees = e.attendees;
        ERC1155Utils.checkOnERC1155Received(msg.sender, address(0), attendee, eventId, 1, "");
    }

    /// @inheritdoc ICivicBadges
    function issueBadges(uint256 eventId, address[] calldata attendees)
        external
        onlyRole(CivicRoles.ISSUER_ROLE)
        whenNotPaused
        nonReentrant
    {
        uint256 count = attendees.length;
        if (count == 0) revert EmptyBatch();
        CityEvent memory e = _existingEvent(eventId);
        for (uint256 i; i < count; ++i) {
            _mintBadge(eventId, attendees[i], e);
        }
        _events[eventId].attendees = e.attendees;
        // Hooks run after every badge is recorded, so a receiver that re-enters sees final state.
        for (uint256 i; i < count; ++i) {
            ERC1155Utils.checkOnERC1155Received(msg.sender, address(0), attendees[i], eventId, 1, "");
        }
    }

    /// @inheritdoc ICivicBadges
    function claimBadge(Voucher calldata voucher, bytes calldata signature) external whenNotPaused nonReentrant {
        if (block.timestamp > voucher.deadline) revert VoucherExpired(voucher.deadline, block.timestamp);
        // ECDSA.recover rejects malleable (high-s) signatures.
        address issuer = ECDSA.recover(voucherDigest(voucher), signature);
        if (!hasRole(CivicRoles.ISSUER_ROLE, issuer)) revert InvalidVoucherSigner(issuer);
        _useNonce(issuer, voucher.nonce);

        uint256 eventId = voucher.eventId;
        CityEvent memory e = _existingEvent(eventId);
        if (block.timestamp < e.claimStart || block.timestamp > e.claimEnd) {
            revert ClaimWindowClosed(eventId, e.claimStart, e.claimEnd, block.timestamp);
        }
        _mintBadge(eventId, voucher.attendee, e);
        _events[eventId].attendees = e.attendees;
        emit BadgeClaimed(eventId, voucher.attendee, issuer, voucher.nonce);
        ERC1155Utils.checkOnERC1155Received(msg.sender, address(0), voucher.attendee, eventId, 1, "");
    }

    /// @inheritdoc ICivicBadges
    function revokeBadge(uint256 eventId, address attendee, uint16 reasonCode)
        external
        onlyRole(CivicRoles.ISSUER_ROLE)
    {
        CityEvent storage e = _events[eventId];
        if (!e.exists) revert UnknownEvent(eventId);
        uint256 mask = uint256(1) << (eventId & 255);
        uint256 bits = _badges[attendee][eventId >> 8];
        if (bits & mask == 0) revert NoBadge(eventId, attendee);
        _badges[attendee][eventId >> 8] = bits & ~mask;
        e.attendees -= 1;
        emit TransferSingle(msg.sender, attendee, address(0), eventId, 1);
        emit BadgeRevoked(eventId, attendee, reasonCode);
    }

    /// @dev Records one badge; the caller writes `e.attendees` back once per transaction.
    function _mintBadge(uint256 eventId, address attendee, CityEvent memory e) private {
        if (attendee == address(0)) revert InvalidAttendee(attendee);
        if (e.capacity != 0 && e.attendees >= e.capacity) revert EventFull(eventId, e.capacity);
        uint256 mask = uint256(1) << (eventId & 255);
        uint256 bits = _badges[attendee][eventId >> 8];
        if (bits & mask != 0) revert AlreadyHasBadge(eventId, attendee);
        _badges[attendee][eventId >> 8] = bits | mask;
        e.attendees += 1;
        emit TransferSingle(msg.sender, address(0), attendee, eventId, 1);
    }

    function _useNonce(address issuer, uint256 nonce) private {
        uint256 mask = uint256(1) << (nonce & 255);
        uint256 bits = _usedNonces[issuer][nonce >> 8];
        if (bits & mask != 0) revert VoucherAlreadyUsed(issuer, nonce);
        _usedNonces[issuer][nonce >> 8] = bits | mask;
    }

    function _existingEvent(uint256 eventId) private view returns (CityEvent memory e) {
        e = _events[eventId];
        if (!e.exists) revert UnknownEvent(eventId);
    }

    // ---------------------------------------------------------------- administration

    /// @inheritdoc ICivicBadges
    function pause() external onlyRole(CivicRoles.PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ICivicBadges
    function unpause() external onlyRole(CivicRoles.PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICivicBadges
    function cityEvent(uint256 eventId) external view returns (CityEvent memory) {
        return _existingEvent(eventId);
    }

    /// @inheritdoc ICivicBadges
    function eventCount() external view returns (uint256) {
        return _eventCount;
    }

    /// @inheritdoc ICivicBadges
    function hasBadge(uint256 eventId, address attendee) public view returns (bool) {
        return (_badges[attendee][eventId >> 8] >> (eventId & 255)) & 1 == 1;
    }

    /// @inheritdoc ICivicBadges
    function isVoucherNonceUsed(address issuer, uint256 nonce) external view returns (bool) {
        return (_usedNonces[issuer][nonce >> 8] >> (nonce & 255)) & 1 == 1;
    }

    /// @inheritdoc ICivicBadges
    function voucherDigest(Voucher calldata voucher) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(_VOUCHER_TYPEHASH, voucher.eventId, voucher.attendee, voucher.nonce, voucher.deadline))
        );
    }

    /// @inheritdoc ICivicBadges
    function locked(uint256 tokenId) external view returns (bool) {
        if (!_events[tokenId].exists) revert UnknownEvent(tokenId);
        return true;
    }

    /// @inheritdoc IERC1155MetadataURI
    function uri(uint256 eventId) external view returns (string memory) {
        return _uris[eventId];
    }

    /// @inheritdoc IERC1155
    function balanceOf(address account, uint256 id) external view returns (uint256) {
        return hasBadge(id, account) ? 1 : 0;
    }

    /// @inheritdoc IERC1155
    function balanceOfBatch(address[] calldata accounts, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory balances)
    {
        if (accounts.length != ids.length) revert IERC1155Errors.ERC1155InvalidArrayLength(ids.length, accounts.length);
        balances = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            balances[i] = hasBadge(ids[i], accounts[i]) ? 1 : 0;
        }
    }

    /// @inheritdoc IERC1155
    function isApprovedForAll(address, address) external pure returns (bool) {
        return false;
    }

    /// @notice Always reverts: badges are soulbound.
    function setApprovalForAll(address, bool) external pure {
        revert BadgeNonTransferable();
    }

    /// @notice Always reverts: badges are soulbound.
    function safeTransferFrom(address, address, uint256, uint256, bytes calldata) external pure {
        revert BadgeNonTransferable();
    }

    /// @notice Always reverts: badges are soulbound.
    function safeBatchTransferFrom(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
    {
        revert BadgeNonTransferable();
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public view override(AccessControl, IERC165) returns (bool) {
        return interfaceId == type(IERC1155).interfaceId || interfaceId == type(IERC1155MetadataURI).interfaceId
            || interfaceId == _ERC5192_INTERFACE_ID || super.supportsInterface(interfaceId);
    }
}
