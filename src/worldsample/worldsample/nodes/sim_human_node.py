"""sim_human node: a simulated operator publishing interventions like the SpaceMouse teleop.

Watches ``/a1x_controller/state`` and, when core.sim_human decides the arm strays or stalls,
publishes the expert's actions on ``/worldsample/intervention`` for a few steps. Its state
resets whenever the controller runs an episode reset; it steers to the hole the sim node
reports on ``/sim/board`` (the task's fixed board until one arrives). During a takeover step every
newer arm state (the controller's rate) refreshes the published action (``SimulatedHuman.refresh``),
so that the policy's tick finds one computed from the arm as it is, not as it was up to a step ago.
The step after a takeover's last it publishes a release (``SOURCE_RELEASE``), as the teleop node
does when the operator lets go: a 10-step takeover is 10 intervened steps.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from worldsample_msgs.msg import ArmState, DeltaCommand

from ..core.controller import Mode
from ..core.sim_human import SimulatedHuman
from .common import (BOARD_TOPIC, COMMAND_QOS, INTERVENTION_TOPIC, LATCHED_QOS, STATE_QOS, arm_state_proprio,
                     declare_config, read_board, spin_node)


class SimHumanNode(Node):
    def __init__(self):
        super().__init__('sim_human')
        self.cfg = declare_config(self)
        agg = float(self.declare_parameter('aggressiveness', self.cfg.human.aggressiveness).value)
        self.human = SimulatedHuman(replace(self.cfg, human=replace(self.cfg.human, aggressiveness=agg)))
        self.state: ArmState | None = None
        self.create_subscription(ArmState, '/a1x_controller/state', self.on_state, STATE_QOS)
        self.create_subscription(PoseStamped, BOARD_TOPIC, self.on_board, LATCHED_QOS)
        self.pub = self.create_publisher(DeltaCommand, INTERVENTION_TOPIC, COMMAND_QOS)
        self.create_timer(1.0 / self.cfg.task.control_hz, self.on_tick)
        self.get_logger().info(f'simulated human up (aggressiveness {agg})')

    def on_state(self, msg: ArmState) -> None:
        try:
            proprio = arm_state_proprio(msg)
        except ValueError as e:
            self.get_logger().error(f'arm state dropped: {e}', throttle_duration_sec=2.0)
            return
        self.state = msg
        if msg.mode not in (Mode.RESETTING, Mode.ESTOP):
            self._publish(self.human.refresh(proprio))

    def on_board(self, msg: PoseStamped) -> None:
        hole = read_board(self, msg, self.cfg.task.workspace)
        if hole is not None:           # the board moves during resets only: a new episode's hole
            self.human.reset(hole)

    def on_tick(self) -> None:
        if self.state is None:
            return
        was_active = self.human.active
        if self.state.mode in (Mode.RESETTING, Mode.ESTOP):
            self.human.reset(self.human.hole)   # the last board reported (None: the task's fixed one)
            action = None
        else:
            action = self.human.step(np.asarray(self.state.proprio))
        if action is None and was_active:       # the takeover is over: the policy acts from this step on
            self._publish(np.zeros(7), DeltaCommand.SOURCE_RELEASE)
        else:
            self._publish(action)

    def _publish(self, action: np.ndarray | None, source: int = DeltaCommand.SOURCE_INTERVENTION) -> None:
        if action is not None:
            msg = DeltaCommand(source=source, action=[float(a) for a in action])
            msg.header.stamp = self.get_clock().now().to_msg()
            self.pub.publish(msg)


def main(args=None):
    spin_node(SimHumanNode, args)


if __name__ == '__main__':
    main()
