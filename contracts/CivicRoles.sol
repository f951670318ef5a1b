// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title CivicRoles
/// @notice The role identifiers shared by the city's contracts. The admin role is OpenZeppelin's
/// DEFAULT_ADMIN_ROLE (zero), which grants and revokes every other role, reverses awards,
/// re-binds a citizen's record and changes limits.
library CivicRoles {
    /// @notice May award ESG reward points for recorded activities.
    bytes32 internal constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice May create city events and issue, revoke, or sign claim vouchers for, attendance badges.
    bytes32 internal constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice May relay a citizen's signed consent to spend points on a reward.
    bytes32 internal constant REDEEMER_ROLE = keccak256("REDEEMER_ROLE");
    /// @notice May pause and unpause awards, redemptions and badge issuance.
    bytes32 internal constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice May anchor the Merkle root of a period's off-chain records.
    bytes32 internal constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");
}
