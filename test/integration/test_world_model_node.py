"""world_model node in the running sim cell: it turns the policy's real segments into labelled
synthetic transitions and picks up the weights that world_model_trainer post-trains on the same
rollouts; killing it disturbs neither control nor the learner; bad weights are named; with
policy counterfactuals the broadcast actor chooses the actions, and a bad broadcast is refused."""
import signal
import time

import jax
import numpy as np
import pytest
import yaml
from flax import serialization
from worldsample_msgs.msg import ActorParams, LearnerStats, PolicyStats, Transition

from worldsample.core.config import config_dir, load_config
from worldsample.core.rl import sac
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
from worldsample.core.worldmodel.model import WorldModel, sized
from worldsample.nodes.common import (LATCHED_QOS, PARAMS_TOPIC, STATE_QOS, SYNTHETIC_QOS, TRANSITION_QOS,
                                      array_to_image)

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def tiny_weights(tmp_path_factory):
    """Untrained tiny weights: the node's plumbing does not depend on fidelity."""
    cfg = sized(load_config('insertion').world_model, 'tiny')
    return WorldModel(cfg, seed=0, device='cpu').save(tmp_path_factory.mktemp('wm') / 'world_model.safetensors')


def test_generates_labelled_counterfactuals_and_dies_alone(procs, ros_node, model_dir, tiny_weights, fast_task, demos,
                                                           tmp_path):
    procs.start('sim_node', 'sim')
    procs.start('a1x_controller', 'a1x_controller')
    policy = procs.start('policy_node', 'policy', actor='expert')
    learner = procs.start('learner', 'learner', task=fast_task, demos=demos, run_dir=str(tmp_path / 'run'))
    procs.start('reward_model', 'reward_model', model_dir=str(model_dir))
    weights = tmp_path / 'world_model.safetensors'
    weights.write_bytes(tiny_weights.read_bytes())
    worker = procs.start('world_model', 'world_model', weights=str(weights), size='tiny', threads=1, reload_every_s=2.0,
                         warmup=3, calibrate_every_s=600.0)
    # asynchronous post-training on the same rollouts, writing the weights file the worker watches
    procs.start('world_model_trainer', 'world_model_trainer', weights=str(weights), size='tiny', threads=1,
                save_every_s=5.0)
    synthetic, pstats, lstats = [], [], []
    ros_node.create_subscription(Transition, '/worldsample/synthetic_transitions', synthetic.append, SYNTHETIC_QOS)
    ros_node.create_subscription(PolicyStats, '/policy/stats', pstats.append, STATE_QOS)
    ros_node.create_subscription(LearnerStats, '/learner/stats', lstats.append, STATE_QOS)

    k = load_config('insertion').world_model.counterfactuals

    def trajectories():
        """Synthetic trajectories received whole (a trajectory published while this probe was still
        being discovered can lack its first steps: volatile DDS delivers only after matching)."""
        by_id = {}
        for m in synthetic:
            by_id.setdefault(m.episode, []).append(m)
        return [t for t in by_id.values() if t[0].step == 0 and (t[-1].terminated or t[-1].truncated)]
    assert ros_node.spin_until(lambda: len(trajectories()) >= 2 * k, 150), procs.log('world_model')[-3000:]
    assert all(m.origin == Transition.ORIGIN_SYNTHETIC for m in synthetic)
    for steps in trajectories():
        assert [m.step for m in steps] == list(range(len(steps)))     # contiguous, in order
        assert all(not (m.terminated or m.truncated) for m in steps[:-1])
        assert steps[-1].terminated != steps[-1].truncated
        assert all(m.reward == float(m.terminated) == float(m.success) for m in steps)
        for m in steps:
            assert (m.wrist.height, m.wrist.width, m.wrist.encoding) == (128, 128, 'rgb8')
            assert len(m.action) == 7 and np.all(np.asarray(m.action)[3:] == 0.0) and len(m.next_proprio) == 7
        for a, b in zip(steps, steps[1:]):
            np.testing.assert_array_equal(a.next_proprio, b.proprio)        # one trajectory, chained
    log = procs.log('world_model')
    assert 'counterfactuals' in log and 'generating after 3 post-training updates on rollouts (the weights have 0)' in log
    assert 'labels calibrated on' in log        # before its first batch, on replays of real segments
    assert ros_node.spin_until(lambda: 'loaded new world model weights' in procs.log('world_model'), 120), (
        procs.log('world_model_trainer')[-2000:])                  # picked up without a restart

    # the learner stores whole trajectories and PPL puts them into critic updates, counted
    def used():
        return lstats and lstats[-1].synthetic_used > 0 and lstats[-1].synthetic_trajectories >= k
    t0 = time.monotonic()
    assert ros_node.spin_until(used, 300), procs.log('learner')[-3000:]
    print(f'first synthetic rows in critic updates after {time.monotonic() - t0:.0f} s')
    st = lstats[-1]
    assert st.syn_positive_size + st.syn_negative_size >= k and st.synthetic_per_update > 0
    # rho_max = 0.3 as LearnerStats' float32 field carries it (0.30000001 once rho reaches it)
    assert 0 < st.rho <= np.float32(0.3) and np.isfinite([st.q_real, st.entropy_ema, st.positive_share]).all()
    assert st.synthetic_rejected == 0
    assert ros_node.spin_until(lambda: 'synthetic +' in procs.log('learner'), 15)    # logged every 10 s
    # the control loop's periods while the learner keeps training on synthetic rows
    n_used = len(pstats)
    assert ros_node.spin_until(lambda: len([x for x in pstats[n_used:] if x.period_ms > 0]) >= 20, 90)
    during = [abs(x.period_ms - 100.0) for x in pstats[n_used:] if x.period_ms > 0]
    assert len(during) >= 20 and np.percentile(during, 90) < 20.0          # control keeps its 10 Hz

    # malformed synthetic transitions are refused by name; training goes on
    bad = ros_node.create_publisher(Transition, '/worldsample/synthetic_transitions', SYNTHETIC_QOS)
    stamp = ros_node.get_clock().now().to_msg()
    img = array_to_image(np.zeros((128, 128, 3), np.uint8), stamp, 'w')
    pose = [0.33, 0.0, 0.17, 0.0, 0.0, 0.0, 0.01]

    def synthetic_msg(step=0, wrist=img, origin=Transition.ORIGIN_SYNTHETIC):
        return Transition(origin=origin, episode=4242, step=step, wrist=wrist, side=img, next_wrist=img,
                          next_side=img, proprio=pose, next_proprio=pose, action=[0.0] * 7)
    rejected, version = lstats[-1].synthetic_rejected, lstats[-1].version
    small = array_to_image(np.zeros((64, 64, 3), np.uint8), stamp, 'w')
    bad_msgs = (synthetic_msg(step=3), synthetic_msg(wrist=small), synthetic_msg(origin=Transition.ORIGIN_REAL))
    for i, msg in enumerate(bad_msgs):
        bad.publish(msg)
        assert ros_node.spin_until(lambda: lstats[-1].synthetic_rejected == rejected + i + 1, 20), (
            procs.log('learner')[-2000:])
        ros_node.spin_for(2.2)      # the learner logs refusals at most every 2 s
    log = procs.log('learner')
    assert 'step 3 of trajectory 4242 out of order (expected 0)' in log
    assert 'image is 64x64, expected 128x128' in log and 'origin 0 on the synthetic stream' in log
    assert ros_node.spin_until(lambda: lstats[-1].version > version, 10) and learner.poll() is None

    # kill the worker: control and learning go on untouched
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    n, m = len(pstats), len(lstats)
    ros_node.spin_for(6.0)
    after = pstats[n:]
    assert len(after) >= 20, procs.log("policy")[-2000:]     # about half the time is resets
    assert np.percentile([abs(s.period_ms - 100.0) for s in after if s.period_ms > 0], 90) < 20.0
    assert lstats[-1].version > lstats[m].version and lstats[-1].received > lstats[m].received
    assert policy.poll() is None and learner.poll() is None


