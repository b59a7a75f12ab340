"""Message conversion and node plumbing shared by the nodes (the only place touching both
ROS messages and core types)."""
from __future__ import annotations

import os
import signal
import sys

import numpy as np
import rclpy
from geometry_msgs.msg import Pose as PoseMsg, PoseStamped
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, DurabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..core.config import CellConfig, WorkspaceConfig, load_config
from ..core.controller import Pose
from ..core.images import ImageError, decode_rgb  # noqa: F401  (ImageError re-exported)
from ..core.intrinsics import Intrinsics
from ..core.recording.dataset import IMAGE_FIELDS, TRANSITION_TOPIC  # noqa: F401  (TRANSITION_TOPIC re-exported)

# Commands: reliable, shallow (a stale command is worse than a dropped one).
COMMAND_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)
STATE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# Transitions must not be dropped on the way to the learner/recorder.
TRANSITION_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# Synthetic trajectories come in bursts (a generation batch is K x segments x T steps): a deeper
# history keeps a briefly busy learner from losing steps (a gap drops the whole trajectory).
SYNTHETIC_QOS = QoSProfile(depth=512, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
SENSOR_QOS = qos_profile_sensor_data
PARAMS_TOPIC = '/learner/actor_params'   # versioned actor parameters, learner -> policy
SYNTHETIC_TOPIC = '/worldsample/synthetic_transitions'   # labelled counterfactuals, world_model -> learner
INTERVENTION_TOPIC = '/worldsample/intervention'   # the operator's (or simulated human's) DeltaCommands
SUCCESS_MARK_TOPIC = '/worldsample/success_mark'   # the operator's success mark, teleop -> policy
REPLAY_TOPIC = '/worldsample/transitions_replay'   # the policy's spool, re-sent for a restarted learner
BOARD_TOPIC = '/sim/board'   # the simulated board: hole centre on its top face, turned by its yaw (sim ground truth)
# Latest-value topics (actor parameters): a subscriber that joins late still gets the last one.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


# Image encodings the nodes send: (dtype, bytes per pixel)
ENCODINGS = {'rgb8': (np.uint8, 3), '16UC1': (np.dtype('<u2'), 2)}


def array_to_image(img: np.ndarray, stamp, frame_id: str, encoding: str = 'rgb8') -> Image:
    """An (H, W, 3) uint8 RGB image, or with ``encoding='16UC1'`` an (H, W) uint16 depth image
    (little-endian, as realsense-ros sends it)."""
    dtype, bpp = ENCODINGS[encoding]
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * bpp
    msg.data = np.ascontiguousarray(img, dtype=dtype).tobytes()
    return msg


try:   # a system ROS 2's cv_bridge (PyPI's cv-bridge is ROS 1's and is not used)
    from cv_bridge import CvBridge
    BRIDGE = CvBridge()
except ImportError:
    BRIDGE = None


def image_to_array(msg, expect_hw: tuple[int, int] | None = None) -> np.ndarray:
    """An Image -> H x W x 3 uint8 RGB, or ImageError saying what is wrong.

    rgb8 and bgr8 (what realsense-ros, our camera node and the sim send) take the NumPy path;
    another encoding (mono8, yuv422, bgra8, ...) is converted by cv_bridge where a system ROS 2
    provides it, and is refused by name where it does not.
    """
    if msg.encoding in ('rgb8', 'bgr8') or BRIDGE is None:
        return decode_rgb(msg, expect_hw)
    if expect_hw is not None and (msg.height, msg.width) != tuple(expect_hw):
        raise ImageError(f'image is {msg.width}x{msg.height}, expected {expect_hw[1]}x{expect_hw[0]}')
    try:
        img = np.asarray(BRIDGE.imgmsg_to_cv2(msg, desired_encoding='rgb8'))
    except Exception as e:   # cv_bridge raises CvBridgeError, TypeError or ValueError for bad messages
        raise ImageError(f'cv_bridge cannot convert a {msg.encoding!r} image to rgb8: {e}') from None
    if img.shape != (msg.height, msg.width, 3) or img.dtype != np.uint8:
        raise ImageError(f'cv_bridge turned a {msg.encoding!r} image into {img.dtype} {img.shape}, not rgb8')
    return img


def arm_state_proprio(msg) -> np.ndarray:
    """An ArmState's proprio vector as a (7,) float array, or ValueError saying what is wrong."""
    p = np.asarray(msg.proprio, dtype=np.float64)
    if p.shape != (7,):
        raise ValueError(f'ArmState proprio must have 7 values [x y z rx ry rz gripper], got {p.size}')
    if not np.all(np.isfinite(p)):
        raise ValueError(f'ArmState proprio has non-finite values: {p.tolist()}')
    return p


def stamp_s(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def camera_info(intr: Intrinsics, stamp, frame_id: str) -> CameraInfo:
    """CameraInfo of an unrectified colour stream (as realsense-ros fills it: R = I, P = [K | 0])."""
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(intr.width), int(intr.height)
    msg.distortion_model = intr.ros_distortion_model
    msg.d = [float(c) for c in intr.coeffs]
    msg.k = [float(v) for v in intr.k.ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [intr.fx, 0.0, intr.ppx, 0.0, 0.0, intr.fy, intr.ppy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def transition_images(msg, cfg: CellConfig) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Camera images of o_t and o_{t+1} in a Transition, decoded and checked against the camera
    config; ValueError (ImageError) naming the problem, also for action/proprio lengths other than 7."""
    obs, nxt = {}, {}
    for cam, field in IMAGE_FIELDS.items():
        c = cfg.camera(cam)
        obs[cam] = image_to_array(getattr(msg, field), (c.height, c.width))
        nxt[cam] = image_to_array(getattr(msg, 'next_' + field), (c.height, c.width))
    if len(msg.action) != 7 or len(msg.proprio) != 7 or len(msg.next_proprio) != 7:
        raise ValueError(f'action, proprio and next_proprio must have 7 values each, got '
                         f'{len(msg.action)}/{len(msg.proprio)}/{len(msg.next_proprio)}')
    return obs, nxt


def real_step(node: Node, msg, cfg: CellConfig) -> tuple | None:
    """A real Transition as (episode, step, images, proprio, action, next_images, next_proprio, done),
    the arguments of the world model's stream builders; None (logged) for synthetic or bad ones."""
    if msg.origin != msg.ORIGIN_REAL:
        return None
    try:
        obs, nxt = transition_images(msg, cfg)
    except ValueError as e:   # ImageError included
        node.get_logger().error(f'transition (episode {msg.episode}, step {msg.step}) skipped: {e}',
                                throttle_duration_sec=2.0)
        return None
    return (msg.episode, msg.step, obs, np.asarray(msg.proprio, np.float32), msg.action, nxt,
            np.asarray(msg.next_proprio, np.float32), msg.terminated or msg.truncated)


def pose_to_msg(pose: Pose) -> PoseMsg:
    msg = PoseMsg()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in pose.pos)
    q = pose.quat_xyzw()
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in q)
    return msg


def msg_to_pose(msg: PoseMsg) -> Pose:
    """ValueError naming the problem for non-finite values or a zero quaternion (others are normalised)."""
    p, o = msg.position, msg.orientation
    pos, quat = np.array([p.x, p.y, p.z]), np.array([o.x, o.y, o.z, o.w])
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
        raise ValueError(f'pose has non-finite values: position {pos.tolist()}, orientation {quat.tolist()}')
    largest = np.max(np.abs(quat))
    if largest < 1e-9:
        raise ValueError('pose orientation is a zero quaternion')
    # scaled before it is normalised: the norm of components near 1e308 overflows to inf, and a
    # quaternion divided by it is the zero rotation matrix
    return Pose.from_pos_quat(pos, quat / largest)


def board_to_msg(hole: np.ndarray, top_z: float, stamp, frame_id: str) -> PoseStamped:
    """The board as rviz shows it: the hole's centre on the board's top face, turned by its yaw about z."""
    x, y, yaw = (float(v) for v in hole)
    msg = PoseStamped(header=Header(stamp=stamp, frame_id=frame_id))
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, float(top_z)
    msg.pose.orientation.z, msg.pose.orientation.w = float(np.sin(yaw / 2)), float(np.cos(yaw / 2))
    return msg


def board_from_msg(msg: PoseStamped, workspace: WorkspaceConfig | None = None) -> np.ndarray:
    """(x, y, yaw) of the hole; ValueError naming the problem for a pose that is not finite, not
    level or, with the task's ``workspace``, whose hole lies outside the TCP box in x or y (the peg,
    held at the TCP, could not be put over it)."""
    pose = msg_to_pose(msg.pose)
    if pose.rot[2, 2] < np.cos(np.radians(1.0)):
        raise ValueError(f'board pose is tilted by {np.degrees(np.arccos(np.clip(pose.rot[2, 2], -1, 1))):.1f} deg; '
                         'a board lies flat on the table')
    if workspace is not None:
        (x, y), lo, hi = pose.pos[:2], workspace.low, workspace.high
        if not (lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1]):
            raise ValueError(f'board hole at x {x:.4g}, y {y:.4g} m lies outside the workspace box '
                             f'(x {lo[0]:g}..{hi[0]:g}, y {lo[1]:g}..{hi[1]:g}): the peg could not reach it')
    return np.array([pose.pos[0], pose.pos[1], np.arctan2(pose.rot[1, 0], pose.rot[0, 0])])


def read_board(node: Node, msg: PoseStamped, workspace: WorkspaceConfig) -> np.ndarray | None:
    """:func:`board_from_msg` at a subscription: a bad pose is logged (throttled) and gives None."""
    try:
        return board_from_msg(msg, workspace)
    except ValueError as e:
        node.get_logger().error(f'board pose dropped: {e}', throttle_duration_sec=2.0)
        return None


def declare_config(node: Node) -> CellConfig:
    """Every node takes the task by name or YAML path through the ``task`` parameter."""
    task = node.declare_parameter('task', 'insertion').get_parameter_value().string_value
    return load_config(task)


PLACE_EVERY_S = 2.0   # yield_to_control_loop looks for new threads this often


def background_cpus(spec: str, available: set[int]) -> set[int]:
    """The CPUs a background node may use: '' all of them, 'auto' all but the lowest (the control
    loop's) where there are at least two, or a comma-separated list such as '2,3'."""
    if spec == '':
        return set(available)
    if spec == 'auto':
        return set(available) - {min(available)} if len(available) > 1 else set(available)
    try:
        cpus = {int(c) for c in spec.split(',')}
    except ValueError:
        raise ValueError(f"cpus must be '', 'auto' or a list like '1,2', got {spec!r}") from None
    if not cpus or not cpus <= set(available):
        raise ValueError(f'cpus {sorted(cpus)} are not all among the CPUs this process may use: {sorted(available)}')
    return cpus


def compile_cache(node: Node) -> None:
    """JAX's persistent compilation cache, so a restarted node loads what it compiled before instead
    of compiling it again. Parameter
    ``compile_cache``: a folder, ``auto`` ($JAX_COMPILATION_CACHE_DIR, else
    $XDG_CACHE_HOME/worldsample/jax, else ~/.cache/worldsample/jax) or ``off``. Entries are keyed
    by the program, its shapes, the JAX version and the flags, so a stale one is never used."""
    import jax
    spec = str(node.declare_parameter('compile_cache', 'auto').value)
    if spec == 'off':
        return
    if spec == 'auto':
        base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
        spec = os.environ.get('JAX_COMPILATION_CACHE_DIR') or os.path.join(base, 'worldsample', 'jax')
    jax.config.update('jax_compilation_cache_dir', spec)


def yield_to_control_loop(node: Node, nice: int = 10) -> None:
    """Keep a node off the control loop's CPU where they share a machine: niceness ``nice`` (a
    parameter; 10 for training and generation) and the CPUs ``cpus`` ('auto': all but the lowest,
    which the policy and the controller then always find free). The sim, which stands in for the
    arm's and the cameras' own hardware, takes niceness 0 and the same CPUs. Linux keeps both per
    thread, so they are set on every thread the process has now; threads made later from those
    (XLA's, torch's, llvmpipe's, the training thread) inherit them, and any other new thread (the
    middleware's) is placed within ``PLACE_EVERY_S``."""
    nice = int(node.declare_parameter('nice', nice).value)
    cpus = background_cpus(node.declare_parameter('cpus', 'auto').value, os.sched_getaffinity(0))
    placed: set[int] = set()

    def place() -> None:
        for tid in {int(t) for t in os.listdir('/proc/self/task')} - placed:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
                os.sched_setaffinity(tid, cpus)
                placed.add(tid)
            except (ProcessLookupError, FileNotFoundError, PermissionError):   # a thread that has just ended
                pass
    place()
    # threads that the middleware's own older threads start later do not inherit this: place them too
    node.create_timer(PLACE_EVERY_S, place)
    node.get_logger().info(f'off the control loop: niceness {nice}, CPUs {sorted(cpus)}')


def control_loop_priority(node: Node, default: int = 10) -> None:
    """Run the calling thread (the node's executor: its control step and callbacks) under the
    real-time policy SCHED_FIFO at priority ``rt_priority`` (a parameter; 0 leaves it as it is), so
    a busy core's ordinary processes (the controller's loop, the simulated human, a learner) wait
    for the step instead of the step for them. Threads started from it later fall back to the
    ordinary policy (SCHED_RESET_ON_FORK). Without the privilege (CAP_SYS_NICE, or an ``rtprio``
    limit such as ``@realtime - rtprio 20`` in /etc/security/limits.conf) it says so and runs on."""
    priority = int(node.declare_parameter('rt_priority', default).value)
    if priority <= 0:
        return
    low, high = os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)
    if not low <= priority <= high:
        raise ValueError(f'rt_priority must be 0 (off) or within {low}..{high}, got {priority}')
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except PermissionError:
        node.get_logger().warning(f'real-time priority {priority} not permitted (needs CAP_SYS_NICE or an rtprio '
                                  'limit): the control step runs at ordinary priority (rt_priority:=0 silences this)')
        return
    node.get_logger().info(f'control step at real-time priority {priority} (SCHED_FIFO)')


