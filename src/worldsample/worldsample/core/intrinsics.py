"""Camera intrinsics as CameraInfo carries them: a RealSense device's own, or the simulator's pinhole."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# librealsense distortion models that ROS calls 'equidistant' (realsense-ros maps them the same
# way); the Brown-Conrady family is 'plumb_bob'
_EQUIDISTANT = {'kannala_brandt4', 'ftheta'}


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    ppx: float
    ppy: float
    model: str                       # librealsense's name, e.g. 'brown_conrady'
    coeffs: tuple[float, ...]

    @classmethod
    def pinhole(cls, width: int, height: int, fovy_deg: float) -> 'Intrinsics':
        """An ideal camera with the vertical field of view ``fovy_deg`` and square pixels (the simulator's)."""
        f = (height / 2.0) / np.tan(np.deg2rad(fovy_deg) / 2.0)
        return cls(width, height, float(f), float(f), width / 2.0, height / 2.0, 'none', (0.0,) * 5)

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.ppx], [0.0, self.fy, self.ppy], [0.0, 0.0, 1.0]])

    @property
    def ros_distortion_model(self) -> str:
        return 'equidistant' if self.model in _EQUIDISTANT else 'plumb_bob'
