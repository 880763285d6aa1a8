"""The in-process token bucket, on a clock the test controls."""

from __future__ import annotations

from onchain.accounts.ratelimit import LocalRateLimiter, decide, refill, refusal_at


def test_burst_then_refusal_then_steady_refill() -> None:
    limiter = LocalRateLimiter()
    decisions = [limiter.hit_now("user:a", 60, 1, 100.0) for _ in range(61)]
    assert all(d.allowed for d in decisions[:60]) and not decisions[60].allowed
    assert [d.remaining for d in decisions[:3]] == [59, 58, 57]
    refused = decisions[60]
    assert refused.retry_after == 1.0 and refused.reset_after == 60.0
    assert refused.headers() == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "60",
        "Retry-After": "1",
    }
    assert limiter.hit_now("user:a", 60, 1, 101.0).allowed  # one token a second at 60/min
    assert not limiter.hit_now("user:a", 60, 1, 101.5).allowed
    assert limiter.hit_now("user:b", 60, 1, 101.5).allowed  # buckets are per subject


def test_a_clock_going_backwards_adds_nothing_and_buckets_never_overfill() -> None:
    assert refill(3.0, 10.0, 5.0, 60) == 3.0
    assert refill(3.0, 0.0, 10_000.0, 60) == 60.0
    assert decide(0.5, 60, 1, False).retry_after == 0.5


def test_zero_allowance_refuses_everything() -> None:
    decision = LocalRateLimiter().hit_now("ip:1.2.3.4", 0, 1, 0.0)
    assert not decision.allowed and decision.headers()["Retry-After"] == "60"


async def test_clock_is_injectable() -> None:
    now = [0.0]
    limiter = LocalRateLimiter(clock=lambda: now[0])
    assert all([(await limiter.hit("s", 2)).allowed for _ in range(2)])
    assert not (await limiter.hit("s", 2)).allowed
    now[0] = 30.0
    assert (await limiter.hit("s", 2)).allowed


def test_a_look_at_cost_zero_spends_nothing_and_tells_the_refusal_to_come() -> None:
    limiter = LocalRateLimiter()
    for _ in range(20):
        limiter.hit_now("authfail:x", 20, 1, 100.0)
    look = limiter.hit_now("authfail:x", 20, 0, 100.0)
    refusal = refusal_at(look)
    assert refusal is not None and not refusal.allowed and refusal.retry_after == 3.0  # one token per 3 s
    assert refusal.headers()["Retry-After"] == "3"
    assert refusal_at(limiter.hit_now("authfail:x", 20, 0, 103.0)) is None
    assert limiter.hit_now("authfail:x", 20, 1, 103.0).allowed  # the looks spent nothing
