"""Riding out faults inside a run: each stepping scan is an atomic, repeatable unit.

Two mechanisms, each where it fits:

- **Conditions that last** (interlock open, tube fault: arc or kV / mA out of tolerance, a lost
  Channel Access connection such as an IOC restart) are bluesky suspenders
  (:mod:`gi_instrument.suspenders`): the RunEngine suspends, waits until the condition clears
  plus a settle time, and replays the messages since the checkpoint that opens the stepping
  scan. The replayed scan is a new attempt with a file of its own (numbered by the camera:
  :class:`~gi_instrument.devices.stepping_camera.SteppingCamera`)
  and the camera refuses values of any other attempt, so nothing stale or repeated gets in.
- **Failures of one try** (a rotation or G2 stall, a move or exposure that times out, a frame
  whose dose was disturbed by an arc shorter than the suspenders can see, a dropped frame) are
  repeated here, by the plan, from the checkpoint: a suspender watches a signal for a
  *condition*, but a stall is not a condition one could wait for (the stage reports nothing
  wrong once the move has failed) and it clears by trying again, so a bounded retry inside the
  plan is the natural handling. Both mechanisms charge the same budget
  (:class:`~gi_instrument.devices.attempts.AttemptLog`: ``recovery.attempts_per_scan`` per scan,
  ``recovery.repeats_per_ct`` per run); past it the plan stops with a message that names the
  stream, the projection and every cause.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Generator

import bluesky.plan_stubs as bps
from bluesky.utils import FailedStatus, Msg
from epics.ca import ChannelAccessException, ChannelAccessGetFailure
from ophyd.utils.errors import DisconnectedError

from gi_instrument.devices import GIInstrument
from gi_instrument.devices.attempts import RetryBudgetExceeded
from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.plans.messages import checkpoint

__all__ = ["repeatable_scan", "describe_failure", "cleanup_wrapper", "ScanFailedError"]

Plan = Generator[Msg, Any, Any]

CONNECTION_ERRORS = (DisconnectedError, ChannelAccessException, ChannelAccessGetFailure)
"""What a get or put raises when Channel Access lost the IOC (restart, network)."""
CONNECTION_SIGNS = ("disconnect", "could not connect")
"""Words of other errors that mean the same: ophyd's TimeoutError for a put or get to a PV that
did not (re)connect in time (a put issued while the IOC restarts, once it is back, finds every
device connected again: only the message tells)."""
TRANSIENT = (InstrumentFault, TimeoutError, FailedStatus, *CONNECTION_ERRORS)
"""Failures of one try that the plan repeats. Anything else (a failing callback, a bug) stops
the plan at once: repeating the scan could then deliver its events twice."""


class ScanFailedError(RuntimeError):
    """A stepping scan could not be taken; the message names the stream, projection and cause."""


def describe_failure(exc: BaseException) -> str:
    """What went wrong, in words: a timed-out status names what timed out, a lost Channel Access
    connection says that the IOC restarted or became unreachable."""
    if isinstance(exc, FailedStatus) and exc.args:
        status = exc.args[0]
        inner = status.exception() if hasattr(status, "exception") else None
        what = getattr(getattr(status, "device", None) or getattr(status, "obj", None), "name", "a device")
        if inner is not None:
            return f"{what}: {describe_failure(inner)}"
        return f"{what} did not finish ({status})"
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, CONNECTION_ERRORS) or any(sign in text.lower() for sign in CONNECTION_SIGNS):
        return f"{LOST}: {text}"
    if isinstance(exc, TimeoutError):
        return f"timed out: {text}"
    return text


LOST = "Channel Access connection lost (IOC restart or network)"
CONNECTION_POLL_S = 0.1
"""Real s between checks while a failed try waits for lost connections to come back."""


def repeatable_scan(inst: GIInstrument, stream: str, angle_index: int, attempt: Callable[[], Plan]) -> Plan:
    """Run ``attempt()`` (moves and one stepping scan) after a checkpoint; after a failure of
    one try (:data:`TRANSIENT`), record it, wait until every device is connected and the
    settle time has passed, and try again, within the run's attempt budget. Past the budget, or outside a run with an attempt log, raise
    :class:`ScanFailedError` naming ``stream``, ``angle_index`` and the cause."""
    camera = inst.camera
    while True:
        yield from checkpoint()
        start = time.time()
        log = camera.attempt_log                        # None: outside a run
        recorded = len(log.discarded) if log is not None else 0
        try:
            return (yield from attempt())
        except RetryBudgetExceeded as exc:
            raise ScanFailedError(f"{stream} projection {angle_index}: {exc}") from exc
        except TRANSIENT as exc:
            cause = describe_failure(exc)
            lost = [device.name for device in inst.devices if not device.connected]
            if lost and not cause.startswith(LOST):
                cause = f"{LOST} to {', '.join(lost)}: {cause}"
            if log is None:                     # nothing to repeat with: the error stops the plan
                exc.add_note(f"during the {stream} stepping scan of projection {angle_index}: {cause}")
                raise
            camera.pause()                      # a scan still running on the IOC stops
            camera.note_interruption(cause)
            camera.abandon(cause)
            if len(log.discarded) == recorded:  # failed before the camera took a frame
                log.discard(stream, angle_index, cause=cause, start_time=start)
            try:
                log.begin(stream, angle_index)
            except RetryBudgetExceeded as budget:
                raise ScanFailedError(f"{stream} projection {angle_index}: {budget}") from exc
            yield from bps.checkpoint()         # a suspension while settling must not replay the failed try
            while not all(device.connected for device in inst.devices):    # e.g. the IOC restarting
                yield from bps.sleep(CONNECTION_POLL_S)
            yield from bps.sleep(log.settle_real_s)


def cleanup_wrapper(plan: Plan, cleanup: Callable[[], Plan]) -> Plan:
    """Like bluesky's ``finalize_wrapper``, but a failing cleanup never masks the error that
    stopped ``plan``: that error is raised, with the cleanup's failure added as a note."""
    try:
        result = yield from plan
    except GeneratorExit:
        raise
    except BaseException as exc:
        try:
            yield from cleanup()
        except Exception as cleanup_exc:
            exc.add_note(f"cleanup after this error also failed: {describe_failure(cleanup_exc)}")
        raise
    yield from cleanup()
    return result
