"""Frozen dataclass configs, loaded strictly from one YAML per task (plus robot and camera YAMLs).

A task YAML names its robot and camera YAMLs (``robot:``, ``cameras:``); everything is merged
into one :class:`CellConfig`. Unknown or missing keys raise :class:`ConfigError` naming the key,
so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A config file is missing, malformed, or has unknown/missing keys."""


@dataclass(frozen=True)
class ActionConfig:
    # Per-step scale of a unit action: metres for dx..dz, radians for drx..drz (HIL-SERL: 1 cm, 0.06 rad).
    scale_pos: float
    scale_rot: float
    # Which of [dx, dy, dz, drx, dry, drz, d_gripper] the task uses; the rest stay exactly zero.
    active: tuple[bool, ...]

    def __post_init__(self):
        if len(self.active) != 7:
            raise ConfigError(f'action.active must have 7 entries, got {len(self.active)}')


@dataclass(frozen=True)
class WorkspaceConfig:
    # Safety box for the tool centre point, arm base frame, metres.
    low: tuple[float, float, float]
    high: tuple[float, float, float]
    # Orientation may deviate from the reset orientation by at most this (rotation vector, rad, per axis).
    max_rot: tuple[float, float, float]

    def __post_init__(self):
        if any(lo >= hi for lo, hi in zip(self.low, self.high)):
            raise ConfigError(f'workspace.low {self.low} must be below workspace.high {self.high}')


@dataclass(frozen=True)
class ControllerConfig:
    rate_hz: float               # target streaming and watchdog check rate
    watchdog_timeout_s: float    # no command for this long -> hold the measured pose
    max_lead_m: float            # anti-windup: target stays within this of the measured pose
    reset_speed_mps: float       # Cartesian speed of the reset motion
    reset_lift_m: float          # lift straight up by this before moving sideways on reset
    reset_tolerance_m: float     # reset is done when the measured TCP is this close
    reset_timeout_s: float
    gripper_closed_m: float      # finger opening commanded for "close" (0..0.05)
    gripper_open_m: float


@dataclass(frozen=True)
class LivenessConfig:
    """How old an input may be before the node acting on it stops (the policy) or holds (the
    controller). The policy's ages are now minus the message stamp (one host clock); a stamp older
    than its stream's previous one is stale as well, until the stream moves forward again. The
    controller times its arm feedback from arrival (the vendor's stamps are undocumented)."""
    camera_max_age_s: float      # each camera image the policy acts on
    state_max_age_s: float       # the controller's ArmState the policy acts on
    feedback_max_age_s: float    # the arm driver's joint feedback: older -> the controller holds

    def __post_init__(self):
        for name in ('camera_max_age_s', 'state_max_age_s', 'feedback_max_age_s'):
            if not getattr(self, name) > 0:
                raise ConfigError(f'liveness.{name} must be positive, got {getattr(self, name)}')


@dataclass(frozen=True)
class CameraConfig:
    name: str                    # topic namespace: /<name>/color/image_raw
    width: int
    height: int
    fovy_deg: float              # D435i colour: ~69 x 42 deg, cropped to a square -> 42 deg
    fps: float
    serial: str                  # real backend: RealSense serial number ('' = the only one connected)
    color_profile: tuple[int, int, int]   # real backend: the device's colour stream, width x height x fps


@dataclass(frozen=True)
class RobotTopics:
    target_pose: tuple[str, ...]     # geometry_msgs/PoseStamped of gripper_link, controller -> driver (each spelling)
    target_gripper: str              # sensor_msgs/JointState, position[0] = stroke
    feedback_arm: str                # sensor_msgs/JointState, driver -> controller
    feedback_gripper: str            # sensor_msgs/JointState, position[0] = stroke
    status: str                      # the driver's error report ('' = none)
    status_type: str                 # its message type, e.g. hdas_msg/msg/FeedbackStatus

    def __post_init__(self):
        if not self.target_pose:
            raise ConfigError('robot.topics.target_pose needs at least one topic')


