// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {CivicPoints} from "../CivicPoints.sol";

/// @notice Gas report only: CivicPoints without its ERC-20 `Transfer` events, to show in the same
/// run what those events cost per award. Never deployed outside the gas report.
contract CivicPointsWithoutTransfer is CivicPoints {
    constructor(address admin, uint64 maxPointsPerAward, uint64 dailyCap, int32 dayOffset_)
        CivicPoints("No Transfer", "NT", admin, maxPointsPerAward, dailyCap, dayOffset_)
    {}

    function _emitTransfer(address, address, uint256) internal pure override {}
}
