"""Image messages -> arrays in the nodes: NumPy for rgb8/bgr8, cv_bridge (a system ROS 2's) for the rest."""
import numpy as np
import pytest
from sensor_msgs.msg import Image

from worldsample.nodes import common
from worldsample.nodes.common import ImageError, array_to_image, image_to_array


def _mono(h=4, w=6):
    msg = Image(height=h, width=w, encoding='mono8', step=w)
    msg.data = bytes(range(h * w))
    return msg


class GreyBridge:
    """Stands in for cv_bridge.CvBridge where no system ROS 2 provides it: mono8 -> rgb8 only."""
    def imgmsg_to_cv2(self, msg, desired_encoding):
        assert desired_encoding == 'rgb8'
        if msg.encoding != 'mono8':
            raise TypeError(f'encoding {msg.encoding} not supported')
        grey = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)
        return np.repeat(grey[..., None], 3, axis=2)


def test_rgb_takes_the_numpy_path_and_other_encodings_need_cv_bridge(monkeypatch):
    img = np.random.default_rng(0).integers(0, 256, (4, 6, 3), np.uint8)
    msg = array_to_image(img, None, 'cam')
    np.testing.assert_array_equal(image_to_array(msg, (4, 6)), img)
    monkeypatch.setattr(common, 'BRIDGE', None)
    with pytest.raises(ImageError, match="unsupported image encoding 'mono8'"):
        image_to_array(_mono())
    monkeypatch.setattr(common, 'BRIDGE', GreyBridge())
    out = image_to_array(_mono(), (4, 6))
    assert out.shape == (4, 6, 3) and out[1, 2].tolist() == [8, 8, 8]
    with pytest.raises(ImageError, match='expected 8x4'):
        image_to_array(_mono(), (4, 8))
    yuv = Image(height=2, width=2, encoding='yuv422', step=4, data=bytes(8))
    with pytest.raises(ImageError, match="cv_bridge cannot convert a 'yuv422' image"):
        image_to_array(yuv)
    np.testing.assert_array_equal(image_to_array(msg), img)      # rgb8 never goes through the bridge


def test_the_board_pose_round_trips_and_a_bad_one_is_refused_by_name():
    from builtin_interfaces.msg import Time
    from worldsample.core.config import load_config
    from worldsample.nodes.common import board_from_msg, board_to_msg
    hole = np.array([0.41, -0.02, -0.2])
    msg = board_to_msg(hole, 0.03, Time(sec=5), 'base_link')
    assert (msg.header.frame_id, msg.pose.position.z) == ('base_link', 0.03)
    np.testing.assert_allclose(board_from_msg(msg), hole, atol=1e-12)
    msg.pose.position.x = float('nan')
    with pytest.raises(ValueError, match='non-finite'):
        board_from_msg(msg)
    tilted = board_to_msg(hole, 0.03, Time(sec=5), 'base_link')
    tilted.pose.orientation.x, tilted.pose.orientation.w = 0.1, 0.99          # about 11 degrees about x
    with pytest.raises(ValueError, match='tilted'):
        board_from_msg(tilted)
    huge = board_to_msg(hole, 0.03, Time(sec=5), 'base_link')     # any finite scale is the same rotation
    huge.pose.orientation.z, huge.pose.orientation.w = (1e308 * v for v in (np.sin(-0.1), np.cos(-0.1)))
    np.testing.assert_allclose(board_from_msg(huge), hole, atol=1e-12)
    # with the task's workspace (TCP box x 0.27..0.38, y -0.06..0.06): a hole the peg cannot reach
    ws = load_config('insertion').task.workspace
    inside = board_to_msg(np.array([0.33, 0.05, 0.1]), 0.03, Time(sec=5), 'base_link')
    np.testing.assert_allclose(board_from_msg(inside, ws), [0.33, 0.05, 0.1], atol=1e-12)
    for x, y in ((0.41, -0.02), (0.33, -0.07), (1e308, 0.0), (0.26, 0.0)):
        far = board_to_msg(np.array([x, y, 0.0]), 0.03, Time(sec=5), 'base_link')
        with pytest.raises(ValueError, match='outside the workspace box'):
            board_from_msg(far, ws)
    huge.pose.orientation.z, huge.pose.orientation.w = 1e-10, 0.0
    with pytest.raises(ValueError, match='zero quaternion'):
        board_from_msg(huge)


def test_a_pose_with_huge_or_tiny_quaternion_components_is_the_rotation_they_point_to():
    from geometry_msgs.msg import Pose as PoseMsg
    from scipy.spatial.transform import Rotation
    from worldsample.nodes.common import msg_to_pose
    q = Rotation.from_euler('xyz', [0.3, -0.2, 1.1]).as_quat()
    for scale in (1e308 / np.max(np.abs(q)), 1.0, 1e-8):
        msg = PoseMsg()
        msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in scale * q)
        np.testing.assert_allclose(msg_to_pose(msg).rot, Rotation.from_quat(q).as_matrix(), atol=1e-12)