@dataclass(frozen=True)
class ToolConfig:
    tcp_offset_m: float              # TCP on gripper_link's x axis this far out; z_tcp = x_gripper_link
    finger_root_m: float             # where the fingers start along that axis (simulated gripper)

    def __post_init__(self):
        if not 0.0 <= self.finger_root_m < self.tcp_offset_m:
            raise ConfigError(f'robot.tool: need 0 <= finger_root_m < tcp_offset_m, got '
                              f'{self.finger_root_m}, {self.tcp_offset_m}')


@dataclass(frozen=True)
class GripperConfig:
    stroke_closed: float             # the driver's stroke for closed fingers (0)
    stroke_open: float               # ... and for fully open ones (100)
    opening_at_open_m: float         # per-finger opening (m) at stroke_open

    def __post_init__(self):
        if self.stroke_open == self.stroke_closed or self.opening_at_open_m <= 0:
            raise ConfigError('robot.gripper: stroke_open must differ from stroke_closed, '
                              'opening_at_open_m must be positive')


@dataclass(frozen=True)
class RobotConfig:
    name: str
    base_frame: str
    joint_names: tuple[str, ...]
    gripper_joint: str
    topics: RobotTopics
    tool: ToolConfig
    gripper: GripperConfig

    def __post_init__(self):
        if len(self.joint_names) != 6 or len(set(self.joint_names)) != 6:
            raise ConfigError(f'robot.joint_names must name 6 distinct joints, got {list(self.joint_names)}')


@dataclass(frozen=True)
class SceneConfig:
    hole_xy: tuple[float, float]     # hole centre on the table, arm base frame
    board_size: tuple[float, float, float]
    hole_size: float                 # side of the square hole
    peg_size: float                  # side of the square peg
    peg_length: float
    peg_protrusion: float            # how far the peg tip sticks out past the TCP
    insert_depth: float              # success: peg tip this far below the board top, inside the hole
    hole_xy_noise: tuple[float, float]   # the board moves by U(-n, n) per axis every episode (0: fixed board)
    hole_yaw_noise: float            # ... and turns by U(-n, n) rad about z (the square peg must follow with rz)

    @property
    def moves_board(self) -> bool:
        return bool(any(self.hole_xy_noise) or self.hole_yaw_noise)


@dataclass(frozen=True)
class SimConfig:
    timestep: float
    substeps: int                    # physics steps per control step (timestep * substeps = 1 / control_hz)
    side_camera_pos: tuple[float, float, float]
    side_camera_target: tuple[float, float, float]


@dataclass(frozen=True)
class ExpertConfig:
    gain: float                      # fraction of the remaining position error corrected per step
    align_tolerance_m: float         # xy error below which the expert descends
    hover_m: float                   # peg-tip height above the board while aligning
    align_tolerance_rad: float       # yaw error (peg vs hole) below which the expert descends


@dataclass(frozen=True)
class HumanConfig:
    aggressiveness: float            # 0 = never intervenes, 1 = intervenes at the first sign of trouble
    stray_m: float                   # take over when the TCP is this far (xy) from the hole, scaled by 1/aggressiveness
    stall_steps: int                 # ... or when it made no progress for this many steps
    takeover_steps: int              # how long one intervention lasts


@dataclass(frozen=True)
class AgentConfig:
    """SAC/RLPD hyper-parameters; the YAML defaults are HIL-SERL's."""
    hidden: tuple[int, ...]        # MLP widths (256, 256), LayerNorm + tanh
    n_critics: int                 # critic ensemble size (2)
    batch_size: int                # 256, half demos(+interventions), half online (RLPD)
    discount: float                # 0.97
    lr: float                      # Adam 3e-4 for actor, critics and temperature
    tau: float                     # target critic update 0.005
    init_temperature: float        # 0.01
    cta_ratio: int                 # critic updates per actor update (2)
    backup_entropy: bool           # subtract alpha log pi(a'|s') in the critic target


@dataclass(frozen=True)
class TrainConfig:
    demo_episodes: int             # scripted-expert demos in sim (20, as HIL-SERL's human demos)
    env_steps: int                 # online environment steps of a training run
    learning_starts: int           # online transitions before the learner starts
    updates_per_step: int          # learner steps per environment step
    online_capacity: int
    demo_capacity: int
    eval_every: int                # environment steps between evaluations
    eval_episodes: int
    encoder_size: int              # frozen encoder: downsampled side
    encoder_dim: int               # frozen encoder: embedding size per camera
    post_train_every: int          # real-synthetic loop: env steps between world-model post-training bursts
    post_train_steps: int          # ... and world-model updates per burst
    post_train_warmup: int         # updates of the first burst; no counterfactual reaches the learner before it


