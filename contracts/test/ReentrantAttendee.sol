// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ICivicBadges} from "../interfaces/ICivicBadges.sol";

/// @notice Test-only attacker: an attendee contract whose ERC-1155 receiver hook re-enters the
/// badge contract with the voucher it was just paid with, trying to claim more than one badge.
contract ReentrantAttendee is IERC1155Receiver {
    ICivicBadges private immutable _badges;
    ICivicBadges.Voucher private _voucher;
    bytes private _signature;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;
    bytes public lastReentryError;

    constructor(ICivicBadges badges) {
        _badges = badges;
    }

    function arm(ICivicBadges.Voucher calldata voucher, bytes calldata signature) external {
        _voucher = voucher;
        _signature = signature;
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        if (reentryAttempts < 3) {
            reentryAttempts += 1;
            try _badges.claimBadge(_voucher, _signature) {
                reentrySuccesses += 1;
            } catch (bytes memory reason) {
                lastReentryError = reason;
            }
        }
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return this.onERC1155BatchReceived.selector;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }
}
