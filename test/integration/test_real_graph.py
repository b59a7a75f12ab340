"""backend:=real brought up without hardware: the sim node serving only the vendor's arm topics
stands in for Galaxea's driver, and the camera nodes play RealSense recordings the test makes
through software devices, at a resolution other than the policy's."""
import re
import time

import numpy as np
import pytest

from test.software_camera import SoftwareCamera
from worldsample.core.images import decode_rgb
from worldsample.core.observation import CAMERAS
from worldsample.core.recording.bag import read_messages, topic_summary

from .conftest import run_launch

pytestmark = pytest.mark.integration


def test_the_real_graph_runs_an_episode_against_a_stand_in_driver_and_recorded_cameras(procs, tmp_path, model_dir):
    recordings = tmp_path / 'cameras'
    recordings.mkdir()
    rng = np.random.default_rng(0)
    for cam in CAMERAS:          # 192 x 144 colour at 10 fps: cropped to 144 x 144, resized to 128 x 128
        sc = SoftwareCamera(192, 144, fps=10, record_to=recordings / f'{cam}.db3')
        for i in range(10):
            sc.inject(rng.integers(0, 256, (144, 192, 3), np.uint8), 1000.0 + 100.0 * i, i)
            sc.queue.wait_for_frame(1000)
            time.sleep(0.1)
        sc.close()
    procs.start('sim_node', 'sim', cameras=False)        # the arm driver's topics, no cameras
    bag = tmp_path / 'bag'
    code, out = run_launch(['backend:=real', f'reward_model:={model_dir}', f'camera_recordings:={recordings}',
                            'teleop:=false', 'episodes:=1', f'bag:={bag}', 'actor:=expert'], timeout=240)
    assert code == 0, out[-3000:]
    assert 'wrist_camera: streaming 192x144 from recording' in out and 'side_camera: streaming 192x144' in out
    episode = re.search(r'episode 0: (SUCCESS|failure) after (\d+) steps', out)
    assert episode, out[-3000:]
    steps = int(episode.group(2))

    summary = topic_summary(bag)
    # every step's transition reached the bag (the last may be cut off: the graph stops once the
    # policy has published it)
    assert steps - 1 <= summary['/worldsample/transitions'][1] <= steps
    transitions = [m for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    # the policy saw (and the transitions carry) the camera frames cropped and resized once
    assert decode_rgb(transitions[0].wrist).shape == (128, 128, 3)
    raw = next(m for _, _, _, m in read_messages(bag, ['/wrist_camera/color/image_raw']))
    assert (raw.width, raw.height) == (192, 144)
    # the controller drove the stand-in driver: the expert moved the arm down towards the hole
    z = [t.proprio[2] for t in transitions]
    assert z[0] - min(z) > 0.03, z
