"""MJCF of the A1X insertion cell, generated from the shared kinematics and the task config.

The arm's bodies, joint axes, offsets and limits come from ``core.kinematics`` (the public
URDF), so the simulated arm and the controller's kinematics cannot drift apart. Links are
capsules; only the gripper fingers and the peg collide with the scene. Position servos with
the URDF's effort limits stand in for the driver's joint impedance loop; gravity is
compensated as the real driver does.
"""
from __future__ import annotations

import numpy as np

from ..config import CellConfig
from ..kinematics import A1X_JOINTS, FINGER_TRAVEL, GRIPPER_LINK

# Joint servo gains (N m / rad and N m s / rad): four times the stiffness of the A1X driver's
# example MIT-mode gains (kp 140/200/120/80/80/80), so the servo tracks 10 cm/s targets within
# a few millimetres as the real arm's higher-rate impedance loop does; torques stay within
# the URDF effort limits (forcerange).
KP = (560.0, 800.0, 480.0, 320.0, 320.0, 320.0)
KV = (20.0, 40.0, 15.0, 10.0, 10.0, 10.0)
LINK_MASS = (0.9, 1.1, 0.9, 0.6, 0.5, 0.7)   # ~4.7 kg in all


def _vec(v) -> str:
    return ' '.join(f'{x:.6g}' for x in v)