def test_missing_and_corrupt_weights_are_named(procs, tmp_path, tiny_weights):
    proc = procs.start('world_model', 'world_model', weights=str(tmp_path / 'none.safetensors'), size='tiny')
    assert proc.wait(timeout=60) == 1
    assert 'world model weights not found' in procs.log('world_model')
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(tiny_weights.read_bytes()[:1000])
    proc = procs.start('world_model', 'world_model2', weights=str(cut), size='tiny')
    assert proc.wait(timeout=60) == 1
    assert 'not a readable world model file' in procs.log('world_model2')
    proc = procs.start('world_model', 'world_model3', weights=str(tiny_weights))      # default size: mismatch
    assert proc.wait(timeout=60) == 1
    assert 'different architecture' in procs.log('world_model3')


def _constant_actor(cfg, encoder, value: float, version: int) -> ActorParams:
    """A broadcast whose actor's every active action is ``value`` (zero weights, a bias of
    atanh(value), log-std at its floor): its counterfactuals can be told by their actions."""
    state = sac.create(cfg.agent, encoder.out_dim + 7, cfg.task.action.active, jax.random.PRNGKey(0))
    params = jax.tree_util.tree_map(np.zeros_like, state.actor)
    params['Dense_0']['bias'] = np.full_like(params['Dense_0']['bias'], np.arctanh(value))
    params['Dense_1']['bias'] = np.full_like(params['Dense_1']['bias'], -20.0)
    return ActorParams(version=version, obs_dim=encoder.out_dim + 7, actor=serialization.to_bytes(params),
                       encoder=encoder.to_bytes())


