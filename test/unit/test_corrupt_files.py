"""Every file the stack reads back, damaged at random (hypothesis): truncated, bytes overwritten,
or replaced by garbage. Each loader either still reads a valid file or raises its own error (a
ValueError family, BagError for bags) naming the file; never a bare zip, msgpack, struct,
YAML or Unicode error from the layer below."""
import shutil
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldsample.core.config import config_dir, load_config
from worldsample.core.recording.bag import BagError, BagWriter, read_messages
from worldsample.core.recording.dataset import FIELDS, load_dataset, save_dataset
from worldsample.core.recording.transition_log import TransitionLog
from worldsample.core.reward.classifier import ClassifierHead, RewardModel
from worldsample.core.rl.learner import Learner
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
from worldsample.core.worldmodel.model import WorldModel, sized

CAMS = ('wrist_camera', 'side_camera')


def _encoder():
    rng = np.random.default_rng(0)
    return PCAEncoder.fit({c: rng.integers(0, 255, (12, 128, 128, 3), np.uint8) for c in CAMS}, EncoderConfig(4, 2))


@pytest.fixture(scope='module')
def originals(cfg, tmp_path_factory):
    """One valid file (or folder) of each kind, and how to read it back."""
    root = tmp_path_factory.mktemp('originals')
    small = replace(cfg, agent=replace(cfg.agent, hidden=(16, 16), batch_size=8),
                    train=replace(cfg.train, online_capacity=20, demo_capacity=20))
    tiny = sized(cfg.world_model, 'tiny')
    save_dataset({k: np.zeros((3, 2), np.float32) for k in FIELDS}, root / 'demos.npz')
    for name in ('insertion.yaml', 'robot_a1x.yaml', 'cameras_d435i.yaml'):
        shutil.copy(config_dir() / name, root / name)
    WorldModel(tiny, seed=0, device='cpu').save(root / 'world_model.safetensors')
    log = TransitionLog(root / 'transitions_0.log')
    for i in range(4):
        log.append(bytes([i]) * 300)
    log.close()
    Learner(small, _encoder(), seed=0).save(root / 'checkpoint')
    encoder = _encoder()
    params = ClassifierHead().init(jax.random.PRNGKey(0), jnp.zeros((1, encoder.out_dim)))['params']
    RewardModel(encoder, params, 0.7).save(root / 'reward_model')
    with BagWriter(root / 'bag') as w:
        w.add_topic('/chatter', 'std_msgs/msg/String')
        for i in range(5):
            w.write('/chatter', i, w.typestore.types['std_msgs/msg/String'](data='hi' * i))
    return root, {
        'dataset': ('demos.npz', lambda p: load_dataset(p)),
        'task yaml': ('insertion.yaml', lambda p: load_config(p)),
        'world model weights': ('world_model.safetensors', lambda p: WorldModel.load(p, tiny, 'cpu')),
        'transition log': ('transitions_0.log', lambda p: list(TransitionLog(p).read(0))),
        'learner checkpoint': ('checkpoint', lambda p: Learner.resume(small, p)),
        'reward model': ('reward_model', lambda p: RewardModel.load(p)),
        'bag': ('bag', lambda p: list(read_messages(p))),
    }


def _damage(path: Path, how: str, where: float, data: bytes) -> None:
    raw = path.read_bytes()
    at = int(where * len(raw))
    if how == 'truncate':
        path.write_bytes(raw[:at])
    elif how == 'overwrite':
        path.write_bytes(raw[:at] + data + raw[at + len(data):])
    else:
        path.write_bytes(data)


@settings(max_examples=140, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(['dataset', 'task yaml', 'world model weights', 'transition log', 'learner checkpoint',
                             'reward model', 'bag']),
       pick=st.integers(0, 100), how=st.sampled_from(['truncate', 'overwrite', 'garbage']),
       where=st.floats(0.0, 1.0), data=st.binary(min_size=1, max_size=64))
def test_a_damaged_file_is_read_or_refused_by_name(originals, tmp_path_factory, kind, pick, how, where, data):
    root, kinds = originals
    name, read = kinds[kind]
    work = tmp_path_factory.mktemp('damaged')
    for item in root.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, work / item.name)
    target = work / name
    files = sorted(p for p in target.rglob('*') if p.is_file()) if target.is_dir() else [target]
    victim = files[pick % len(files)]
    _damage(victim, how, where, data)
    try:
        read(target)
    except (ValueError, BagError) as e:
        assert name in str(e), f'{kind}: {type(e).__name__} does not name {name}: {e}'
    # anything else (zipfile.BadZipFile, EOFError, msgpack or struct errors, ...) fails the test
