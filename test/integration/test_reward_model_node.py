"""reward_model node over DDS: scores real sim frames; bad images get a clear error, the node lives on."""
import numpy as np
import pytest
from worldsample_msgs.srv import ScoreFrames

from worldsample.core.sim.env import InsertionEnv
from worldsample.core.expert import InsertionExpert
from worldsample.nodes.common import array_to_image

pytestmark = pytest.mark.integration


def _call(node, client, req):
    fut = client.call_async(req)
    assert node.spin_until(fut.done, 20)
    return fut.result()


def test_scores_frames_and_rejects_bad_images(procs, ros_node, model_dir, cfg):
    proc = procs.start('reward_model', 'reward_model', model_dir=str(model_dir))
    client = ros_node.create_client(ScoreFrames, '/reward_model/score')
    assert client.wait_for_service(timeout_sec=30), procs.log('reward_model')

    env = InsertionEnv(cfg)
    expert = InsertionExpert(cfg)
    obs, _ = env.reset(seed=123)
    start = obs
    for _ in range(cfg.task.max_episode_steps):
        obs, _, term, trunc, info = env.step(expert.act(obs['proprio']))
        if term or trunc:
            break
    assert info['success']
    stamp = ros_node.get_clock().now().to_msg()
    img = lambda o, c: array_to_image(o[c], stamp, c)
    req = ScoreFrames.Request(wrist=[img(start, 'wrist_camera'), img(obs, 'wrist_camera')],
                              side=[img(start, 'side_camera'), img(obs, 'side_camera')])
    res = _call(ros_node, client, req)
    assert res.ok, res.message
    assert list(res.success) == [False, True]
    assert res.scores[1] > res.threshold > res.scores[0]

    small = array_to_image(np.zeros((64, 64, 3), np.uint8), stamp, 'wrist_camera')
    res = _call(ros_node, client, ScoreFrames.Request(wrist=[small], side=[img(obs, 'side_camera')]))
    assert not res.ok and 'expected 128x128' in res.message
    mono = img(obs, 'wrist_camera')
    mono.encoding = 'mono8'
    res = _call(ros_node, client, ScoreFrames.Request(wrist=[mono], side=[img(obs, 'side_camera')]))
    assert not res.ok and 'encoding' in res.message
    res = _call(ros_node, client, ScoreFrames.Request(wrist=[], side=[img(obs, 'side_camera')]))
    assert not res.ok and 'equal' in res.message
    assert proc.poll() is None
    env.close()


def test_missing_model_dir_is_reported(procs, tmp_path):
    proc = procs.start('reward_model', 'reward_model', model_dir=str(tmp_path / 'nope'))
    assert proc.wait(timeout=30) != 0
    assert 'lacks encoder.npz' in procs.log('reward_model')


def test_policy_survives_a_reward_model_that_never_answers(procs, ros_node):
    """A service that accepts requests but never replies (its node is not spun): each step
    times out, counts as not successful, and the policy keeps going."""
    import time
    ros_node.create_service(ScoreFrames, '/reward_model/score', lambda req, res: res)   # never spun
    procs.start('sim_node', 'sim')
    procs.start('a1x_controller', 'a1x_controller')
    policy = procs.start('policy_node', 'policy', success_source='reward_model', actor='zero')
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and procs.log('policy').count('did not answer within') < 2:
        time.sleep(0.5)
    assert procs.log('policy').count('did not answer within') >= 2, procs.log('policy')[-2000:]
    assert policy.poll() is None
