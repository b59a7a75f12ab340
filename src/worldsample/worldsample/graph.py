"""The node graph of a WorldSample cell, defined once.

``launch/<task>.launch.py`` turns it into launch_ros ``Node`` actions; ``worldsample.launch_runner``
starts the same entries as processes where ``ros2 launch`` is not installed. Arguments are
strings (as on a ``ros2 launch`` command line) and are validated here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .core.actors import ACTORS
from .core.config import PPL_MODES
from .core.episode import SESSIONS
from .core.observation import CAMERAS

POLICY_ACTORS = (*ACTORS, 'sac')   # sac: the learner's actor, parameters over /learner/actor_params

# name -> (default, description); these are the launch arguments of every task launch file.
ARGUMENTS: dict[str, tuple[str, str]] = {
    'task': ('insertion', 'task config name (config/<task>.yaml) or a YAML path'),
    'backend': ('sim', "'sim' (MuJoCo cell) or 'real' (the Galaxea driver running; cameras: see cameras)"),
    'cameras': ('auto', 'a pyrealsense2 camera node per configured camera (by serial): auto (real backend only), '
                        'true, false (realsense2_camera nodes serve the camera topics instead)'),
    'camera_recordings': ('', 'a folder of <camera>.db3 RealSense recordings the camera nodes play (looped) instead '
                              'of the devices: dry runs and tests of the real graph'),
    'record': ('true', 'record the rollout topics to a rosbag2 (mcap) bag'),
    'bag': ('', 'bag output folder (default runs/bags/<task>_<time>)'),
    'actor': ('expert', f'action source of the policy node: {", ".join(POLICY_ACTORS)} (sac trains online)'),
    'human': ('true', 'run the simulated human (sim backend only)'),
    'aggressiveness': ('0.5', 'how readily the simulated human takes over (0 never .. 1)'),
    'teleop': ('auto', 'SpaceMouse teleop node reading the spacenav node\'s Joy: auto (real backend only), true, false'),
    'joy_topic': ('/spacenav/joy', 'sensor_msgs/Joy topic the teleop node reads'),
    'teleop_device': ('joy', "what the teleop node reads: 'joy' (joy_topic, the spacenav node) or 'hid' (the "
                             'SpaceMouse over USB, no spacenav needed)'),
    'episodes': ('0', 'stop the graph after this many episodes (0 = run until Ctrl-C)'),
    'reward_model': ('', 'reward model folder (train_reward); empty: success from simulator ground truth'),
    'seed': ('0', 'seed of the first episode; episode k uses seed + k'),
    'learner': ('true', 'with actor:=sac, run the learner in this graph (false: it runs elsewhere, e.g. on a GPU)'),
    'demos': ('', 'demo dataset (record_demos .npz) a new learner run starts from'),
    'run_dir': ('runs/learner', 'learner run folder (checkpoint, TensorBoard logs); a restart resumes from it'),
    'world_model': ('', 'world model weights (train_world_model): start counterfactual generation (needs reward_model)'),
    'world_model_size': ('default', 'size the world model weights were trained at: default or tiny'),
    'world_model_workers': ('1', 'generation workers running side by side'),
    'post_train': ('true', 'with world_model, keep training it on the rollouts in the background'),
    'ppl': ('', f'Policy-Paced Learning variant of the learner: {", ".join(PPL_MODES)} (empty: the task YAML\'s)'),
    'collect': ('', "the operator's recording sessions: demos (the operator drives, the success mark ends each "
                    'demonstration; episodes counts successful ones) or labels (success marks label frames for '
                    'the reward classifier); the policy idles, teleop runs, the bag records it'),
    'dry_run': ('false', 'the controller scales every command (and the reset motion) to zero: the whole graph runs '
                         'and the arm holds still (first run on a new cell)'),
}
BACKENDS = ('sim', 'real')


class GraphError(ValueError):
    """Bad launch arguments."""


@dataclass(frozen=True)
class NodeSpec:
    name: str                       # node name
    executable: str                 # console script of the worldsample package
    parameters: dict = field(default_factory=dict)
    exit_ends_graph: bool = False   # this node finishing shuts the whole graph down
    required: bool = True           # this node dying shuts the graph down (else: reported, the rest runs on)
    respawn: bool = False           # restarted after it dies, with a back-off (implies not required)

    def __post_init__(self):
        if self.respawn and self.required:
            raise ValueError(f'node {self.name}: a respawned node cannot be required')


def _bool(name: str, value: str) -> bool:
    if value.lower() in ('true', '1', 'yes', 'on'):
        return True
    if value.lower() in ('false', '0', 'no', 'off'):
        return False
    raise GraphError(f'argument {name}:={value!r} must be true or false')


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise GraphError(f'argument {name}:={value!r} must be an integer') from None


def resolve_arguments(given: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(given) - set(ARGUMENTS))
    if unknown:
        raise GraphError(f'unknown launch argument(s) {unknown}; known: {sorted(ARGUMENTS)}')
    return {k: given.get(k, default) for k, (default, _) in ARGUMENTS.items()}


def build_graph(args: dict[str, str]) -> list[NodeSpec]:
    a = resolve_arguments(args)
    if a['backend'] not in BACKENDS:
        raise GraphError(f"argument backend:={a['backend']!r} must be one of {BACKENDS}")
    if a['actor'] not in POLICY_ACTORS:
        raise GraphError(f"argument actor:={a['actor']!r} must be one of {POLICY_ACTORS}")
    try:
        aggressiveness = float(a['aggressiveness'])
    except ValueError:
        raise GraphError(f"argument aggressiveness:={a['aggressiveness']!r} must be a number") from None
    episodes, seed = _int('episodes', a['episodes']), _int('seed', a['seed'])
    sim = a['backend'] == 'sim'
    collect = a['collect']
    if collect:
        a = _collect_arguments(a)
    task = {'task': a['task']}
    nodes = []
    if sim:
        nodes.append(NodeSpec('sim', 'sim_node', task))
    if (not sim) if a['cameras'] == 'auto' else _bool('cameras', a['cameras']):
        if sim:
            raise GraphError('cameras:=true is for backend:=real (the sim node renders the cameras)')
        recordings = a['camera_recordings']
        nodes += [NodeSpec(f'{c}_node', 'camera', {**task, 'camera': c, 'source': f'{recordings}/{c}.db3'
                                                   if recordings else ''}) for c in CAMERAS]
    nodes.append(NodeSpec('a1x_controller', 'a1x_controller',
                          {**task, 'command_scale': 0.0 if _bool('dry_run', a['dry_run']) else 1.0}))
    if sim and _bool('human', a['human']):
        nodes.append(NodeSpec('sim_human', 'sim_human', {**task, 'aggressiveness': aggressiveness}))
    if (not sim) if a['teleop'] == 'auto' else _bool('teleop', a['teleop']):
        if a['teleop_device'] not in ('joy', 'hid'):
            raise GraphError(f"argument teleop_device:={a['teleop_device']!r} must be joy or hid")
        nodes.append(NodeSpec('teleop', 'teleop', {**task, 'joy_topic': a['joy_topic'], 'device': a['teleop_device']}))
    if not sim and not a['reward_model'] and not collect:
        raise GraphError('backend:=real needs reward_model:=<folder>: there is no ground-truth success '
                         '(or collect:=demos|labels, where the operator marks success)')
    if a['reward_model']:
        # restartable: the policy counts a step without its answer as not successful meanwhile
        nodes.append(NodeSpec('reward_model', 'reward_model', {**task, 'model_dir': a['reward_model']},
                              required=False, respawn=True))
    source = 'operator' if collect else 'reward_model' if a['reward_model'] else 'sim'
    # with a learner (here or elsewhere) the policy spools its transitions for a restarted learner to catch up
    spool = f"{a['run_dir']}/spool" if a['actor'] == 'sac' else ''
    record = _bool('record', a['record'])
    # with a recorder, no episode starts before it subscribed to the transitions: a bag whose
    # first episode lacks its first steps is no demonstration
    nodes.append(NodeSpec('policy', 'policy_node', {**task, 'actor': a['actor'], 'episodes': episodes,
                                                    'seed': seed, 'success_source': source, 'collect': collect,
                                                    'spool_dir': spool, 'recorder': 'recorder' if record else ''},
                          exit_ends_graph=episodes > 0))
    if a['ppl'] and a['ppl'] not in PPL_MODES:
        raise GraphError(f"argument ppl:={a['ppl']!r} must be one of {PPL_MODES}")
    if a['actor'] == 'sac' and _bool('learner', a['learner']):
        # restartable: the policy keeps acting on its last parameters while the learner is down, and
        # a restarted learner resumes from its checkpoint
        nodes.append(NodeSpec('learner', 'learner', {**task, 'run_dir': a['run_dir'], 'demos': a['demos'],
                                                     'seed': seed, 'ppl_mode': a['ppl']}, required=False,
                              respawn=True))
    if a['world_model']:
        if not a['reward_model']:
            raise GraphError('world_model:=... needs reward_model:=<folder>: synthetic frames are labelled by it')
        workers = _int('world_model_workers', a['world_model_workers'])
        if workers < 1:
            raise GraphError(f'argument world_model_workers:={workers} must be at least 1')
        wm = {**task, 'weights': a['world_model'], 'size': a['world_model_size']}
        # restartable: a crashed worker costs synthetic data only
        post_train = _bool('post_train', a['post_train'])
        # without post-training the given weights are all there will be: no warm-up to wait for
        # (the labels are still calibrated on real segments)
        nodes += [NodeSpec(f'world_model_{i}', 'world_model', {**wm, 'seed': seed + i, 'warmup': -1 if post_train else 0},
                           required=False, respawn=True) for i in range(workers)]
        if post_train:
            nodes.append(NodeSpec('world_model_trainer', 'world_model_trainer', {**wm, 'demos': a['demos']},
                                  required=False, respawn=True))
    if record:
        bag = a['bag'] or f'runs/bags/{Path(a["task"]).stem}_{time.strftime("%Y%m%d_%H%M%S")}'   # a name or a YAML
        nodes.append(NodeSpec('recorder', 'recorder', {**task, 'output': bag}))
    return nodes


def _collect_arguments(a: dict[str, str]) -> dict[str, str]:
    """A recording session: the operator drives through teleop, the policy idles (zero actions
    between the operator's), nothing learns, and the operator's mark is the success signal."""
    if a['collect'] not in SESSIONS:
        raise GraphError(f"argument collect:={a['collect']!r} must be one of {[s for s in SESSIONS if s]}")
    # ros2 launch passes every argument, defaults included: only a changed value clashes
    clash = sorted(k for k in ('actor', 'world_model', 'reward_model') if a[k] != ARGUMENTS[k][0])
    if clash:
        raise GraphError(f"collect:={a['collect']} records the operator alone: leave out {clash}")
    if a['teleop'] != 'auto' and not _bool('teleop', a['teleop']):
        raise GraphError(f"collect:={a['collect']} needs the operator's teleop (teleop:=false given)")
    if not _bool('record', a['record']):
        raise GraphError(f"collect:={a['collect']} writes its bag: record:=false makes no sense here")
    return {**a, 'actor': 'zero', 'teleop': 'true', 'human': 'false'}