def test_policy_counterfactuals_take_the_broadcast_actor_and_gated_segments_wait_for_the_episode_end(
        procs, ros_node, model_dir, tiny_weights, tmp_path):
    data = yaml.safe_load((config_dir() / 'insertion.yaml').read_text())
    data['robot'], data['cameras'] = (str(config_dir() / data[k]) for k in ('robot', 'cameras'))
    data['world_model'].update(counterfactual_actions='policy', success_pose_gate=True)
    task = tmp_path / 'policy_actions.yaml'
    task.write_text(yaml.safe_dump(data))
    cfg = load_config(str(task))
    procs.start('reward_model', 'reward_model', model_dir=str(model_dir))
    worker = procs.start('world_model', 'world_model', weights=str(tiny_weights), size='tiny', task=str(task),
                         threads=1, warmup=0)
    synthetic = []
    ros_node.create_subscription(Transition, '/worldsample/synthetic_transitions', synthetic.append, SYNTHETIC_QOS)
    real = ros_node.create_publisher(Transition, '/worldsample/transitions', TRANSITION_QOS)
    params = ros_node.create_publisher(ActorParams, PARAMS_TOPIC, LATCHED_QOS)
    assert ros_node.spin_until(lambda: real.get_subscription_count() > 0, 60), procs.log('world_model')[-2000:]
    rng = np.random.default_rng(0)
    stamp = ros_node.get_clock().now().to_msg()
    frames = [array_to_image(rng.integers(0, 255, (128, 128, 3), np.uint8), stamp, 'c') for _ in range(10)]
    logged = [-0.3, 0.2, -0.1, 0.0, 0.0, 0.0, 0.0]
    T, k = cfg.world_model.segment_length, cfg.world_model.counterfactuals

    def episode(n: int, steps: range | None = None, end: bool = True) -> None:
        """Steps (default: T, one segment) of episode ``n`` with the logged action ``logged``, the last
        one its end (``end``)."""
        pose = [0.33, 0.0, 0.17, 0.0, 0.0, 0.0, 0.01]
        steps = steps or range(T)
        for t in steps:
            real.publish(Transition(origin=Transition.ORIGIN_REAL, episode=n, step=t, wrist=frames[t], side=frames[t],
                                    next_wrist=frames[t + 1], next_side=frames[t + 1], proprio=pose,
                                    next_proprio=pose, action=logged, truncated=end and t == steps[-1]))

    def actions_of_new(since: int) -> np.ndarray:
        assert ros_node.spin_until(lambda: sum(m.terminated or m.truncated for m in synthetic[since:]) >= k, 120), (
            procs.log('world_model')[-3000:])
        return np.array([m.action for m in synthetic[since:]])
    episode(1)            # no actor yet: the segment is let go, counted
    assert ros_node.spin_until(lambda: 'waiting for actor parameters' in procs.log('world_model'), 60)
    assert 'segments let go so far' in procs.log('world_model') and not synthetic
    params.publish(ActorParams(version=7, obs_dim=71, actor=b'\x00' * 50, encoder=b'junk'))     # refused by name
    ros_node.spin_for(1.0)
    episode(2)
    assert ros_node.spin_until(lambda: 'actor parameters v7' in procs.log('world_model'), 60), (
        procs.log('world_model')[-2000:])
    assert 'keeping actor version none' in procs.log('world_model') and not synthetic and worker.poll() is None
    encoder = PCAEncoder.fit({c: rng.integers(0, 255, (40, 32, 32, 3), np.uint8) for c in ('wrist_camera',
                             'side_camera')}, EncoderConfig(cfg.train.encoder_size, cfg.train.encoder_dim))
    active = np.asarray(cfg.task.action.active)
    for version, value in ((1, 0.6), (2, -0.4)):          # each counterfactual acts as the newest actor does
        params.publish(_constant_actor(cfg, encoder, value, version))
        ros_node.spin_for(1.0)
        since = len(synthetic)
        if version == 1:     # success_pose_gate: the segment waits for its episode's end, which tells the goal
            episode(3, end=False)
            ros_node.spin_for(4.0)
            assert len(synthetic) == since, 'generated before the episode ended'
            episode(3, range(T, T + 1))
        else:
            episode(4)
        acts = actions_of_new(since)
        np.testing.assert_allclose(acts[:, active], value, atol=1e-3)
        assert np.all(acts[:, ~active] == 0.0)
    assert 'counterfactual actions from the actor, v1' in procs.log('world_model') and worker.poll() is None


