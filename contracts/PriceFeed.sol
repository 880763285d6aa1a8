// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// A Chainlink-style price aggregator: the read interface consumers call (latestRoundData,
/// latestAnswer, decimals) and the AnswerUpdated/NewRound events the platform's oracle adapter
/// decodes. The owner posts answers; on the devnet that is the traffic generator's oracle updater.
contract PriceFeed {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;
    address public immutable owner;
    uint80 public latestRound;

    mapping(uint80 => Round) private rounds;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
        _post(initialAnswer);
    }

    function updateAnswer(int256 answer) external {
        require(msg.sender == owner, "PriceFeed: not owner");
        _post(answer);
    }

    function latestAnswer() external view returns (int256) {
        return rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return rounds[latestRound].updatedAt;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round memory round = rounds[roundId];
        require(round.updatedAt > 0, "PriceFeed: no data");
        return (roundId, round.answer, round.startedAt, round.updatedAt, roundId);
    }

    function _post(int256 answer) private {
        require(answer > 0, "PriceFeed: answer");
        uint80 roundId = latestRound + 1;
        latestRound = roundId;
        rounds[roundId] = Round(answer, block.timestamp, block.timestamp);
        emit NewRound(roundId, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }
}
