// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC1155MetadataURI} from "@openzeppelin/contracts/token/ERC1155/extensions/IERC1155MetadataURI.sol";
import {ERC1155Utils} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Utils.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {CivicRoles} from "./CivicRoles.sol";
import {ICivicBadges} from "./interfaces/ICivicBadges.sol";

/// @title CivicBadges
/// @notice Soulbound attendance badges for city events. See {ICivicBadges}.
/// @dev Badges are kept as bit pairs (held, revoked) in a per-citizen bitmap, 128 events per
/// word, instead of OpenZeppelin ERC1155's balance mapping: a citizen's later badges update a
/// slot already written rather than create one, and a revocation is remembered in the same word
/// the issuance reads anyway. The ERC-1155 surface (balanceOf, TransferSingle, the receiver hook,
/// metadata URI) is kept so wallets and explorers read badges as usual.
contract CivicBadges is
    ICivicBadges,
    IERC1155,
    IERC1155MetadataURI,
    AccessControl,
    Pausable,
    ReentrancyGuardTransient,
    EIP712
{
    using BitMaps for BitMaps.BitMap;

    bytes32 private constant _VOUCHER_TYPEHASH =
        keccak256("Voucher(uint256 eventId,address attendee,uint256 nonce,uint256 deadline)");
    /// @dev ERC-5192 (minimal soulbound NFTs) and ERC-5633 (composable soulbound NFTs) interface ids.
    bytes4 private constant _ERC5192_INTERFACE_ID = 0xb45a3c0e;
    bytes4 private constant _ERC5633_INTERFACE_ID = 0x911ec470;
    uint256 private constant _HELD = 1;
    uint256 private constant _REVOKED = 2;

    /// @dev The points contract: the only caller of {rebind}.
    address private immutable _points;
    string private _name;
    string private _symbol;
    string private _uriTemplate;
    string private _contractURI;
    uint256 private _eventCount;
    mapping(uint256 eventId => CityEvent) private _events;
    mapping(bytes32 clientRef => uint256 eventId) private _eventByRef;
    mapping(address attendee => mapping(uint256 word => uint256 bits)) private _badges;
    mapping(address issuer => BitMaps.BitMap) private _usedNonces;

    /// @param uriTemplate_ ERC-1155 metadata URI with `{id}`, e.g. `https://city.example/v1/badges/{id}.json`.
    constructor(
        address admin,
        address points,
        string memory name_,
        string memory symbol_,
        string memory uriTemplate_,
        string memory contractURI_
    ) EIP712("CivicBadges", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _points = points;
        _name = name_;
        _symbol = symbol_;
        _uriTemplate = uriTemplate_;
        _contractURI = contractURI_;
    }

    // ---------------------------------------------------------------- events

    /// @inheritdoc ICivicBadges
    function createEvent(Venue venue, uint64 claimStart, uint64 claimEnd, uint32 capacity, bytes32 clientRef)
        external
        onlyRole(CivicRoles.ISSUER_ROLE)
        returns (uint256 eventId)
    {
        if (claimEnd < claimStart) revert InvalidClaimWindow(claimStart, claimEnd);
        if (clientRef == 0) revert InvalidClientReference();
        uint256 existing = _eventByRef[clientRef];
        if (existing != 0) revert EventAlreadyCreated(clientRef, existing);
        eventId = ++_eventCount;
        _events[eventId] = CityEvent(claimStart, claimEnd, capacity, 0, venue, true);
        _eventByRef[clientRef] = eventId;
        emit EventCreated(eventId, venue, claimStart, claimEnd, capacity, clientRef);
        emit Locked(eventId);
        emit URI(_uriTemplate, eventId);
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
        if (_usedNonces[issuer].get(voucher.nonce)) revert VoucherAlreadyUsed(issuer, voucher.nonce);
        _usedNonces[issuer].set(voucher.nonce);

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
        (uint256 word, uint256 shift) = _position(eventId);
        uint256 bits = _badges[attendee][word];
        if ((bits >> shift) & _HELD == 0) revert NoBadge(eventId, attendee);
        _badges[attendee][word] = (bits & ~(uint256(3) << shift)) | (_REVOKED << shift);
        e.attendees -= 1;
        emit TransferSingle(msg.sender, attendee, address(0), eventId, 1);
        emit BadgeRevoked(eventId, attendee, reasonCode);
    }

    /// @inheritdoc ICivicBadges
    function reissueBadge(uint256 eventId, address attendee, uint16 reasonCode)
        external
        onlyRole(CivicRoles.ISSUER_ROLE)
        whenNotPaused
        nonReentrant
    {
        CityEvent memory e = _existingEvent(eventId);
        (uint256 word, uint256 shift) = _position(eventId);
        uint256 bits = _badges[attendee][word];
        if ((bits >> shift) & _REVOKED == 0) revert BadgeNotRevoked(eventId, attendee);
        // Clear the revocation, then issue as usual (capacity, events, receiver hook).
        _badges[attendee][word] = bits & ~(_REVOKED << shift);
        _mintBadge(eventId, attendee, e);
        _events[eventId].attendees = e.attendees;
        emit BadgeReissued(eventId, attendee, reasonCode);
        ERC1155Utils.checkOnERC1155Received(msg.sender, address(0), attendee, eventId, 1, "");
    }

    /// @dev Records one badge; the caller writes `e.attendees` back once per transaction.
    function _mintBadge(uint256 eventId, address attendee, CityEvent memory e) private {
        if (attendee == address(0)) revert InvalidAttendee(attendee);
        if (e.capacity != 0 && e.attendees >= e.capacity) revert EventFull(eventId, e.capacity);
        (uint256 word, uint256 shift) = _position(eventId);
        uint256 bits = _badges[attendee][word];
        uint256 state = (bits >> shift) & 3;
        if (state & _HELD != 0) revert AlreadyHasBadge(eventId, attendee);
        if (state & _REVOKED != 0) revert BadgeWasRevoked(eventId, attendee);
        _badges[attendee][word] = bits | (_HELD << shift);
        e.attendees += 1;
        emit TransferSingle(msg.sender, address(0), attendee, eventId, 1);
    }

    /// @dev Where an event's bit pair lives in a citizen's bitmap: the one place that knows the layout.
    function _position(uint256 eventId) private pure returns (uint256 word, uint256 shift) {
        return (eventId >> 7, (eventId & 127) << 1);
    }

    function _existingEvent(uint256 eventId) private view returns (CityEvent memory e) {
        e = _events[eventId];
        if (!e.exists) revert UnknownEvent(eventId);
    }

    // ---------------------------------------------------------------- re-binding

    /// @inheritdoc ICivicBadges
    function rebind(address from, address to, address operator) external nonReentrant {
        if (msg.sender != _points) revert RebindingNotAllowed(msg.sender);
        uint256 words = (_eventCount >> 7) + 1;
        // The target must be fresh: checked over every word before anything moves.
        for (uint256 w; w < words; ++w) {
            if (_badges[to][w] != 0) revert RebindTargetHoldsBadges(to);
        }
        uint256 held;
        for (uint256 w; w < words; ++w) {
            uint256 bits = _badges[from][w];
            if (bits == 0) continue;
            _badges[to][w] = bits;
            _badges[from][w] = 0;
            for (uint256 k; k < 128; ++k) {
                if ((bits >> (k << 1)) & _HELD != 0) ++held;
            }
        }
        if (held == 0) return;
        uint256[] memory ids = new uint256[](held);
        uint256[] memory values = new uint256[](held);
        uint256 n;
        for (uint256 w; w < words; ++w) {
            uint256 bits = _badges[to][w];
            for (uint256 k; bits != 0 && k < 128; ++k) {
                if ((bits >> (k << 1)) & _HELD != 0) {
                    (ids[n], values[n]) = ((w << 7) | k, 1);
                    ++n;
                }
            }
        }
        emit TransferBatch(operator, from, to, ids, values);
        ERC1155Utils.checkOnERC1155BatchReceived(operator, from, to, ids, values, "");
    }

    // ---------------------------------------------------------------- administration

    /// @inheritdoc ICivicBadges
    function setURITemplate(string calldata template) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _uriTemplate = template;
        emit URITemplateChanged(template);
    }

    /// @inheritdoc ICivicBadges
    function setContractURI(string calldata uri_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _contractURI = uri_;
        emit ContractURIUpdated();
    }

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
    function eventIdFor(bytes32 clientRef) external view returns (uint256) {
        return _eventByRef[clientRef];
    }

    /// @inheritdoc ICivicBadges
    function eventCount() external view returns (uint256) {
        return _eventCount;
    }

    /// @inheritdoc ICivicBadges
    function hasBadge(uint256 eventId, address attendee) public view returns (bool) {
        (uint256 word, uint256 shift) = _position(eventId);
        return (_badges[attendee][word] >> shift) & _HELD != 0;
    }

    /// @inheritdoc ICivicBadges
    function isRevoked(uint256 eventId, address attendee) external view returns (bool) {
        (uint256 word, uint256 shift) = _position(eventId);
        return (_badges[attendee][word] >> shift) & _REVOKED != 0;
    }

    /// @inheritdoc ICivicBadges
    function isVoucherNonceUsed(address issuer, uint256 nonce) external view returns (bool) {
        return _usedNonces[issuer].get(nonce);
    }

    /// @inheritdoc ICivicBadges
    function voucherDigest(Voucher calldata voucher) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(_VOUCHER_TYPEHASH, voucher.eventId, voucher.attendee, voucher.nonce, voucher.deadline))
        );
    }

    /// @inheritdoc ICivicBadges
    function name() external view returns (string memory) {
        return _name;
    }

    /// @inheritdoc ICivicBadges
    function symbol() external view returns (string memory) {
        return _symbol;
    }

    /// @inheritdoc ICivicBadges
    function contractURI() external view returns (string memory) {
        return _contractURI;
    }

    /// @inheritdoc ICivicBadges
    function locked(uint256 tokenId) external view returns (bool) {
        _existingEvent(tokenId);
        return true;
    }

    /// @inheritdoc ICivicBadges
    function isSoulbound(uint256 id) external view returns (bool) {
        _existingEvent(id);
        return true;
    }

    /// @inheritdoc IERC1155MetadataURI
    /// @dev One template for every event: clients replace `{id}` with the id as 64 hex digits.
    function uri(uint256) external view returns (string memory) {
        return _uriTemplate;
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
            || interfaceId == _ERC5192_INTERFACE_ID || interfaceId == _ERC5633_INTERFACE_ID
            || super.supportsInterface(interfaceId);
    }
}