def test_generation_service_predicts_frames_and_names_bad_requests(procs, ros_node, tiny_weights):
    from worldsample_msgs.srv import PredictFrames
    worker = procs.start('world_model', 'world_model', weights=str(tiny_weights), size='tiny', threads=1)
    client = ros_node.create_client(PredictFrames, '/world_model/predict')
    assert ros_node.spin_until(client.service_is_ready, 60), procs.log('world_model')[-2000:]
    stamp = ros_node.get_clock().now().to_msg()
    rng = np.random.default_rng(0)
    frame = array_to_image(rng.integers(0, 255, (128, 128, 3), np.uint8), stamp, 'w')

    def ask(wrist=frame, actions=(0.5, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0) * 3):
        future = client.call_async(PredictFrames.Request(wrist=wrist, side=frame, actions=list(actions)))
        assert ros_node.spin_until(future.done, 60), procs.log('world_model')[-2000:]
        return future.result()
    ok = ask()
    assert ok.ok and len(ok.wrist) == len(ok.side) == 3
    assert all((m.height, m.width, m.encoding) == (128, 128, 'rgb8') for m in ok.wrist + ok.side)
    for kwargs, why in (({'actions': [0.0] * 13}, 'T x 7'), ({'actions': []}, 'T x 7'),
                        ({'actions': [float('nan')] * 7}, 'NaN'), ({'actions': [0.0] * 7 * 65}, 'at most 64'),
                        ({'wrist': array_to_image(np.zeros((64, 64, 3), np.uint8), stamp, 'w')}, 'image is 64x64')):
        bad = ask(**kwargs)
        assert not bad.ok and why in bad.message and not bad.wrist, (why, bad.message)
    assert ask().ok and worker.poll() is None                     # still serving after the refusals
