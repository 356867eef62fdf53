"""bluesky-queueserver startup for gi-instrument (``start-re-manager --startup-dir`` this folder).

Builds one acquisition session from the environment of the RE manager's worker (with the
suspenders and the tube heartbeat of :func:`~gi_instrument.session.start_session`, so a queued CT
rides out tube faults and IOC restarts) and exposes the
plans of :mod:`gi_instrument.plans` with the instrument already bound, so a queue item names only
scan parameters (``gi_ct`` with ``exposure_s=60``); the devices by name (``tube``, ``g2``,
``rotation``, ``sample``, ``camera``) for bluesky's ``mv``, ``count`` and ``scan``
(``{"name": "mv", "args": ["rotation", 90]}``); ``warm_up_tube`` and ``take_test_image``:

- ``GI_PROFILE``  profile name or path (default ``maast``)
- ``GI_PREFIX``   PV prefix of the IOC (default ``GI:``)
- ``GI_CAMERA_LAYOUT`` ``scanner`` (default) or ``areadetector`` (a standard areaDetector camera IOC)
- ``GI_DATA_DIR`` data directory: catalog, frames, document journal (default ``~/gi-data``, the
  same default as every other command)
- ``GI_ZMQ_PUBLISH`` ``host:port`` of a ``bluesky-0MQ-proxy`` in port: documents are published
  there for ``gi-viewer --live`` (unset: not published)
- ``EPICS_CA_*``  Channel Access settings that reach the IOC (simulator or hardware)

Parameter annotations follow the queue server's conventions (built-in types and ``typing``
generics, no postponed evaluation) and docstrings are numpydoc, which the queue server parses into
the plan descriptions that ``qserver allowed plans`` and GUIs show. Every argument is validated by
the underlying plan before anything moves; a bad one fails the queue item with its message.
"""

# typing.Optional, not X | None: the queue server rebuilds annotations from their repr
# ruff: noqa: UP045

import os
import typing

from bluesky.plan_stubs import mv
from bluesky.plans import count, scan
from bluesky_queueserver.manager.worker import RunEngineWorker

from gi_instrument import plans as gi_plans
from gi_instrument.plans.resume import QUEUE_REQUEST_KEY, journal_runs, run_to_requeue
from gi_instrument.session import start_session


def _refuse_script_upload(self, *, script, update_lists, update_re):
    raise PermissionError("script upload is disabled on this instrument: its plans come from the startup "
                          "folder (gi_instrument/profiles/queueserver)")


# bluesky-queueserver 0.0.25 has no permission for script upload: the worker refuses it here
RunEngineWorker._load_script_into_environment = _refuse_script_upload

session = start_session(os.environ.get("GI_PROFILE", "maast"), os.environ.get("GI_PREFIX", "GI:"),
                        os.environ.get("GI_DATA_DIR") or None,
                        camera_layout=os.environ.get("GI_CAMERA_LAYOUT", "scanner"),
                        zmq_publish=os.environ.get("GI_ZMQ_PUBLISH") or None)
RE = session.RE
inst = session.inst
tube, g2, rotation, sample, camera = inst.tube, inst.g2, inst.rotation, inst.sample, inst.camera


