// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

/// @notice Gas baseline only: a plain OpenZeppelin ERC-20 with an open mint, one per transaction
/// or in a loop, to measure the ledger's awards against in the same run.
contract BaselineERC20 is ERC20 {
    constructor() ERC20("Baseline", "BASE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function mintBatch(address[] calldata to, uint256 amount) external {
        for (uint256 i; i < to.length; ++i) {
            _mint(to[i], amount);
        }
    }
}

/// @notice Gas baseline only: a plain OpenZeppelin ERC-1155 mint (token id = event id).
contract BaselineERC1155 is ERC1155 {
    constructor() ERC1155("") {}

    function mint(address to, uint256 id) external {
        _mint(to, id, 1, "");
    }
}