def look_at_xyaxes(pos, target) -> str:
    """MuJoCo camera axes (x right, y up, looking along -z) for a camera at pos looking at target."""
    fwd = np.asarray(target, float) - np.asarray(pos, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    return _vec(np.concatenate([right, up]))


def _arm(cfg: CellConfig) -> str:
    """Nested bodies link1..link6; each link's capsule runs to the next joint origin."""
    cam = cfg.camera('wrist_camera')
    scene = cfg.task.scene
    xml, close = [], []
    for i, joint in enumerate(A1X_JOINTS):
        nxt = A1X_JOINTS[i + 1].origin if i + 1 < len(A1X_JOINTS) else (GRIPPER_LINK, 0.0, 0.0)
        rgba = '0.15 0.15 0.17 1' if i % 2 else '0.82 0.82 0.85 1'
        xml.append(
            f'<body name="link{i + 1}" pos="{_vec(joint.origin)}" gravcomp="1">'
            f'<inertial pos="{_vec(np.asarray(nxt) / 2)}" mass="{LINK_MASS[i]}" diaginertia="0.002 0.002 0.002"/>'
            f'<joint name="{joint.name}" axis="{_vec(np.eye(3)["xyz".index(joint.axis)])}" '
            f'range="{joint.lower} {joint.upper}" armature="0.05" damping="0.5"/>'
            f'<geom type="capsule" size="0.028" fromto="0 0 0 {_vec(nxt)}" rgba="{rgba}" '
            f'contype="0" conaffinity="0" group="1"/>')
        close.append('</body>')
    # Gripper on link6 (gripper_link GRIPPER_LINK out along x): palm, two fingers sliding along y
    # from the robot YAML's finger root to the TCP, the held peg, TCP and wrist camera.
    tool = cfg.robot.tool
    tcp = GRIPPER_LINK + tool.tcp_offset_m
    root = GRIPPER_LINK + tool.finger_root_m
    half_peg = scene.peg_size / 2
    peg_centre = tcp + scene.peg_protrusion - scene.peg_length / 2
    finger_len = tcp - root
    xml.append(
        f'<geom name="palm" type="box" size="0.012 0.045 0.025" pos="{GRIPPER_LINK - 0.01:.6g} 0 0" '
        f'rgba="0.15 0.15 0.17 1" contype="0" conaffinity="0"/>'
        f'<geom name="peg" type="box" size="{scene.peg_length / 2} {half_peg} {half_peg}" '
        f'pos="{peg_centre:.6g} 0 0" rgba="0.85 0.2 0.15 1" contype="1" conaffinity="1" friction="0.4 0.005 0.0001"/>'
        f'<site name="gripper_link" pos="{GRIPPER_LINK} 0 0" size="0.003"/>'
        f'<site name="tcp" pos="{tcp:.6g} 0 0" quat="0.7071068 0 0.7071068 0" size="0.004"/>'
        f'<site name="peg_tip" pos="{tcp + scene.peg_protrusion:.6g} 0 0" size="0.003"/>'
        f'<camera name="wrist_camera" pos="0.0 0 -0.075" xyaxes="0 1 0 0.35 0 -1" fovy="{cam.fovy_deg}"/>')
    for side, sign in (('left', 1.0), ('right', -1.0)):
        xml.append(
            f'<body name="finger_{side}" pos="{root:.6g} 0 0">'
            f'<inertial pos="{finger_len / 2:.6g} 0 0" mass="0.05" diaginertia="1e-5 1e-5 1e-5"/>'
            f'<joint name="finger_{side}" type="slide" axis="0 {sign} 0" range="{_vec(FINGER_TRAVEL)}" damping="5"/>'
            f'<geom type="box" size="{finger_len / 2:.6g} 0.005 0.012" pos="{finger_len / 2:.6g} {sign * (half_peg + 0.005)} 0" '
            f'rgba="0.3 0.3 0.33 1" contype="0" conaffinity="0"/>'
            f'</body>')
    return ''.join(xml + close[::-1])


def _board(cfg: CellConfig) -> str:
    """A board with a square through-hole, built from four boxes around the hole, in a mocap
    body whose origin is the hole centre on the table: ``InsertionCell.place_board`` moves and
    turns it every episode where the task randomises it."""
    s = cfg.task.scene
    bx, by, bz = (v / 2 for v in s.board_size)
    h = s.hole_size / 2
    parts = [  # (centre x, centre y, half x, half y) of the four slabs around the hole
        (0.0, (h + by) / 2, bx, (by - h) / 2),
        (0.0, -(h + by) / 2, bx, (by - h) / 2),
        ((h + bx) / 2, 0.0, (bx - h) / 2, h),
        (-(h + bx) / 2, 0.0, (bx - h) / 2, h),
    ]
    geoms = ''.join(
        f'<geom type="box" pos="{x} {y} {bz}" size="{hx} {hy} {bz}" rgba="0.55 0.38 0.22 1" '
        f'contype="1" conaffinity="1" friction="0.4 0.005 0.0001"/>' for x, y, hx, hy in parts)
    marker = f'<geom type="box" pos="0 0 0.0005" size="{h} {h} 0.0005" rgba="0.1 0.1 0.1 1" contype="0" conaffinity="0"/>'
    return f'<body name="board" mocap="true" pos="{_vec((*s.hole_xy, 0.0))}">{geoms}{marker}</body>'


def build_mjcf(cfg: CellConfig) -> str:
    sim = cfg.sim
    actuators = ''.join(
        f'<position name="act_{j.name}" joint="{j.name}" kp="{KP[i]}" kv="{KV[i]}" '
        f'forcerange="{-j.effort} {j.effort}" ctrlrange="{j.lower} {j.upper}"/>'
        for i, j in enumerate(A1X_JOINTS))
    fingers = ''.join(
        f'<position name="act_finger_{s}" joint="finger_{s}" kp="400" kv="10" forcerange="-40 40" '
        f'ctrlrange="{_vec(FINGER_TRAVEL)}"/>' for s in ('left', 'right'))
    side = cfg.camera('side_camera')
    return f"""<mujoco model="a1x_{cfg.task.name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{sim.timestep}" gravity="0 0 -9.81" integrator="implicitfast" cone="elliptic"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="640" offheight="640"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <default><geom solref="0.004 1" solimp="0.95 0.99 0.001"/></default>
  <worldbody>
    <light pos="0.3 -0.3 1.2" dir="0 0.2 -1" diffuse="0.5 0.5 0.5" castshadow="false"/>
    <geom name="table" type="box" pos="0.3 0 -0.02" size="0.6 0.6 0.02" rgba="0.72 0.74 0.76 1"
          contype="1" conaffinity="1"/>
    <geom name="base" type="cylinder" pos="0 0 0.04" size="0.06 0.04" rgba="0.15 0.15 0.17 1"
          contype="0" conaffinity="0"/>
    {_board(cfg)}
    <camera name="side_camera" pos="{_vec(sim.side_camera_pos)}"
            xyaxes="{look_at_xyaxes(sim.side_camera_pos, sim.side_camera_target)}" fovy="{side.fovy_deg}"/>
    <body name="base_link">{_arm(cfg)}</body>
  </worldbody>
  <actuator>{actuators}{fingers}</actuator>
</mujoco>
"""