@dataclass(frozen=True)
class WorldModelConfig:
    views: tuple[str, ...]         # cameras placed side by side in one image (the paper's dual view)
    view_size: int                 # each view resized to view_size x view_size
    context_frames: int            # previous frames besides the anchor o_0 (and as many previous actions)
    patch: int                     # U-Net runs on patch x patch pixel blocks (pixel unshuffle)
    channels: tuple[int, ...]      # U-Net widths per resolution level
    layers_per_block: int
    sigma_data: float              # EDM sigma_data
    train_sigma_mean: float        # ln(sigma) ~ N(mean, std) in training (EDM P_mean, P_std)
    train_sigma_std: float
    context_noise_max: float       # context frames noised with sigma_c ~ U(0, max) in training
    sigma_min: float               # sampler schedule (Karras et al. 2022, Eq. 5)
    sigma_max: float
    rho: float
    sampling_steps: int            # Euler steps per frame
    sampling_precision: str        # 'bfloat16' (autocast where the device computes it natively) or 'float32'
    lr: float
    batch_size: int
    ema_decay: float
    demo_share: float              # share of training samples from demos when rollouts are there too
    rollout_half_life: int         # recency weighting: a rollout episode this many episodes older counts half
    segment_length: int            # T: steps per real segment / counterfactual
    counterfactuals: int           # K: counterfactuals generated per real segment
    perturb_scale: float           # s  (a' = Pi_A(a * xi + eps), xi ~ U(1-s, 1+s))
    perturb_noise: float           # sigma (eps ~ N(0, sigma^2))
    # labels of predicted frames (core.worldmodel.calibration): precision the synthetic success
    # labels must reach against the real frames' labels on replays of recent real segments, the
    # fewest frames that judges it on, how many recent segments are replayed, and which rollout
    # episodes are held out of post-training to calibrate on (every n-th)
    label_precision_min: float
    label_min_positives: int
    label_calibration_segments: int
    label_holdout_every: int
    # learned models: the learner gets each counterfactual with the model's error on the real
    # actions taken out, o'_t = o_t + pred(A')_t - pred(A)_t (generator.residual_corrected); the
    # reward model still labels pred(A')_t, which the calibration judges
    residual_correction: bool
    # where a counterfactual's actions come from: 'perturbed' (appendix B.2: the logged actions
    # perturbed) or 'policy' (the current actor acting on each frame the rollout reaches)
    counterfactual_actions: str
    # also cut the last T steps of every episode whose end leaves fewer than T steps after its
    # last segment (overlapping that segment), so the steps before an episode's end, where an
    # insertion happens, anchor counterfactuals too (generator.SegmentCutter)
    end_segments: bool
    # learned models: a predicted frame is a success only if the reward model accepts it and the
    # counterfactual's proprio is where its real episode succeeded (generator.at_success_pose): the
    # segments wait for their episode's end, and that gate replaces label calibration
    success_pose_gate: bool
    # which frames the reward model labels: 'predicted' (pred(A')_t, held to the calibrated
    # threshold) or 'corrected' (the learner's o_t + pred(A')_t - pred(A)_t, needs
    # residual_correction; no calibration can judge those, the label audit measures them in
    # simulation)
    label_frames: str

    def __post_init__(self):
        if self.label_frames not in ('predicted', 'corrected'):
            raise ConfigError(f"world_model.label_frames must be 'predicted' or 'corrected', got {self.label_frames!r}")
        if self.label_frames == 'corrected' and (not self.residual_correction or self.success_pose_gate):
            raise ConfigError("world_model.label_frames 'corrected' labels the residual-corrected frames: it needs "
                              'residual_correction and replaces label calibration (success_pose_gate off)')
        if self.counterfactual_actions not in ('perturbed', 'policy'):
            raise ConfigError(f"world_model.counterfactual_actions must be 'perturbed' or 'policy', "
                              f'got {self.counterfactual_actions!r}')
        if not 0.0 < self.label_precision_min <= 1.0 or self.label_min_positives < 1 \
                or self.label_calibration_segments < 1 or self.label_holdout_every < 2:
            raise ConfigError('world_model: need 0 < label_precision_min <= 1, label_min_positives >= 1, '
                              'label_calibration_segments >= 1 and label_holdout_every >= 2')
        if self.sampling_precision not in ('bfloat16', 'float32'):
            raise ConfigError(f"world_model.sampling_precision must be 'bfloat16' or 'float32', "
                              f'got {self.sampling_precision!r}')


