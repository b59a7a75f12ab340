"""RealSense colour frames, ROS-free: a D435i by serial number, a recording, or any started
sensor (a ``rs.software_device`` in tests), read with the device's own intrinsics and its
hardware timestamps, and an absent or unplugged camera retried rather than fatal.

- :class:`DeviceSource` opens a camera through ``rs.pipeline`` with a colour profile
  (width x height x fps, rgb8), optionally the depth stream (z16) and its alignment to the colour
  camera (``rs.align``), and, where the sensor has it, global time enabled (the device clock
  translated to the host clock by librealsense).
- :class:`FileSource` plays back a ``.db3`` recording (``rs.recorder`` makes them).
- :class:`QueueSource` reads a sensor that was started into an ``rs.frame_queue``.
- :class:`CameraStream` is the retry state machine the camera node drives: closed -> open
  (at most every ``retry_s``) -> frames -> on an error, closed again, with the reason kept.
- :class:`StampClock` turns a frame's timestamp (ms, in its timestamp domain) into host
  nanoseconds: global and system time as they are, a bare hardware clock anchored to the host
  clock on its first frame and re-anchored when it jumps (device reset, replug, a looped
  recording), never earlier than the last stamp it gave.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import pyrealsense2 as rs

from .intrinsics import Intrinsics


class CameraError(RuntimeError):
    """A camera that cannot be opened or read (absent, unplugged, wrong profile, bad frame)."""


def intrinsics_of(profile) -> Intrinsics:
    """The device's own intrinsics of a video stream profile."""
    i = profile.as_video_stream_profile().get_intrinsics()
    return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, str(i.model).split('.')[-1], tuple(i.coeffs))


@dataclass(frozen=True)
class DepthFrame:
    image: np.ndarray                # (H, W) uint16, in units of ``units_m`` metres (0: no depth)
    units_m: float
    intrinsics: Intrinsics


@dataclass(frozen=True)
class ColorFrame:
    image: np.ndarray                # (H, W, 3) uint8 RGB
    stamp_ms: float                  # the frame's timestamp in its domain
    domain: str                      # 'hardware_clock', 'system_time' or 'global_time'
    number: int
    intrinsics: Intrinsics
    depth: DepthFrame | None = None           # the depth frame of the same frameset, as the sensor sees it
    aligned_depth: DepthFrame | None = None   # that depth reprojected into the colour camera


def _depth(frame) -> DepthFrame:
    d = frame.as_depth_frame()
    image = np.asanyarray(d.get_data())
    if image.dtype != np.uint16 or image.shape != (d.get_height(), d.get_width()):
        raise CameraError(f'depth frame {d.get_frame_number()}: need z16, got {image.dtype} {image.shape}')
    return DepthFrame(image.copy(), float(d.get_units()), intrinsics_of(d.get_profile()))


def color_frame(frame, align: rs.align | None = None) -> ColorFrame:
    """An ``rs.frame`` (a colour video frame, or a frameset holding one and perhaps depth) ->
    :class:`ColorFrame`; ``align`` (``rs.align(rs.stream.color)``) adds the aligned depth."""
    depth = aligned = None
    if frame.is_frameset():
        frames = frame.as_frameset()
        if frames.get_depth_frame():
            depth = _depth(frames.get_depth_frame())
            if align is not None:
                aligned = _depth(align.process(frames).get_depth_frame())
        frame = frames.get_color_frame()
        if not frame:
            raise CameraError('frameset without a colour frame')
    if not frame.is_video_frame():
        raise CameraError(f'not a video frame: {frame.get_profile().stream_type()}')
    vf = frame.as_video_frame()
    fmt = vf.get_profile().format()
    if fmt not in (rs.format.rgb8, rs.format.bgr8):
        raise CameraError(f'colour format {fmt} not supported (configure rgb8 or bgr8)')
    h, w, stride = vf.get_height(), vf.get_width(), vf.get_stride_in_bytes()
    data = np.asanyarray(vf.get_data())
    if stride < 3 * w or data.size != stride * h:
        raise CameraError(f'frame {vf.get_frame_number()}: {data.size} bytes for {w}x{h} with stride {stride}')
    image = data.reshape(h, stride)[:, :3 * w].reshape(h, w, 3)
    image = image[..., ::-1] if fmt == rs.format.bgr8 else image
    return ColorFrame(np.ascontiguousarray(image), float(vf.get_timestamp()),
                      str(vf.get_frame_timestamp_domain()).split('.')[-1], int(vf.get_frame_number()),
                      intrinsics_of(vf.get_profile()), depth, aligned)


class StampClock:
    """Frame timestamps (ms) -> host time (ns), see the module docstring."""

    def __init__(self, now_ns: Callable[[], int] = time.time_ns, max_jump_ms: float = 1000.0):
        self.now_ns, self.max_jump_ms = now_ns, max_jump_ms
        self.offset_ns: int | None = None
        self.last_ms: float | None = None
        self.last_ns = 0
        self.anchors = 0                 # how often a hardware clock was (re-)anchored

    def __call__(self, stamp_ms: float, domain: str) -> int:
        ns = int(round(stamp_ms * 1e3)) * 1000      # librealsense stamps resolve microseconds
        if domain != 'hardware_clock':
            return ns
        if self.offset_ns is None or stamp_ms < self.last_ms or stamp_ms - self.last_ms > self.max_jump_ms:
            # anchored at the host time of arrival, but never before the last stamp given out
            # (the arrival latency varies): host stamps of one stream never go back
            self.offset_ns = max(self.now_ns(), self.last_ns + 1) - ns
            self.anchors += 1
        self.last_ms, self.last_ns = stamp_ms, ns + self.offset_ns
        return self.last_ns


