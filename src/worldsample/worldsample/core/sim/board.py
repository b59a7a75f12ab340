"""Where the board (and so the hole) is each episode, for tasks that move it.

The gymnasium env draws the board in ``reset(seed)``, after the start pose. The ROS sim node
draws one for each reset the controller starts, from that reset's seed in the same order, so an
episode of the graph and the env's episode of the same seed share start pose and board; it
places it once the peg is clear of the board (:class:`BoardMover`) and reports it on
``/sim/board`` for the simulated human and the scripted expert.
"""
from __future__ import annotations

import numpy as np

from ..config import SceneConfig, TaskConfig
from ..controller import Mode, Pose, seeded_reset_pose

CLEAR_M = 0.01   # the peg tip at least this far above the board top before the board jumps beneath it


def sample_board(scene: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """This episode's hole: centre x, y (m) and yaw (rad); ``rng`` is drawn from only where the
    task moves the board."""
    xy, yaw = np.asarray(scene.hole_xy, np.float64), 0.0
    if scene.moves_board:
        xy = xy + rng.uniform(-np.asarray(scene.hole_xy_noise), scene.hole_xy_noise)
        yaw = float(rng.uniform(-scene.hole_yaw_noise, scene.hole_yaw_noise))
    return np.array([xy[0], xy[1], yaw])


def seeded_start(task: TaskConfig, seed: int) -> tuple[Pose, np.ndarray]:
    """Start pose and board of the episode reset with ``seed``, drawn in the env's ``reset(seed)``
    order (start pose first); a negative seed draws fresh ones."""
    start, rng = seeded_reset_pose(task, seed)
    return start, sample_board(task.scene, rng)


class BoardMover:
    """A new board pose for every reset the controller starts, placed once the peg is clear.

    A reset that starts while the peg is in the hole lifts it out first; jumping the board then
    would put the peg inside it. A reset that ends before the peg is ever clear (it timed out)
    leaves the board where it was, and the next reset draws again."""

    def __init__(self, task: TaskConfig):
        self.task = task
        self.mode: int | None = None
        self.pending: np.ndarray | None = None

    def on_mode(self, mode: int, reset_seed: int) -> None:
        """The controller's mode and reset seed, as each of its states reports them."""
        if mode == Mode.RESETTING and self.mode != Mode.RESETTING:
            self.pending = seeded_start(self.task, reset_seed)[1]
        elif mode != Mode.RESETTING:
            self.pending = None
        self.mode = mode

    def due(self, peg_tip_z: float) -> np.ndarray | None:
        """The board to place now (once per reset), or None."""
        if self.pending is None or peg_tip_z < self.task.scene.board_size[2] + CLEAR_M:
            return None
        board, self.pending = self.pending, None
        return board
