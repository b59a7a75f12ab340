"""The A1X driver adapter: our TCP and metres on one side, the vendor's semantics on the other.

The vendor's driver takes and reports the pose of ``gripper_link`` (x = approach axis), takes and
reports the gripper as a 0 (closed) .. 100 (open) stroke, and publishes arm feedback whose
joint names are undocumented (J1..J6 then the gripper, by index). Everything in the product
above the driver works with the TCP (z = tool axis, at the grasp point) and the per-finger
opening in metres. This module is the one place that converts, used by the controller node,
by the gymnasium env (which drives the simulated cell exactly as the node drives the driver)
and by the tests; the simulated driver itself only speaks the vendor's side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kinematics
from .config import GripperConfig, RobotConfig, ToolConfig
from .controller import Pose


class FeedbackError(ValueError):
    """A driver message the controller must not act on (wrong lengths, NaN, unknown layout)."""


def gripper_link_from_tcp(tcp: Pose, tool: ToolConfig) -> Pose:
    """The gripper_link pose that puts the TCP at ``tcp`` (T_gl = T_tcp * T_tool^-1)."""
    rot = tcp.rot @ kinematics.TCP_ROTATION.T
    return Pose(tcp.pos - rot[:, 0] * tool.tcp_offset_m, rot)


def tcp_from_gripper_link(gl: Pose, tool: ToolConfig) -> Pose:
    """The TCP pose of a gripper_link pose (T_tcp = T_gl * T_tool)."""
    return Pose(gl.pos + gl.rot[:, 0] * tool.tcp_offset_m, gl.rot @ kinematics.TCP_ROTATION)


def stroke_from_opening(opening_m: float, g: GripperConfig) -> float:
    """Per-finger opening (m) -> the driver's stroke, clipped to its range."""
    frac = np.clip(opening_m / g.opening_at_open_m, 0.0, 1.0)
    return float(g.stroke_closed + frac * (g.stroke_open - g.stroke_closed))


def opening_from_stroke(stroke: float, g: GripperConfig) -> float:
    """The driver's stroke -> per-finger opening (m), clipped to the fingers' travel."""
    frac = np.clip((stroke - g.stroke_closed) / (g.stroke_open - g.stroke_closed), 0.0, 1.0)
    return float(frac * g.opening_at_open_m)


@dataclass
class JointLayout:
    """Where the six arm joints sit in the driver's feedback arrays: matched by name when the
    driver sends our names, else the documented index order (J1..J6 first)."""
    indices: tuple[int, ...]
    by_name: bool

    @staticmethod
    def resolve(names, expected: tuple[str, ...]) -> 'JointLayout':
        names = list(names)
        if all(n in names for n in expected):
            return JointLayout(tuple(names.index(n) for n in expected), True)
        return JointLayout(tuple(range(len(expected))), False)


class A1XAdapter:
    """Converts between the controller's TCP/metres and the A1X driver's messages' contents.

    Stateless except for the joint layout, which is resolved from the first feedback message
    (and again whenever the driver's names change).
    """

    def __init__(self, robot: RobotConfig):
        self.robot = robot
        self.layout: JointLayout | None = None
        self._layout_names: tuple[str, ...] | None = None

    # -- commands out --------------------------------------------------------------------
    def target(self, tcp: Pose) -> Pose:
        return gripper_link_from_tcp(tcp, self.robot.tool)

    def gripper_command(self, opening_m: float) -> float:
        return stroke_from_opening(opening_m, self.robot.gripper)

    # -- feedback in ---------------------------------------------------------------------
    def joints(self, names, positions) -> np.ndarray:
        """The six arm joint angles of a feedback message; FeedbackError says why not.

        New names re-resolve the layout; ``layout.by_name`` tells the caller how it was read.
        """
        names, positions = tuple(names), np.asarray(positions, dtype=np.float64)
        if positions.ndim != 1:
            raise FeedbackError(f'joint positions must be a flat list, got shape {positions.shape}')
        if names and len(names) != len(positions):
            raise FeedbackError(f'{len(names)} joint names but {len(positions)} positions')
        if names != self._layout_names:
            self.layout = JointLayout.resolve(names, self.robot.joint_names)
            self._layout_names = names
        if len(positions) < 6 or max(self.layout.indices) >= len(positions):
            raise FeedbackError(f'arm feedback has {len(positions)} positions; 6 arm joints needed '
                                f'(J1..J6 by index, or by the names {list(self.robot.joint_names)})')
        q = positions[list(self.layout.indices)]
        bad = np.flatnonzero(~np.isfinite(q))
        if bad.size:
            raise FeedbackError(f'non-finite joint angle(s) at {bad.tolist()}: {q[bad].tolist()}')
        return q

    def tcp(self, q: np.ndarray) -> Pose:
        return tcp_from_gripper_link(Pose(*kinematics.forward(q)), self.robot.tool)

    def gripper_opening(self, positions) -> float:
        """Per-finger opening (m) from the gripper feedback's first position (a stroke)."""
        if len(positions) < 1:
            raise FeedbackError('gripper feedback carries no position')
        stroke = float(positions[0])
        if not np.isfinite(stroke):
            raise FeedbackError(f'non-finite gripper stroke {stroke}')
        lo, hi = sorted((self.robot.gripper.stroke_closed, self.robot.gripper.stroke_open))
        margin = 0.05 * (hi - lo)
        if not lo - margin <= stroke <= hi + margin:
            raise FeedbackError(f'gripper stroke {stroke} outside the driver range [{lo}, {hi}] '
                                '(a firmware reporting other units? see robot.gripper in the robot YAML)')
        return opening_from_stroke(stroke, self.robot.gripper)


def status_errors(msg) -> list[str]:
    """The errors a driver status message reports, as readable strings (empty: all well).

    Reads the vendor's ``FeedbackStatus`` layout (``errors``: items with ``code`` and
    ``description``) without importing it; an error is an item with a nonzero code.
    """
    out = []
    for item in getattr(msg, 'errors', ()) or ():
        code = getattr(item, 'code', getattr(item, 'error_code', 0))
        if code:
            out.append(f'{code}: {getattr(item, "description", "") or "(no description)"}')
    return out