PPL_MODES = ('full', 'no_scheduling', 'no_q_selection', 'no_ppl', 'baseline')


@dataclass(frozen=True)
class PPLConfig:
    """Policy-Paced Learning (WorldSample Eq. 4-8, appendix B.4); the decisions are in README, section Policy-Paced Learning."""
    mode: str                      # full | no_scheduling (rho = rho_max) | no_q_selection (uniform) | no_ppl | baseline
    rho_max: float                 # largest synthetic share of the critic batch (0.30)
    kappa: float                   # rho = rho_max / (1 + kappa * H~^p)   (Eq. 8)
    power: float                   # p >= 1
    entropy_ema: float             # smoothing of H_t per update step
    delta_q: float                 # |mixed synthetic Q - real Q| <= delta_q   (Eq. 5)
    positive_share_min: float      # admitted positive share pi is kept in [min, max] while both queues hold data
    positive_share_max: float
    select_every: int              # update steps between re-estimations of pi and w_Q
    select_samples: int            # samples per source (real, positive, negative) for those Q means
    synthetic_capacity: int        # transitions per synthetic buffer (positive, negative)
    actor_synthetic: bool          # the actor loss also averages over the synthetic rows' states (entropy: real rows)

    def __post_init__(self):
        if self.mode not in PPL_MODES:
            raise ConfigError(f'ppl.mode must be one of {PPL_MODES}, got {self.mode!r}')
        if not 0.0 <= self.rho_max < 1.0:
            raise ConfigError(f'ppl.rho_max must be in [0, 1), got {self.rho_max}')
        if self.kappa <= 0 or self.power < 1:
            raise ConfigError(f'ppl needs kappa > 0 and power >= 1, got {self.kappa}, {self.power}')
        if not 0.0 <= self.positive_share_min <= self.positive_share_max <= 1.0:
            raise ConfigError('ppl: need 0 <= positive_share_min <= positive_share_max <= 1')
        if self.select_every < 1 or self.select_samples < 1 or self.synthetic_capacity < 1:
            raise ConfigError('ppl: select_every, select_samples and synthetic_capacity must be positive')


@dataclass(frozen=True)
class TeleopConfig:
    deadzone: float                  # fraction of full deflection ignored per axis
    translation_gain: float          # action units (x action scale) at full deflection
    rotation_gain: float
    frame: str                       # 'base': push forward = +x of the arm base; 'tool': in the TCP frame
    axis_signs: tuple[float, float, float, float, float, float]   # device axes -> base/tool axes
    hold_s: float                    # takeover lasts this long after the device comes to rest
    success_button: int              # Joy button index the operator holds to mark success (-1: none)

    def __post_init__(self):
        if self.success_button < -1:
            raise ConfigError(f'teleop.success_button must be a button index or -1 (none), got {self.success_button}')
        if not 0.0 <= self.deadzone < 1.0:
            raise ConfigError(f'teleop.deadzone must be in [0, 1), got {self.deadzone}')
        if self.frame not in ('base', 'tool'):
            raise ConfigError(f"teleop.frame must be 'base' or 'tool', got {self.frame!r}")
        if any(s not in (-1.0, 1.0) for s in self.axis_signs):
            raise ConfigError(f'teleop.axis_signs must be +1 or -1 each, got {self.axis_signs}')
        if self.hold_s < 0:
            raise ConfigError('teleop.hold_s must be >= 0')


@dataclass(frozen=True)
class TaskConfig:
    name: str
    control_hz: float
    max_episode_steps: int
    reset_pos: tuple[float, float, float]
    reset_rpy: tuple[float, float, float]
    reset_noise: tuple[float, float, float]   # uniform +- per axis (HIL-SERL insertion: ~2 cm)
    action: ActionConfig
    workspace: WorkspaceConfig
    scene: SceneConfig
    recorder_topics: tuple[str, ...]


