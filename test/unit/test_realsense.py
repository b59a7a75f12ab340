"""RealSense frames without hardware: frames injected through a software device and played back
from a recording the test makes, the retry state machine, timestamps, and the crop to the
policy's resolution."""
import time
from dataclasses import replace

import numpy as np
import pyrealsense2 as rs
import pytest

from test.software_camera import SoftwareCamera, pattern
from worldsample.core.observation import policy_image
from worldsample.core.realsense import (CameraError, CameraStream, DeviceSource, FileSource, QueueSource,
                                        StampClock, connected_serials)


class FakeClock:
    def __init__(self):
        self.t, self.slept = 100.0, []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_injected_frames_arrive_with_their_pixels_intrinsics_and_hardware_stamps():
    cam = SoftwareCamera(64, 48)
    stream = CameraStream(lambda: QueueSource(cam.queue), timeout_s=1.0)
    clock = StampClock(now_ns=lambda: 5_000_000_000)
    stamps = []
    for i in range(3):
        cam.inject(pattern(i, 64, 48), 1000.0 + 33.0 * i, i)
        frame = stream.read()
        np.testing.assert_array_equal(frame.image, pattern(i, 64, 48))
        assert frame.number == i and frame.domain == 'hardware_clock'
        stamps.append(clock(frame.stamp_ms, frame.domain))
    intr = frame.intrinsics
    assert (intr.width, intr.height, intr.model, intr.ros_distortion_model) == (64, 48, 'inverse_brown_conrady',
                                                                                  'plumb_bob')
    np.testing.assert_allclose(intr.k, [[57.6, 0, 32.5], [0, 58.24, 23.75], [0, 0, 1]], rtol=1e-6)
    np.testing.assert_allclose(intr.coeffs, [0.11, -0.02, 0.001, 0.002, 0.0], rtol=1e-6)
    # anchored to the host clock at the first frame, then the device's own spacing
    assert stamps == [5_000_000_000, 5_033_000_000, 5_066_000_000] and clock.anchors == 1
    cam.close()


def test_bgr_frames_become_rgb():
    cam = SoftwareCamera(32, 24, fmt=rs.format.bgr8)
    img = pattern(4, 32, 24)
    cam.inject(img, 0.0, 0)
    frame = QueueSource(cam.queue).read(1.0)
    np.testing.assert_array_equal(frame.image, img[..., ::-1])
    cam.close()


def test_a_recording_plays_back_the_same_frames_intrinsics_and_stamps(tmp_path):
    path = tmp_path / 'wrist.db3'
    cam = SoftwareCamera(64, 48, record_to=path)
    for i in range(4):           # recorded at 20 Hz and played back at that pace: a playback running
        cam.inject(pattern(i, 64, 48), 2000.0 + 50.0 * i, i)    # ahead keeps only the latest frame
        cam.queue.wait_for_frame(1000)
        time.sleep(0.05)
    cam.close()
    source = FileSource(str(path), repeat=False, real_time=True)
    frames = [source.read(1.0) for _ in range(4)]
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(f.image, pattern(i, 64, 48))
        assert f.stamp_ms == pytest.approx(2000.0 + 50.0 * i) and f.domain == 'hardware_clock'
    assert frames[0].intrinsics.fx == pytest.approx(57.6) and frames[0].intrinsics.model == 'inverse_brown_conrady'
    with pytest.raises(CameraError, match="didn't arrive"):      # the end of the recording
        source.read(0.3)
    source.close()
    with pytest.raises(CameraError, match='missing.db3'):
        FileSource(str(tmp_path / 'missing.db3'))


def test_no_device_is_a_clear_error_and_the_stream_retries_every_retry_s():
    assert connected_serials() == []          # these machines have no RealSense
    with pytest.raises(CameraError, match='no RealSense camera connected'):
        DeviceSource('123456789012', (640, 480, 30))
    clock = FakeClock()
    opens = []

    def open_source():
        opens.append(clock.t)
        return DeviceSource('123456789012', (640, 480, 30))
    stream = CameraStream(open_source, retry_s=2.0, timeout_s=0.5, clock=clock, sleep=clock.sleep)
    for _ in range(12):
        assert stream.read() is None
    assert 'cannot open: no RealSense camera connected' in stream.error
    # attempts 2 s apart, waiting in slices no longer than the read time-out (the node stays responsive)
    assert opens == [100.0, 102.0, 104.0] and stream.failures == 3 and max(clock.slept) <= 0.5