def gi_ct(*, exposure_s: typing.Optional[float] = None, angle_step_deg: typing.Optional[float] = None,
          range_deg: typing.Optional[float] = None, reference_every_deg: typing.Optional[float] = None,
          final_reference: bool = False, start_index: int = 0, n_darks: typing.Optional[int] = None,
          g2_origin_um: float = 0.0, md: typing.Optional[dict] = None):
    """
    A phase-stepping CT as one run: darks, then a stepping scan per angle with reference
    stepping scans (sample out) at the reference interval. Queued again after it failed (the
    queue puts a failed item back at its front), the same CT continues where it stopped
    (``gi_ct_resume``) instead of starting again: when the latest CT of the data directory was
    queued with the same arguments and did not succeed.

    Parameters
    ----------
    exposure_s
        Exposure per phase step, s (default: the profile's; within its min/max).
    angle_step_deg
        Angular step, deg (default: the profile's).
    range_deg
        Angular range, deg (default: the profile's); a multiple of the step.
    reference_every_deg
        Reference interval, deg (default: the profile's); a multiple of the step.
    final_reference
        Take one more reference scan after the last projection.
    start_index
        First projection index (resume an interrupted CT with the same schedule of references).
    n_darks
        Dark frames at the start (default: the profile's; 0 for none).
    g2_origin_um
        G2 position of the first phase step, um.
    md
        Extra start-document metadata.
    """
    request = {"exposure_s": exposure_s, "angle_step_deg": angle_step_deg, "range_deg": range_deg,
               "reference_every_deg": reference_every_deg, "final_reference": final_reference,
               "start_index": start_index, "n_darks": n_darks, "g2_origin_um": g2_origin_um, "md": md}
    previous = run_to_requeue(journal_runs(session.paths.documents), request)
    if previous is not None:
        return (yield from gi_plans.gi_ct_resume(session.inst, previous.uid, documents_dir=session.paths.documents,
                                                 client=session.client))
    return (yield from gi_plans.gi_ct(
        session.inst, exposure_s=exposure_s, angle_step_deg=angle_step_deg, range_deg=range_deg,
        reference_every_deg=reference_every_deg, final_reference=final_reference, start_index=start_index,
        n_darks=n_darks, g2_origin_um=g2_origin_um, md={**(md or {}), QUEUE_REQUEST_KEY: request}))


def gi_ct_resume(uid: str):
    """
    Continue a CT that stopped before its end (failed, aborted, or its process killed) as a new
    run with the same schedule and settings, from its first missing stepping scan; the new run
    records ``resumes: <uid>``.

    Parameters
    ----------
    uid
        Uid of any run of the CT (or its unique beginning).
    """
    return (yield from gi_plans.gi_ct_resume(session.inst, uid, documents_dir=session.paths.documents,
                                             client=session.client))


def phase_step(*, exposure_s: typing.Optional[float] = None, angle_index: int = 0, g2_origin_um: float = 0.0,
               md: typing.Optional[dict] = None):
    """
    A stepping scan at the current angle into the ``primary`` stream.

    Parameters
    ----------
    exposure_s
        Exposure per phase step, s (default: the profile's).
    angle_index
        Projection index recorded with the frames.
    g2_origin_um
        G2 position of the first phase step, um.
    md
        Extra start-document metadata.
    """
    return (yield from gi_plans.phase_step(session.inst, exposure_s=exposure_s, angle_index=angle_index,
                                           g2_origin_um=g2_origin_um, md=md))


def reference_scan(*, exposure_s: typing.Optional[float] = None, angle_index: int = 0, g2_origin_um: float = 0.0,
                   md: typing.Optional[dict] = None):
    """
    Sample out, a stepping scan into the ``reference`` stream, sample back in.

    Parameters
    ----------
    exposure_s
        Exposure per phase step, s (default: the profile's).
    angle_index
        Projection index recorded with the frames.
    g2_origin_um
        G2 position of the first phase step, um.
    md
        Extra start-document metadata.
    """
    return (yield from gi_plans.reference_scan(session.inst, exposure_s=exposure_s, angle_index=angle_index,
                                               g2_origin_um=g2_origin_um, md=md))


def dark_scan(*, n_frames: typing.Optional[int] = None, exposure_s: typing.Optional[float] = None,
              md: typing.Optional[dict] = None):
    """
    Dark frames with X-rays off into the ``dark`` stream.

    Parameters
    ----------
    n_frames
        Number of frames (default: the profile's dark frames).
    exposure_s
        Exposure per frame, s (default: the profile's).
    md
        Extra start-document metadata.
    """
    return (yield from gi_plans.dark_scan(session.inst, n_frames=n_frames, exposure_s=exposure_s, md=md))


def warm_up_tube():
    """
    Warm the X-ray tube up (takes the tube's warm-up time) and check that it is warm.
    """
    return (yield from gi_plans.warm_up_tube(session.inst))


def take_test_image(*, exposure_s: typing.Optional[float] = None, md: typing.Optional[dict] = None):
    """
    One frame with X-rays on at the current positions (a run, stream ``primary``).

    Parameters
    ----------
    exposure_s
        Exposure, s (default: the profile's).
    md
        Extra start-document metadata.
    """
    return (yield from gi_plans.take_test_image(session.inst, exposure_s=exposure_s, md=md))
