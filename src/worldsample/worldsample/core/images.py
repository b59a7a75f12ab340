"""Decoding of sensor_msgs/Image messages (rclpy or rosbags objects alike) into numpy arrays."""
from __future__ import annotations

import numpy as np


class ImageError(ValueError):
    """A camera image that cannot be used (wrong size, encoding or data length)."""


def decode_rgb(msg, expect_hw: tuple[int, int] | None = None) -> np.ndarray:
    """An rgb8 (or bgr8) Image -> H x W x 3 uint8 RGB, or ImageError saying what is wrong."""
    if msg.encoding not in ('rgb8', 'bgr8'):
        raise ImageError(f'unsupported image encoding {msg.encoding!r} (expected rgb8 or bgr8)')
    if expect_hw is not None and (msg.height, msg.width) != tuple(expect_hw):
        raise ImageError(f'image is {msg.width}x{msg.height}, expected {expect_hw[1]}x{expect_hw[0]}')
    if msg.step < msg.width * 3 or len(msg.data) != msg.step * msg.height:
        raise ImageError(f'image data is {len(msg.data)} bytes, expected step {msg.step} x height {msg.height}')
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    img = rows[:, :msg.width * 3].reshape(msg.height, msg.width, 3)
    return img[..., ::-1].copy() if msg.encoding == 'bgr8' else img.copy()
