"""camera node over DDS: frames from a recording the test makes (a separate process), frames
injected through a software device (the node in this process), and a camera that is not there."""
import threading
import time

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import CameraInfo, Image

from test.integration.conftest import close_participant
from test.software_camera import SoftwareCamera, pattern
from worldsample.core.realsense import QueueSource
from worldsample.nodes.camera_node import CameraNode
from worldsample.nodes.common import SENSOR_QOS, image_to_array

pytestmark = pytest.mark.integration


def _collect(ros_node, camera):
    got = {'image': [], 'info': []}
    ros_node.create_subscription(Image, f'/{camera}/color/image_raw', got['image'].append, SENSOR_QOS)
    ros_node.create_subscription(CameraInfo, f'/{camera}/color/camera_info', got['info'].append, SENSOR_QOS)
    return got


def _stamp_ns(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def _check_info(info, width, height, frame_id):
    assert (info.width, info.height, info.distortion_model) == (width, height, 'plumb_bob')
    assert info.header.frame_id == frame_id
    np.testing.assert_allclose(info.k, [0.9 * width, 0, width / 2 + 0.5, 0, 0.91 * width, height / 2 - 0.25, 0, 0, 1],
                               rtol=1e-6)
    np.testing.assert_allclose(info.d, [0.11, -0.02, 0.001, 0.002, 0.0], rtol=1e-6)


def test_a_recording_is_published_like_realsense_ros(procs, ros_node, tmp_path):
    path = tmp_path / 'side.db3'
    cam = SoftwareCamera(80, 60, record_to=path)
    frames = [pattern(i, 80, 60) for i in range(20)]
    for i, f in enumerate(frames):            # recorded at 20 Hz, played back at the recorded pace
        cam.inject(f, 1000.0 + 50.0 * i, i)
        cam.queue.wait_for_frame(1000)
        time.sleep(0.05)
    cam.close()
    got = _collect(ros_node, 'side_camera')
    t0 = time.time_ns()
    proc = procs.start('camera', 'side_cam', camera='side_camera', source=str(path), repeat=True)
    assert ros_node.spin_until(lambda: len(got['image']) >= 30, 30), procs.log('side_cam')
    index = []
    for msg in got['image']:
        assert (msg.encoding, msg.width, msg.height, msg.step) == ('rgb8', 80, 60, 240)
        assert msg.header.frame_id == 'side_camera_color_optical_frame'
        img = image_to_array(msg)
        index.append(next(i for i, f in enumerate(frames) if np.array_equal(img, f)))
    _check_info(got['info'][-1], 80, 60, 'side_camera_color_optical_frame')
    stamps = [_stamp_ns(m) for m in got['image']]
    # hardware stamps in host time: the recording's own 50 ms spacing between successive frames, and
    # past the loop's end (the device clock going back) re-anchored, so host stamps never go back
    assert t0 <= stamps[0] and all(b > a for a, b in zip(stamps, stamps[1:])), str(list(zip(index, [s - stamps[0] for s in stamps])))
    pairs = [(b - a) for a, b, i, j in zip(stamps, stamps[1:], index, index[1:]) if j == i + 1]
    assert len(pairs) >= 10 and all(abs(d - 50_000_000) <= 1000 for d in pairs), (index, stamps)
    assert 0 in index[1:], 'the recording did not loop'
    assert proc.poll() is None and 'streaming 80x60 from recording' in procs.log('side_cam')


def test_no_camera_connected_is_logged_and_retried(procs, ros_node):
    proc = procs.start('camera', 'wrist_cam', camera='wrist_camera', serial='123456789012', retry_s=0.5)
    assert ros_node.spin_until(lambda: 'attempt 3' in procs.log('wrist_cam'), 30), procs.log('wrist_cam')
    log = procs.log('wrist_cam')
    assert 'cannot open: no RealSense camera connected' in log and 'retrying every 0.5 s' in log
    assert proc.poll() is None


def test_frames_injected_through_a_software_device_reach_a_subscriber(ros_node):
    cam = SoftwareCamera(64, 48)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = CameraNode(open_source=lambda: QueueSource(cam.queue), context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        got = _collect(ros_node, 'wrist_camera')
        sent = []
        # inject until the subscriber is matched and has five frames (sensor-data QoS: best effort)
        i = 0
        while len(got['image']) < 5 and i < 300:
            sent.append(pattern(i, 64, 48))
            cam.inject(sent[-1], 40.0 * i, i)
            ros_node.spin_for(0.03)
            i += 1
        assert len(got['image']) >= 5
        ks = [next(j for j, f in enumerate(sent) if np.array_equal(image_to_array(m), f)) for m in got['image']]
        assert ks == sorted(ks)
        stamps = [_stamp_ns(m) for m in got['image']]
        # stamps follow the injected hardware clock (40 ms per frame index), not arrival times
        for a, b, m, n in zip(stamps, stamps[1:], ks, ks[1:]):
            assert abs((b - a) - 40_000_000 * (n - m)) <= 1000
        _check_info(got['info'][-1], 64, 48, 'wrist_camera_color_optical_frame')
        assert node.published >= len(got['image'])
    finally:
        close_participant('camera node', executor.shutdown, node.close, node.destroy_node,
                          lambda: rclpy.shutdown(context=context))
        cam.close()


def test_depth_and_aligned_depth_are_published_like_realsense_ros(procs, ros_node, tmp_path):
    path = tmp_path / 'wrist_depth.db3'
    cam = SoftwareCamera(64, 48, record_to=path, depth=True)
    for i in range(10):
        cam.inject(pattern(i, 64, 48), 1000.0 + 50.0 * i, i)
        cam.queue.wait_for_frame(1000)
        cam.inject_depth(np.full((48, 64), 500 + i, np.uint16), 1000.0 + 50.0 * i, i)
        time.sleep(0.05)
    cam.close()
    got = {}
    for topic in ('depth/image_rect_raw', 'depth/camera_info', 'aligned_depth_to_color/image_raw',
                  'aligned_depth_to_color/camera_info', 'color/image_raw'):
        got[topic] = []
        kind = CameraInfo if topic.endswith('camera_info') else Image
        ros_node.create_subscription(kind, f'/wrist_camera/{topic}', got[topic].append, SENSOR_QOS)
    proc = procs.start('camera', 'wrist_cam', camera='wrist_camera', source=str(path), depth=True, align_depth=True)
    assert ros_node.spin_until(lambda: all(len(v) >= 3 for v in got.values()), 30), (
        {k: len(v) for k, v in got.items()}, procs.log('wrist_cam'))
    for topic, frame_id in (('depth/image_rect_raw', 'wrist_camera_depth_optical_frame'),
                            ('aligned_depth_to_color/image_raw', 'wrist_camera_color_optical_frame')):
        msg = got[topic][-1]
        assert (msg.encoding, msg.width, msg.height, msg.step, msg.is_bigendian) == ('16UC1', 64, 48, 128, 0)
        assert msg.header.frame_id == frame_id
        depth = np.frombuffer(bytes(msg.data), '<u2').reshape(48, 64)
        assert 500 <= depth.max() <= 509
    # a depth image and the colour image of one frameset carry one stamp (the colour image is
    # published first, but this process may take the depth message of a frameset before it)
    def shared_stamps():
        return ({_stamp_ns(m) for m in got['depth/image_rect_raw']}
                & {_stamp_ns(m) for m in got['aligned_depth_to_color/image_raw']}
                & {_stamp_ns(m) for m in got['color/image_raw']})
    assert ros_node.spin_until(lambda: len(shared_stamps()) >= 3, 10), (
        {k: sorted(_stamp_ns(m) for m in v) for k, v in got.items() if not k.endswith('info')})
    assert got['aligned_depth_to_color/camera_info'][-1].k[0] == pytest.approx(0.9 * 64)
    assert proc.poll() is None
