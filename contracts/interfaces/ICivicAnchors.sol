// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICivicAnchors
/// @notice Anchors for the records the city keeps off-chain (evidence commitments, review
/// decisions): once per period, the Merkle root of the period's records (OpenZeppelin's standard
/// tree) is recorded here in one transaction. Anyone holding a record and its proof can then show
/// it existed unchanged when the root was anchored, while the record itself stays off-chain.
interface ICivicAnchors {
    /// @notice An anchored root: the period it covers, how many records, and when it was anchored.
    struct Anchor {
        uint64 periodStart;
        uint64 periodEnd;
        uint64 anchoredAt;
        uint32 records;
    }

    /// @notice The root of `records` off-chain records from `periodStart` to `periodEnd` (Unix
    /// seconds) was anchored.
    event RecordsAnchored(bytes32 indexed root, uint64 periodStart, uint64 periodEnd, uint32 records);

    /// @notice A root must be non-zero, cover at least one record, and its period must not end before it starts.
    error InvalidAnchor(bytes32 root, uint64 periodStart, uint64 periodEnd);
    /// @notice This root is anchored already.
    error AlreadyAnchored(bytes32 root);

    /// @notice Anchors `root`. Requires ANCHOR_ROLE.
    function anchor(bytes32 root, uint64 periodStart, uint64 periodEnd, uint32 records) external;

    /// @notice The anchor of `root` (`anchoredAt` is zero if it was never anchored).
    function anchorOf(bytes32 root) external view returns (Anchor memory);

    /// @notice Whether `leaf` is in the anchored tree `root`, by an OpenZeppelin Merkle proof.
    function verifyRecord(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external view returns (bool);
}
