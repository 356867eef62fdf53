"""Frames a camera has taken and not yet handed out into events, and the stream documents that
reference them in their HDF5 files (one ``stream_resource`` per file, one ``stream_datum`` per
frame). Bookkeeping without I/O, shared by both camera devices.

A frame leaves the queue only when the RunEngine collects its documents, which it does once the
frame's reading is in the event being bundled. A bluesky suspension cancels the message the
RunEngine is working on: when that is the ``read`` of a frame (the first read of a device into
a stream awaits the device's description), the reading never reaches an event, and the next
read must hand out the same frame again, or the stepping scan would reach the run a frame short.
So :meth:`FrameHandout.offer` (called by the camera's ``read``) only looks at the next frame and
:meth:`FrameHandout.take` (called by its ``collect_asset_docs``) hands it out.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from event_model import compose_stream_resource

from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.pv_interface import FRAME_DATASET

__all__ = ["FrameHandout", "FrameLostError"]

Frame = tuple[dict[str, float], float]
"""A frame's values (data key -> value) and their timestamp (s since the epoch)."""


class FrameLostError(InstrumentFault):
    """The camera acknowledged an exposure but the frame is not in the file."""


class FrameHandout:
    """The queue of frames to hand out, and where the next one must be in its file.

    ``name``: the camera's, for errors; ``data_key``: data key of the images;
    ``describe_file``: called when a frame opens a file, gives (its path, the frame shape (rows,
    cols)); ``status``: the camera's status message, quoted in errors.
    """

    def __init__(self, name: str, data_key: str, describe_file: Callable[[], tuple[str, tuple[int, int]]],
                 status: Callable[[], str]) -> None:
        self.name, self.data_key = name, data_key
        self._describe_file, self._status = describe_file, status
        self._frames: list[Frame] = []
        self._index_key = ""
        self._offered = False
        self._path, self._next_index = "", 0
        self._compose_datum: Any = None

    def __len__(self) -> int:
        return len(self._frames)

    def load(self, frames: list[Frame], index_key: str) -> None:
        """Frames to hand out next, in file order (``index_key``: the data key of a frame's
        index in its file; 0 opens a new file); those not handed out before are dropped."""
        self._frames, self._offered, self._index_key = list(frames), False, index_key

    def clear(self) -> None:
        """Forget the frames, and the file (a new scan opens its own)."""
        self.load([], "")
        self._path, self._next_index, self._compose_datum = "", 0, None

    def offer(self) -> Frame | None:
        """The next frame (None when there is none), left in the queue until :meth:`take`;
        FrameLostError if it is not the next frame of its file."""
        self._offered = False
        if not self._frames:
            return None
        frame = self._frames[0]
        value = frame[0][self._index_key]
        index = int(value) if math.isfinite(value) else -1
        if index != (0 if index == 0 else self._next_index):
            raise FrameLostError(f"{self.name}: expected frame {self._next_index} in {self._path}, the camera "
                                 f"reports frame {index} ({self._status()})")
        self._offered = True
        return frame

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        """Hand out the frame :meth:`offer` gave last: it leaves the queue; its documents (the
        ``stream_resource`` of its file when it is the file's first frame, and its
        ``stream_datum``). Nothing when no frame was offered since."""
        if not self._offered:
            return []
        self._offered = False
        values, _ = self._frames.pop(0)
        documents = []
        if int(values[self._index_key]) == 0:
            path, shape = self._describe_file()
            bundle = compose_stream_resource(
                mimetype="application/x-hdf5", uri=f"file://localhost{path}", data_key=self.data_key,
                parameters={"dataset": FRAME_DATASET, "chunk_shape": [1, *shape], "join_method": "stack"})
            self._path, self._next_index, self._compose_datum = path, 0, bundle.compose_stream_datum
            documents.append(("stream_resource", bundle.stream_resource_doc))
        # a datum is composed from its checked resource and two integers: schema validation
        # (~2 ms, most of a frame's read) would check nothing the composition can get wrong
        documents.append(("stream_datum", self._compose_datum(
            indices={"start": self._next_index, "stop": self._next_index + 1}, validate=False)))
        self._next_index += 1
        return documents
