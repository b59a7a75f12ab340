"""Where the board (and so the hole) is each episode, for tasks that move it.

The gymnasium env draws the board in ``reset``; the ROS sim node draws one for each reset the
controller runs and places it once the peg is clear of the board (:class:`BoardMover`), so that
the simulated human and the scripted expert, told on ``/sim/board``, see the episode's hole.
"""
from __future__ import annotations

import numpy as np

from ..config import SceneConfig
from ..controller import Mode

CLEAR_M = 0.01   # the peg tip at least this far above the board top before the board jumps beneath it


def sample_board(scene: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """This episode's hole: centre x, y (m) and yaw (rad); ``rng`` is drawn from only where the
    task moves the board."""
    xy, yaw = np.asarray(scene.hole_xy, np.float64), 0.0
    if scene.moves_board:
        xy = xy + rng.uniform(-np.asarray(scene.hole_xy_noise), scene.hole_xy_noise)
        yaw = float(rng.uniform(-scene.hole_yaw_noise, scene.hole_yaw_noise))
    return np.array([xy[0], xy[1], yaw])


class BoardMover:
    """A new board pose for every reset the controller starts, placed once the peg is clear.

    A reset that starts while the peg is in the hole lifts it out first; jumping the board then
    would put the peg inside it. A reset that ends before the peg is ever clear (it timed out)
    leaves the board where it was, and the next reset draws again."""

    def __init__(self, scene: SceneConfig, rng: np.random.Generator):
        self.scene, self.rng = scene, rng
        self.mode: int | None = None
        self.pending: np.ndarray | None = None

    def on_mode(self, mode: int) -> None:
        """The controller's mode, as each of its states reports it."""
        if mode == Mode.RESETTING and self.mode != Mode.RESETTING:
            self.pending = sample_board(self.scene, self.rng)
        elif mode != Mode.RESETTING:
            self.pending = None
        self.mode = mode

    def due(self, peg_tip_z: float) -> np.ndarray | None:
        """The board to place now (once per reset), or None."""
        if self.pending is None or peg_tip_z < self.scene.board_size[2] + CLEAR_M:
            return None
        board, self.pending = self.pending, None
        return board
