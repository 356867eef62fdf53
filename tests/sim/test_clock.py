"""The simulator's nominal clock: sleeps are scaled, the time between them is not."""

import asyncio
import time

import pytest

from gi_instrument.sim.clock import SimClock, instrument_real_s


def test_sleeps_run_nominal_time_and_overhead_counts_at_the_real_rate() -> None:
    clock = SimClock(time_scale=1e-2)

    async def scenario() -> float:
        await clock.sleep(20.0)                      # 20 nominal s = 0.2 s real
        time.sleep(0.05)                             # 50 ms of "overhead" (CA traffic, load)
        # two overlapping 30 s sleeps (e.g. a move beside an exposure) are 30 s, not 60 s
        await asyncio.gather(clock.sleep(30.0), clock.sleep(30.0))
        return clock.now_s()

    t0 = clock.now_s()
    nominal = asyncio.run(scenario()) - t0
    # 20 + 30 nominal s of sleeping, plus the real overhead (0.05 s) and the event loop's
    # overshoot of each sleep (a few ms real, a few tenths of a nominal s); scaling the overhead by
    # 1 / time_scale as well would add 5 nominal s, counting the overlap twice 30 s
    assert 50.0 <= nominal < 52.0, nominal


def test_the_instruments_own_time_is_recovered_from_the_two_clocks() -> None:
    """What the acquisition benchmark subtracts: from an interval's nominal and real spans, the
    real time spent sleeping (the instrument's work), not the work between the sleeps."""
    clock = SimClock(time_scale=1e-3)

    async def scenario() -> float:
        asleep = 0.0
        for _ in range(4):
            asleep += await clock.sleep(40.0)        # 40 ms real each
            time.sleep(0.03)                         # 30 ms of the client's work
        return asleep

    nominal0, real0 = clock.now_s(), time.monotonic()
    asleep = asyncio.run(scenario())
    nominal, real = clock.now_s() - nominal0, time.monotonic() - real0
    assert instrument_real_s(nominal, real, 1e-3) == pytest.approx(asleep, abs=2e-3)
    assert real - instrument_real_s(nominal, real, 1e-3) == pytest.approx(0.12, abs=0.02)
    with pytest.raises(ValueError, match="time_scale"):
        instrument_real_s(nominal, real, 1.0)


def test_real_time_scale_is_plain_real_time() -> None:
    clock = SimClock(time_scale=1.0)
    start = clock.now_s()
    real = asyncio.run(clock.sleep(0.03))
    assert real == pytest.approx(0.03, abs=0.02)
    assert clock.now_s() - start == pytest.approx(0.03, abs=0.02)


def test_a_restarted_clock_goes_on_from_the_world_state() -> None:
    """An IOC restart hands its instrument time to the new process (``--world-state``): the new
    clock goes on from there, counting the downtime at the real rate."""
    from gi_instrument.sim.world import WorldState

    before = SimClock(time_scale=1e-3)
    asyncio.run(before.sleep(3600.0))                # an hour of exposures: 3.6 s real
    state = WorldState(nominal_s=before.now_s(), wall_s=time.time(), rotation_deg=12.5, sample_mm=20.0, g2_um=1.2,
                       tube_warmed_up=False, interlock_open=True)
    text = state.to_json()
    time.sleep(0.2)                                  # the IOC is down
    after = SimClock(time_scale=1e-3, start_s=WorldState.from_json(text).nominal_now_s())
    gap = after.now_s() - state.nominal_s
    assert 0.2 <= gap < 0.5, gap                     # the downtime at the real rate, no hour lost or added
    assert WorldState.from_json(text) == state
    with pytest.raises(ValueError, match="not a world state"):
        WorldState.from_json('{"nominal_s": 1}')
