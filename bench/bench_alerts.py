"""Alert evaluation throughput with 100,000 active rules, on one core.

Rules sit on 10,000 coins (10 each): 9 threshold rules (price_below / price_above, served by the sorted
index) and 1 rule read one by one (price_change_pct over an hour, or an `all` of two conditions).
Prices random-walk around each coin's start like block-by-block market updates; every update is a bus
message shaped like the market service's (`{"id", "value", "timestamp", "change24h", "block"}`) and goes
through the engine's translation as well as the rule book. Prints updates evaluated per second.
"""

from __future__ import annotations

import argparse
import random
import time

from onchain.alerts.engine import observations
from onchain.alerts.rules import Condition, Observation, Rule, RuleBook

COINS = 10_000
RULES_PER_COIN = 10


def coin(i: int) -> str:
    return f"ethereum:0x{i:040x}"


def build_book(rng: random.Random, generic: bool) -> tuple[RuleBook, list[float]]:
    book = RuleBook()
    starts = [rng.uniform(1.0, 5000.0) for _ in range(COINS)]
    for i, start in enumerate(starts):
        subject = coin(i)
        for j in range(RULES_PER_COIN):
            rule_id = f"r{i}-{j}"
            if generic and j == RULES_PER_COIN - 1:
                if i % 2:
                    conditions: tuple[Condition, ...] = (Condition("price_change_pct", -5.0, 3600),)
                    rule = Rule(rule_id, "coin", subject, conditions)
                else:
                    conditions = (Condition("price_below", start * 0.97), Condition("price_change_pct", -2.0, 3600))
                    rule = Rule(rule_id, "coin", subject, conditions, "all")
            else:
                name = "price_below" if j % 2 else "price_above"
                threshold = start * (1 + rng.uniform(-0.05, 0.05))
                rule = Rule(rule_id, "coin", subject, (Condition(name, threshold),), cooldown=300)
            book.add(rule)
    return book, starts


def updates(rng: random.Random, starts: list[float], count: int) -> list[dict[str, object]]:
    prices = list(starts)
    out: list[dict[str, object]] = []
    for n in range(count):
        i = rng.randrange(COINS)
        prices[i] *= 1 + rng.gauss(0, 0.004)
        block = 19_000_000 + n // 500
        out.append(
            {
                "id": coin(i),
                "value": prices[i],
                "timestamp": 1_700_000_000 + n // 500 * 12,
                "change24h": None,
                "block": block,
                "chain": "ethereum",
            }
        )
    return out


def run(generic: bool, count: int, seed: int) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    book, starts = build_book(rng, generic)
    built = time.perf_counter() - started
    messages = updates(rng, starts, count)
    parsed: list[Observation] = [obs for message in messages for obs in observations("prices", message)]

    fired = 0
    t0 = time.perf_counter()
    for obs in parsed:
        fired += len(book.observe(obs))
    book_rate = count / (time.perf_counter() - t0)

    book2, _ = build_book(random.Random(seed), generic)
    t0 = time.perf_counter()
    for message in messages:
        for obs in observations("prices", message):
            book2.observe(obs)
    engine_rate = count / (time.perf_counter() - t0)

    label = "9 threshold + 1 change/composite per coin" if generic else "10 threshold rules per coin"
    print(f"rules: {len(book):,} on {COINS:,} coins ({label}); index built in {built:.2f} s")
    print(f"  rule book only:          {book_rate:,.0f} updates/s ({fired:,} firings over {count:,} updates)")
    print(f"  with message decoding:   {engine_rate:,.0f} updates/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    args, _ = parser.parse_known_args()
    print("alert evaluation, one core, goal >= 100,000 updates/s with 100,000 active rules")
    run(False, args.updates, args.seed)
    run(True, args.updates, args.seed)


if __name__ == "__main__":
    main()