@dataclass(frozen=True)
class CellConfig:
    task: TaskConfig
    controller: ControllerConfig
    liveness: LivenessConfig
    robot: RobotConfig
    cameras: tuple[CameraConfig, ...]
    sim: SimConfig
    expert: ExpertConfig
    human: HumanConfig
    teleop: TeleopConfig
    agent: AgentConfig
    train: TrainConfig
    world_model: WorldModelConfig
    ppl: PPLConfig

    def __post_init__(self):
        if self.teleop.success_button in (0, 1) and self.task.action.active[6]:
            raise ConfigError(f'teleop.success_button {self.teleop.success_button} closes or opens the gripper, '
                              'which this task uses: choose another button (or -1)')

    def camera(self, name: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise ConfigError(f'no camera named {name!r}; configured: {[c.name for c in self.cameras]}')


def _build(cls, data, where: str):
    """Build dataclass ``cls`` from ``data`` strictly: every field required, no unknown keys."""
    if not isinstance(data, dict):
        raise ConfigError(f'{where}: expected a mapping, got {type(data).__name__}')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}')
    missing = sorted(set(fields) - set(data))
    if missing:
        raise ConfigError(f'{where}: missing key(s) {missing}')
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], data[name], f'{where}.{name}') for name in fields}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f'{where}: {e}') from None


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{where}: expected a list, got {value!r}')
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f'{where}[{i}]') for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f'{where}: expected {len(args)} values, got {len(value)}')
        return tuple(_coerce(a, v, f'{where}[{i}]') for i, (a, v) in enumerate(zip(args, value)))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{where}: expected a number, got {value!r}')
        return float(value)
    if tp in (int, bool, str):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f'{where}: expected {tp.__name__}, got {value!r}')
        return value
    raise ConfigError(f'{where}: unsupported config type {tp}')  # pragma: no cover


def config_dir() -> Path:
    """The folder holding the YAMLs: $WORLDSAMPLE_CONFIG_DIR, the source tree, or the installed share."""
    env = os.environ.get('WORLDSAMPLE_CONFIG_DIR')
    if env:
        return Path(env)
    src = Path(__file__).resolve().parents[4] / 'config'
    if src.is_dir():
        return src
    from ament_index_python.packages import get_package_share_directory  # installed layout only
    return Path(get_package_share_directory('worldsample')) / 'config'


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f'{path}: not valid YAML: {e}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: top level must be a mapping')
    return data


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_extending(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A task or robot YAML; ``extends: <other YAML>`` (relative to it) takes that one and
    changes only the keys given here."""
    if path.resolve() in seen:
        raise ConfigError(f'{path}: extends itself (through {[str(p) for p in seen]})')
    data = dict(_read_yaml(path))
    for key in ('robot', 'cameras'):      # relative to the YAML that names them
        if isinstance(data.get(key), str):
            data[key] = str(path.parent / data[key])
    base = data.pop('extends', None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f'{path}: extends must name a YAML file, got {base!r}')
    if not (path.parent / base).is_file():
        raise ConfigError(f'{path}: extends {base!r}, which is not a file ({path.parent / base})')
    return _merge(_read_extending(path.parent / base, (*seen, path.resolve())), data)


def load_config(task: str | os.PathLike = 'insertion') -> CellConfig:
    """Load a task by name (``config/<task>.yaml``) or by path, with its robot and camera YAMLs."""
    path = Path(task)
    if path.suffix not in ('.yaml', '.yml'):
        path = config_dir() / f'{task}.yaml'
    data = _read_extending(path)
    for key, section in (('robot', 'robot'), ('cameras', 'cameras')):
        if key not in data:
            raise ConfigError(f'{path}: missing key {key!r} (name of the {section} YAML)')
        ref = Path(data.pop(key))
        if not ref.is_file():       # named by the task or by a YAML it extends: say which task
            raise ConfigError(f'{path}: its {key} YAML {ref.name!r} is not a file ({ref})')
        loaded = _read_extending(ref)
        if section not in loaded:
            raise ConfigError(f'{ref}: missing top-level key {section!r}')
        data[key] = loaded[section]
    return _build(CellConfig, data, path.name)
