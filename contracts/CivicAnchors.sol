// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {CivicRoles} from "./CivicRoles.sol";
import {ICivicAnchors} from "./interfaces/ICivicAnchors.sol";

/// @title CivicAnchors
/// @notice Merkle roots of the city's off-chain records, one per period. See {ICivicAnchors}.
contract CivicAnchors is ICivicAnchors, AccessControl {
    mapping(bytes32 root => Anchor) private _anchors;

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ICivicAnchors
    function anchor(bytes32 root, uint64 periodStart, uint64 periodEnd, uint32 records)
        external
        onlyRole(CivicRoles.ANCHOR_ROLE)
    {
        if (root == 0 || records == 0 || periodEnd < periodStart) revert InvalidAnchor(root, periodStart, periodEnd);
        if (_anchors[root].anchoredAt != 0) revert AlreadyAnchored(root);
        _anchors[root] = Anchor(periodStart, periodEnd, uint64(block.timestamp), records);
        emit RecordsAnchored(root, periodStart, periodEnd, records);
    }

    /// @inheritdoc ICivicAnchors
    function anchorOf(bytes32 root) external view returns (Anchor memory) {
        return _anchors[root];
    }

    /// @inheritdoc ICivicAnchors
    function verifyRecord(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external view returns (bool) {
        return _anchors[root].anchoredAt != 0 && MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