def test_a_camera_lost_mid_stream_is_reopened_after_retry_s():
    clock = FakeClock()

    class Flaky:                      # delivers two frames, then the cable is pulled
        def __init__(self):
            self.cam = SoftwareCamera(32, 24)
            self.n, self.closed = 0, False

        def read(self, timeout_s):
            if self.n == 2:
                raise CameraError('Frame didn\'t arrive within 500')
            self.cam.inject(pattern(self.n, 32, 24), float(self.n), self.n)
            self.n += 1
            return QueueSource(self.cam.queue).read(timeout_s)

        def close(self):
            self.closed = True
            self.cam.close()
    sources = []
    stream = CameraStream(lambda: sources.append(Flaky()) or sources[-1], retry_s=1.0, clock=clock, sleep=clock.sleep)
    got = [stream.read() for _ in range(3)]
    assert [g is not None for g in got] == [True, True, False]
    assert stream.error.startswith('stream lost') and sources[0].closed and stream.source is None
    assert stream.read() is None and len(sources) == 1          # not yet due: waits
    while stream.read() is None:
        pass
    assert len(sources) == 2 and stream.opens == 2 and stream.frames == 3 and stream.error is None
    stream.close()


def test_stamp_clock_domains_and_re_anchoring():
    now = [10_000_000_000]
    clock = StampClock(now_ns=lambda: now[0], max_jump_ms=1000.0)
    assert clock(1_700_000_000_123.0, 'global_time') == 1_700_000_000_123_000_000   # host/global ms as they are
    assert clock(5.0, 'hardware_clock') == 10_000_000_000
    assert clock(105.0, 'hardware_clock') == 10_100_000_000
    now[0] = 20_000_000_000
    assert clock(3.0, 'hardware_clock') == 20_000_000_000            # the device clock went back: reset
    assert clock(9000.0, 'hardware_clock') == 20_000_000_001         # a jump past max_jump_ms: replugged,
    assert clock.anchors == 3                                        # and never before the last stamp


def test_policy_image_crops_the_centre_and_resizes_once(cfg):
    cam = cfg.camera('wrist_camera')
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 80:560] = (10, 200, 30)                 # the central 480 x 480
    out = policy_image(frame, cam)
    assert out.shape == (cam.height, cam.width, 3)
    assert (out == (10, 200, 30)).all()             # nothing of the cropped sides
    same = np.zeros((cam.height, cam.width, 3), np.uint8)
    assert policy_image(same, cam) is same            # the simulator's frames pass unchanged
    tall = policy_image(np.full((480, 200, 3), 7, np.uint8), replace(cam, width=100, height=120))
    assert tall.shape == (120, 100, 3) and (tall == 7).all()
    with pytest.raises(ValueError, match='smaller than'):
        policy_image(np.zeros((64, 64, 3), np.uint8), cam)


def test_a_recording_with_depth_gives_the_depth_and_its_alignment_to_colour(tmp_path):
    path = tmp_path / 'wrist_depth.db3'
    cam = SoftwareCamera(64, 48, record_to=path, depth=True)
    depth = np.full((48, 64), 400, np.uint16)
    depth[:, 32:] = 800                                          # a step 0.4 m -> 0.8 m
    for i in range(10):          # 0.5 s at 20 Hz, played back at that pace
        cam.inject(pattern(i, 64, 48), 1000.0 + 50.0 * i, i)
        cam.queue.wait_for_frame(1000)
        cam.inject_depth(depth + i, 1000.0 + 50.0 * i, i)
        time.sleep(0.05)
    cam.close()
    source = FileSource(str(path), repeat=False, real_time=True, align_depth=True)
    frame = source.read(1.0)
    d, a = frame.depth, frame.aligned_depth
    assert d.image.dtype == np.uint16 and d.image.shape == (48, 64) and d.units_m == pytest.approx(0.001)
    assert set(np.unique(d.image)) <= {*range(400, 410), *range(800, 810)}
    # reprojected into the colour camera 15 mm to the side: the same depths, shifted by f * b / z pixels
    assert a.image.shape == (48, 64) and a.intrinsics == frame.intrinsics
    valid = a.image[a.image > 0]
    assert valid.size > 0.8 * a.image.size and set(np.unique(valid)) <= set(np.unique(d.image))
    source.close()
    plain = FileSource(str(path), repeat=False, real_time=True)         # without alignment: depth only
    f = plain.read(1.0)
    assert f.depth is not None and f.aligned_depth is None
    plain.close()