STOP_POLL_S = 0.1   # an idle executor looks for a requested stop this often


def spin_node(node_factory, args=None) -> None:
    """Standard main(): init, spin until Ctrl-C (SIGINT) or SIGTERM, external shutdown or the
    node's ``finished`` future completes (if it has one); clean up.

    A signal while spinning only asks for the stop, which happens between callbacks: the callback
    running at that moment completes (a transition half written, a message half published), then
    ``close``, then the node is destroyed while its context is still valid. rclpy's own handlers
    stay off: they shut the context down at once, so the running callback's next publish raises,
    and Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread is,
    possibly inside a library holding a lock that the node's worker threads (and ``close``) then
    wait on for ever. While the node is still being built there is nothing to keep consistent: a
    signal stops it at once."""
    state = {'spinning': False, 'stop': False}

    def on_signal(signum, frame):
        if not state['spinning']:
            raise KeyboardInterrupt
        state['stop'] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = failure = None
    try:
        try:
            node = node_factory()
        except (ValueError, FileNotFoundError) as e:   # bad config, model or weights file: say which
            print(f'error: cannot start: {e}', file=sys.stderr, flush=True)
            rclpy.try_shutdown()
            sys.exit(1)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        finished = getattr(node, 'finished', None)
        state['spinning'] = True
        while not state['stop'] and not (finished is not None and finished.done()):
            executor.spin_once(timeout_sec=STOP_POLL_S)   # the signal handler runs when the wait returns
        if finished is not None and finished.done() and finished.exception() is not None:
            failure = finished.exception()             # the node failed (e.g. a worker thread died)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:   # release files etc. even when the context is already gone
                close()
            if rclpy.ok():          # destroying entities of a shut-down context can spin forever
                node.destroy_node()
        rclpy.try_shutdown()
    if failure is not None:
        print(f'error: {failure}', file=sys.stderr, flush=True)
        sys.exit(1)
