"""Client-side pacing and throttling, on a virtual clock."""

from __future__ import annotations

from omniline.engine.ratelimit import RateLimiter, Throttle
from omniline.testing import VirtualClock


async def test_throttle_allows_a_burst_then_the_rate() -> None:
    clock = VirtualClock()
    throttle = Throttle(clock, rate=1.0, burst=3)
    assert [throttle.check("ann") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = throttle.check("ann")
    assert 0.9 < wait <= 1.0
    assert throttle.check("bob") == 0.0  # keys are separate
    await clock.advance(wait)
    assert throttle.check("ann") == 0.0
    assert throttle.check("ann") > 0


async def test_throttle_forgets_the_least_recent_keys_beyond_its_bound() -> None:
    throttle = Throttle(VirtualClock(), rate=1.0, burst=1, max_keys=2)
    assert throttle.check("a") == 0.0
    assert throttle.check("b") == 0.0
    assert throttle.check("c") == 0.0  # "a" is forgotten
    assert throttle.check("a") == 0.0
    assert throttle.check("c") > 0


async def test_rate_limiter_spaces_sends_per_chat_and_caps_the_account() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock, global_rate=2.0, per_chat_rate=1.0)
    waits = [limiter.reserve(chat) for chat in ("ann", "ann", "bob", "cid", "dan")]
    # one a second to one chat; two a second (bursts of two) across the account, each send
    # taking the account's next slot as it asks
    assert waits == [0.0, 1.0, 0.5, 1.0, 1.5]
    sends = sorted(waits)
    for start in sends:  # never more than the burst plus the rate in any one-second window
        assert sum(1 for t in sends if start <= t < start + 1) <= 2 + 1
    await clock.advance(5)
    assert limiter.reserve("ann") == 0.0
