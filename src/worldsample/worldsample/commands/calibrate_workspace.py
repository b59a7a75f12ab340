"""calibrate_workspace: the workspace box and reset pose of a new cell, by moving the arm.

    ./ws run calibrate_workspace --out runs/operator/cell.yaml [--task insertion] [--seconds 60] [--margin 0.005]

Reads the arm driver's joint feedback (the robot YAML's ``feedback_arm`` topic, through the same
adapter and kinematics as the controller: by joint name, else the documented index order) and
turns every reading into the TCP pose. Move the arm, by hand or with the SpaceMouse through a
running graph, to the corners of the space the task may use, and end with it where every episode
should start; stop with Ctrl-C or after ``--seconds``. Writes a task YAML that ``extends:`` the
task with the visited box (shrunk by ``--margin`` per side) and the last pose as the reset pose:
launch with ``task:=runs/operator/cell.yaml``. Nothing here commands the arm.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from sensor_msgs.msg import JointState

from ..core.config import ConfigError, config_dir, load_config
from ..core.driver import A1XAdapter, FeedbackError
from ..core.workspace_calibration import CalibrationError, WorkspaceCalibration
from ..nodes.common import STATE_QOS


def task_path(task: str) -> Path:
    path = Path(task)
    return path if path.suffix in ('.yaml', '.yml') else config_dir() / f'{task}.yaml'


def run(task: str, seconds: float, margin: float, out: Path, log=print) -> WorkspaceCalibration:
    cfg = load_config(task)
    adapter, cal = A1XAdapter(cfg.robot), WorkspaceCalibration(margin)
    dropped = []
    rclpy.init()
    node = rclpy.create_node('calibrate_workspace')

    def on_joints(msg: JointState) -> None:
        try:
            cal.add(adapter.tcp(adapter.joints(msg.name, msg.position)))
        except (FeedbackError, TypeError, ValueError) as e:
            if not dropped:
                log(f'arm feedback dropped: {e}')
            dropped.append(str(e))

    topic = cfg.robot.topics.feedback_arm
    node.create_subscription(JointState, topic, on_joints, STATE_QOS)
    log(f'reading {topic} for {seconds:g} s: move the arm to the corners of the workspace, end at the start pose '
        '(Ctrl-C ends early)')
    end, next_report = time.monotonic() + seconds, 0.0
    try:
        while time.monotonic() < end and rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.05)
            if time.monotonic() >= next_report and cal.last is not None:
                next_report = time.monotonic() + 2.0
                log(f'  {cal.readings} readings; box so far {np.round(cal.low, 3).tolist()} .. '
                    f'{np.round(cal.high, 3).tolist()}; TCP now {np.round(cal.last.pos, 3).tolist()}')
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    note = (f'calibrated by calibrate_workspace on {time.strftime("%Y-%m-%d %H:%M")} from {cal.readings} readings '
            f'of {topic} ({len(dropped)} dropped); margin {margin:g} m')
    text = cal.task_yaml(task_path(task), out, note)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + '.partial.yaml')
    partial.write_text(text)
    try:
        load_config(partial)     # the task loads, its box and reset pose checked like any task's
    except ConfigError:
        partial.unlink()
        raise
    os.replace(partial, out)
    return cal


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion', help='the task to calibrate (its robot YAML names the topics)')
    p.add_argument('--seconds', type=float, default=60.0)
    p.add_argument('--margin', type=float, default=0.005, help='the box is the visited range shrunk by this (m)')
    p.add_argument('--out', type=Path, required=True, help='task YAML to write (extends --task)')
    a = p.parse_args(argv)
    if a.seconds <= 0:
        p.error('--seconds must be positive')
    try:
        cal = run(a.task, a.seconds, a.margin, a.out)
    except (CalibrationError, ConfigError, ValueError) as e:
        print(f'calibrate_workspace: {e}', file=sys.stderr)
        return 1
    low, high, reset, rpy = cal.result()
    print(f'workspace {np.round(low, 4).tolist()} .. {np.round(high, 4).tolist()}, reset pose '
          f'{np.round(reset, 4).tolist()} rpy {np.round(rpy, 3).tolist()} -> {a.out} (task:={a.out})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