class Source(Protocol):
    def read(self, timeout_s: float) -> ColorFrame:
        """The next colour frame; CameraError when none arrives in time or the device failed."""

    def close(self) -> None: ...


class _PipelineSource:
    def __init__(self, config: rs.config, align_depth: bool = False):
        self.align = rs.align(rs.stream.color) if align_depth else None
        self.pipeline = rs.pipeline()
        try:
            self.profile = self.pipeline.start(config)
        except RuntimeError as e:
            raise CameraError(str(e)) from None

    def read(self, timeout_s: float) -> ColorFrame:
        try:
            return color_frame(self.pipeline.wait_for_frames(int(timeout_s * 1000)), self.align)
        except RuntimeError as e:        # time-out, unplugged, end of a recording, a frame it cannot convert
            raise CameraError(str(e)) from None

    def close(self) -> None:
        try:
            self.pipeline.stop()
        except RuntimeError:             # already stopped (the device went away)
            pass


def connected_serials() -> list[str]:
    return [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]


class DeviceSource(_PipelineSource):
    """A live camera: ``serial`` ('' = the only one connected), colour profile (w, h, fps), and
    optionally the depth stream (``depth_profile``, z16) with its alignment to colour."""

    def __init__(self, serial: str, profile: tuple[int, int, int], depth_profile: tuple[int, int, int] | None = None,
                 align_depth: bool = False):
        serials = connected_serials()
        if not serials:
            raise CameraError('no RealSense camera connected (check the USB 3 cable and the udev rules)')
        if serial and serial not in serials:
            raise CameraError(f'no RealSense camera with serial {serial}; connected: {serials}')
        if not serial and len(serials) > 1:
            raise CameraError(f'{len(serials)} RealSense cameras connected {serials}: set the serial')
        w, h, fps = profile
        config = rs.config()
        config.enable_device(serial or serials[0])
        config.enable_stream(rs.stream.color, w, h, rs.format.rgb8, fps)
        if depth_profile is not None:
            config.enable_stream(rs.stream.depth, *depth_profile[:2], rs.format.z16, depth_profile[2])
        super().__init__(config, align_depth and depth_profile is not None)
        for sensor in self.profile.get_device().query_sensors():
            if sensor.supports(rs.option.global_time_enabled):
                sensor.set_option(rs.option.global_time_enabled, 1.0)


class FileSource(_PipelineSource):
    """A ``.db3`` recording played back, looped with ``repeat``; ``real_time`` paces it as recorded
    (without it, playback runs as fast as it can and the pipeline keeps only the latest frame, so
    a slower reader misses frames). A recording with depth gives it too, aligned to colour with
    ``align_depth``."""

    def __init__(self, path: str, repeat: bool = True, real_time: bool = True, align_depth: bool = False):
        config = rs.config()
        try:
            config.enable_device_from_file(path, repeat_playback=repeat)
        except RuntimeError as e:
            raise CameraError(f'{path}: {e}') from None
        super().__init__(config, align_depth)
        self.profile.get_device().as_playback().set_real_time(real_time)


class QueueSource:
    """Frames a started sensor delivers into ``queue`` (``sensor.start(queue)``)."""

    def __init__(self, queue: rs.frame_queue):
        self.queue = queue

    def read(self, timeout_s: float) -> ColorFrame:
        ok, frame = self.queue.try_wait_for_frame(int(timeout_s * 1000))
        if not ok:
            raise CameraError(f'no frame within {timeout_s:.1f} s')
        try:
            return color_frame(frame)
        except RuntimeError as e:        # librealsense's own errors converting the frame
            raise CameraError(str(e)) from None

    def close(self) -> None:
        """The sensor belongs to whoever started it."""


class CameraStream:
    """Opens the source (``open_source()``, CameraError when it cannot), reads frames, and on any
    failure closes it and tries again ``retry_s`` later; :attr:`error` says why it is not streaming."""

    def __init__(self, open_source: Callable[[], Source], retry_s: float = 2.0, timeout_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.open_source, self.retry_s, self.timeout_s = open_source, retry_s, timeout_s
        self.clock, self.sleep = clock, sleep
        self.source: Source | None = None
        self.error: str | None = None
        self.next_try = float('-inf')
        self.opens = self.failures = self.frames = 0

    def read(self) -> ColorFrame | None:
        """A frame, or None after an unsuccessful (or not yet due) attempt; never raises CameraError."""
        if self.source is None:
            wait = self.next_try - self.clock()
            if wait > 0:
                self.sleep(min(wait, self.timeout_s))
                return None
            try:
                self.source = self.open_source()
            except CameraError as e:
                return self._failed(f'cannot open: {e}')
            self.opens += 1
            self.error = None
        try:
            frame = self.source.read(self.timeout_s)
        except CameraError as e:
            self.source.close()
            self.source = None
            return self._failed(f'stream lost: {e}')
        self.frames += 1
        return frame

    def _failed(self, reason: str) -> None:
        self.failures += 1
        self.error = reason
        self.next_try = self.clock() + self.retry_s
        return None

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None
