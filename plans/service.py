"""Plans for getting the scanner ready at the start of a day: a tube warm-up and a test image."""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps

from gi_instrument.devices import GIInstrument
from gi_instrument.plans.arguments import check_exposure, check_tube_ready
from gi_instrument.plans.metadata import run_metadata
from gi_instrument.plans.stepping import in_run
from gi_instrument.plans.stubs import Plan, SettingRefusedError

__all__ = ["warm_up_tube", "take_test_image"]

WARMUP_MARGIN_S = 60.0
"""Real seconds a warm-up may take beyond the tube's ``WarmupTime_RBV`` before it fails as timed out."""


def warm_up_tube(inst: GIInstrument) -> Plan:
    """Warm the tube up (``Warmup`` = 1; the controller completes the put when it is warm) and
    check ``WarmedUp_RBV``. Takes the tube's warm-up time (``tube.warmup_time_s``, nominal s);
    opens no run. Raises SettingRefusedError if the tube is still cold afterwards (interlock,
    fault: the controller's status is quoted), or times out after the warm-up time plus
    :data:`WARMUP_MARGIN_S`.
    """
    tube = inst.tube
    real_s = float(tube.warmup_time_s.get()) * float(inst.camera.time_scale.get())
    yield from bps.mv(tube.warmup, 1, timeout=real_s + WARMUP_MARGIN_S)
    warm = yield from bps.rd(tube.warmed_up)
    if not warm:
        raise SettingRefusedError(f"{tube.name}: still not warmed up after the warm-up ({tube.status_message.get()})")


def take_test_image(inst: GIInstrument, *, exposure_s: float | None = None,
                    md: dict[str, Any] | None = None) -> Plan:
    """One frame with X-rays on at the current positions (a run, stream ``primary``), to check
    the beam, the sample's position and the fringes; its file is a new one under
    ``frames/single/``.

    Args:
        inst: the instrument.
        exposure_s: exposure, s (default: the profile's; within its min/max).
        md: extra start-document metadata.
    """
    exposure = check_exposure(inst, exposure_s)
    check_tube_ready(inst)
    meta = run_metadata(inst, "take_test_image", {"exposure_s": exposure}, md, dimension="time")
    return in_run(inst, meta, lambda run_dir: bps.trigger_and_read([inst.camera]), exposure_s=exposure)
