"""Actor and learner as separate processes over DDS: a short online training run in the sim cell.

Parameter versions reach the policy, transitions reach the learner, malformed transitions and
parameters are refused by name, a killed learner leaves the policy controlling on its last
parameters, and a restarted learner resumes from its checkpoint.
"""
import json
import signal
import time

import numpy as np
import pytest
from worldsample_msgs.msg import ActorParams, LearnerStats, PolicyStats, Transition

from worldsample.core.rl.learner import Learner
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
from worldsample.nodes.common import LATCHED_QOS, STATE_QOS, SYNTHETIC_QOS, TRANSITION_QOS, array_to_image

pytestmark = pytest.mark.integration


def _collector(node, msg_type, topic, qos):
    got = []
    node.create_subscription(msg_type, topic, got.append, qos)
    return got


def test_a_learner_with_an_empty_catch_up_chunk_is_refused_before_its_start_up(procs, fast_task, tmp_path):
    """catch_up_chunk 0 would never catch up: the learner says so and exits before it loads or compiles."""
    proc = procs.start('learner', 'learner', task=fast_task, run_dir=str(tmp_path / 'run'), catch_up_chunk=0)
    assert proc.wait(timeout=60) == 1
    log = procs.log('learner')
    assert 'catch_up_chunk must be at least 1, got 0' in log, log[-2000:]
    assert 'updates compiled' not in log and not (tmp_path / 'run').exists()


def test_online_training_kill_and_resume(procs, ros_node, fast_task, demos, tmp_path):
    run_dir = tmp_path / 'run'
    learner_params = dict(task=fast_task, run_dir=str(run_dir), publish_every_s=1.0, checkpoint_every_s=2.0)
    procs.start('sim_node', 'sim', task=fast_task)
    procs.start('a1x_controller', 'a1x_controller', task=fast_task)
    procs.start('sim_human', 'sim_human', task=fast_task)
    policy = procs.start('policy_node', 'policy', task=fast_task, actor='sac', seed=3)
    learner = procs.start('learner', 'learner', demos=demos, **learner_params)
    pstats = _collector(ros_node, PolicyStats, '/policy/stats', STATE_QOS)
    lstats = _collector(ros_node, LearnerStats, '/learner/stats', STATE_QOS)

    # parameters flow to the actor, transitions to the learner, and the versions advance
    def trained():
        return (lstats and lstats[-1].received >= 20 and lstats[-1].version > 0 and lstats[-1].checkpointed > 0
                and len({s.params_version for s in pstats if s.params_version > 0}) >= 2)
    assert ros_node.spin_until(trained, 150), procs.log('learner')[-3000:] + procs.log('policy')[-2000:]
    assert 'first actor parameters: v0' in procs.log('policy')     # the untrained actor, sent at start
    assert lstats[-1].online_size == lstats[-1].received
    # the demo buffer holds the 20 demo rows and, copied there, the simulated human's intervened steps
    assert ros_node.spin_until(lambda: lstats[-1].demo_size >= 32, 60), lstats[-1]
    assert lstats[-1].steps_per_s > 0 and lstats[-1].critic_updates_per_s == pytest.approx(
        2 * lstats[-1].steps_per_s, rel=1e-3)
    assert all(np.isfinite([s.critic_loss, s.q_mean, s.temperature]).all() for s in lstats)
    assert all(s.act_ms < 100 for s in pstats)
    assert list((run_dir / 'tensorboard').glob('events.out.tfevents.*'))

    # malformed transitions are refused by name; the learner trains on
    bad_tr = ros_node.create_publisher(Transition, '/worldsample/transitions', TRANSITION_QOS)
    good = np.zeros((128, 128, 3), np.uint8)
    stamp = ros_node.get_clock().now().to_msg()

    def transition(wrist, action):
        return Transition(wrist=array_to_image(wrist, stamp, 'w'), side=array_to_image(good, stamp, 's'),
                          next_wrist=array_to_image(good, stamp, 'w'), next_side=array_to_image(good, stamp, 's'),
                          proprio=[0.0] * 7, next_proprio=[0.0] * 7, action=action, episode=999)
    mono = array_to_image(good, stamp, 'w')
    mono.encoding = 'mono8'
    wrong_encoding = transition(good, [0.0] * 7)
    wrong_encoding.wrist = mono
    for msg in (transition(np.zeros((64, 64, 3), np.uint8), [0.0] * 7), transition(good, [0.0] * 6),
                wrong_encoding):
        bad_tr.publish(msg)
        ros_node.spin_for(2.2)      # the learner logs refusals at most every 2 s
    assert ros_node.spin_until(lambda: lstats[-1].rejected == 3, 20), procs.log('learner')[-2000:]
    log = procs.log('learner')
    assert log.count('(episode 999, step 0) refused') == 3, log[-2000:]
    assert 'image is 64x64, expected 128x128' in log and "encoding 'mono8'" in log and '7 values' in log
    n_updates = lstats[-1].version
    assert ros_node.spin_until(lambda: lstats[-1].version > n_updates, 10)

    # malformed parameters are refused by name; the policy keeps its version
    bad_params = ros_node.create_publisher(ActorParams, '/learner/actor_params', LATCHED_QOS)
    bad_params.publish(ActorParams(version=10**9, obs_dim=71, actor=b'\x00' * 50, encoder=b'junk'))
    assert ros_node.spin_until(lambda: 'actor parameters v1000000000' in procs.log('policy'), 20)
    ros_node.destroy_publisher(bad_params)

    # kill the learner: the policy keeps controlling on its last parameters
    learner.send_signal(signal.SIGKILL)
    learner.wait(timeout=10)
    ros_node.spin_for(1.0)
    n = len(pstats)
    ros_node.spin_for(5.0)
    after = pstats[n:]
    assert len(after) >= 20 and policy.poll() is None, procs.log('policy')[-2000:]
    frozen = {s.params_version for s in after}
    assert len(frozen) == 1 and 10**9 not in frozen
    assert ros_node.spin_until(lambda: any(s.step == 0 for s in pstats[n:]), 30)   # episodes go on

    # restart: it resumes from the checkpoint and broadcasts to the running policy
    meta = json.loads((run_dir / 'checkpoint' / 'meta.json').read_text())
    assert meta['version'] > 0 and meta['received'] >= 20
    procs.start('learner', 'learner', **learner_params)          # no demos: only the checkpoint
    m = len(lstats)
    assert ros_node.spin_until(lambda: len(lstats) > m, 60), procs.log('learner')[-2000:]
    first = lstats[m]
    assert first.version >= meta['version'] and first.received >= meta['received']
    assert f"resumed from {run_dir / 'checkpoint'}: version {meta['version']}" in procs.log('learner')
    assert ros_node.spin_until(lambda: pstats[-1].params_version not in frozen, 30)
    assert policy.poll() is None


def test_bad_checkpoint_and_missing_demos_stop_the_learner_with_a_reason(procs, fast_task, cfg, tmp_path):
    proc = procs.start('learner', 'learner', task=fast_task, run_dir=str(tmp_path / 'empty'))
    assert proc.wait(timeout=60) == 1
    assert 'no checkpoint in' in procs.log('learner') and 'demos:=' in procs.log('learner')

    rng = np.random.default_rng(0)
    frames = {c: rng.integers(0, 255, (40, 128, 128, 3), np.uint8) for c in ('wrist_camera', 'side_camera')}
    from worldsample.core.config import load_config
    folder = Learner(load_config(fast_task), PCAEncoder.fit(frames, EncoderConfig(32, 32))).save(
        tmp_path / 'run' / 'checkpoint')
    data = (folder / 'online.npz').read_bytes()
    (folder / 'online.npz').write_bytes(data[: len(data) // 3])
    proc = procs.start('learner', 'learner2', task=fast_task, run_dir=str(tmp_path / 'run'))
    assert proc.wait(timeout=60) == 1
    assert 'cannot resume from' in procs.log('learner2') and 'online.npz' in procs.log('learner2')


def test_policy_names_a_bad_camera_image_and_goes_on(procs, ros_node):
    from sensor_msgs.msg import Image
    from worldsample_msgs.msg import ArmState
    from worldsample.nodes.common import SENSOR_QOS
    procs.start('policy_node', 'policy', actor='zero')
    wrist = ros_node.create_publisher(Image, '/wrist_camera/color/image_raw', SENSOR_QOS)
    side = ros_node.create_publisher(Image, '/side_camera/color/image_raw', SENSOR_QOS)
    state = ros_node.create_publisher(ArmState, '/a1x_controller/state', STATE_QOS)

    def feed(wrist_shape, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            stamp = ros_node.get_clock().now().to_msg()
            wrist.publish(array_to_image(np.zeros(wrist_shape, np.uint8), stamp, 'w'))
            side.publish(array_to_image(np.zeros((128, 128, 3), np.uint8), stamp, 's'))
            arm = ArmState(proprio=[0.0] * 7)
            arm.header.stamp = stamp                 # the controller stamps its state (the policy checks its age)
            state.publish(arm)
            ros_node.spin_for(0.1)

    deadline = time.monotonic() + 30
    while 'frame is smaller' not in procs.log('policy') and time.monotonic() < deadline:
        feed((96, 128, 3), 1.0)
    assert "wrist_camera: a 128x96 frame is smaller than the policy's 128x128" in procs.log('policy'), procs.log('policy')
    assert 'waiting for /a1x_controller/reset' not in procs.log('policy')
    deadline = time.monotonic() + 30
    # a real camera's 640 x 480 frames: cropped and resized once, so the loop moves on
    while 'waiting for /a1x_controller/reset' not in procs.log('policy') and time.monotonic() < deadline:
        feed((480, 640, 3), 1.0)
    assert 'waiting for /a1x_controller/reset' in procs.log('policy')


def test_a_spool_that_cannot_be_written_is_named_and_the_policy_goes_on(procs, ros_node, tmp_path):
    spool = tmp_path / 'spool'
    (spool / 'episode.txt').mkdir(parents=True)        # every write of the episode number fails
    procs.start('sim_node', 'sim')
    procs.start('a1x_controller', 'a1x_controller')
    policy = procs.start('policy_node', 'policy', actor='expert', spool_dir=str(spool))
    assert ros_node.spin_until(lambda: procs.log('policy').count('SUCCESS') >= 2, 90), procs.log('policy')
    assert policy.poll() is None
    assert 'spool not written' in procs.log('policy')


def test_a_sigkilled_learner_recovers_every_transition_it_had_received(procs, ros_node, fast_task, demos, tmp_path):
    from rclpy.serialization import deserialize_message
    from worldsample.core.recording.transition_log import TransitionLog
    from worldsample.core.rl.synthetic import RECORD_MAGIC, from_record
    run_dir = tmp_path / 'run'
    cache = tmp_path / 'jax'
    params = dict(task=fast_task, run_dir=str(run_dir), checkpoint_every_s=1000.0, stats_every_s=0.5,
                  compile_cache=str(cache))
    learner = procs.start('learner', 'learner', demos=demos, **params)
    lstats = _collector(ros_node, LearnerStats, '/learner/stats', STATE_QOS)
    pub = ros_node.create_publisher(Transition, '/worldsample/transitions', TRANSITION_QOS)
    rng = np.random.default_rng(0)
    stamp = ros_node.get_clock().now().to_msg()

    def send(episode, steps):
        for step in steps:
            img = [array_to_image(rng.integers(0, 255, (128, 128, 3), np.uint8), stamp, c) for c in 'wsWS']
            pub.publish(Transition(wrist=img[0], side=img[1], next_wrist=img[2], next_side=img[3],
                                   proprio=[0.3, 0.0, 0.1, 0, 0, 0, 0.01], next_proprio=[0.3, 0.0, 0.1, 0, 0, 0, 0.01],
                                   action=[0.1] * 7, episode=episode, step=step))
            ros_node.spin_for(0.05)

    syn = ros_node.create_publisher(Transition, '/worldsample/synthetic_transitions', SYNTHETIC_QOS)

    def send_synthetic(traj, steps, accepted):
        for step in range(steps):
            img = [array_to_image(rng.integers(0, 255, (128, 128, 3), np.uint8), stamp, c) for c in 'wsWS']
            last = step == steps - 1
            syn.publish(Transition(origin=Transition.ORIGIN_SYNTHETIC, episode=traj, step=step, wrist=img[0],
                                   side=img[1], next_wrist=img[2], next_side=img[3],
                                   proprio=[0.3, 0.0, 0.1, 0, 0, 0, 0.01], next_proprio=[0.3, 0.0, 0.1, 0, 0, 0, 0.01],
                                   action=[0.1] * 7, reward=float(last and accepted), terminated=last and accepted,
                                   truncated=last and not accepted))
            ros_node.spin_for(0.05)

    assert ros_node.spin_until(lambda: lstats and pub.get_subscription_count() > 0
                               and syn.get_subscription_count() > 0, 90), procs.log('learner')
    send(5, range(30))
    send_synthetic(900, 3, accepted=True)
    send_synthetic(901, 2, accepted=False)
    assert ros_node.spin_until(lambda: lstats[-1].received == 30 and lstats[-1].durable == 30
                               and lstats[-1].synthetic_trajectories == 2, 30), lstats[-1]
    # both updates were compiled on start, into the cache the restarts below load them from
    assert {p.name.split('-')[0] for p in cache.iterdir()} >= {'jit_update', 'jit_update_ppl'}
    assert (lstats[-1].syn_positive_size, lstats[-1].syn_negative_size) == (3, 2)
    assert lstats[-1].checkpointed == 0                        # none of them is in a checkpoint yet
    learner.send_signal(signal.SIGKILL)
    learner.wait(timeout=10)
    logs = sorted(run_dir.glob('transitions_*.log'))
    records = list(TransitionLog(logs[-1]).read())
    real = [r for r in records if not r.startswith(RECORD_MAGIC)]
    assert [(m.episode, m.step) for m in (deserialize_message(p, Transition) for p in real)] == [
        (5, s) for s in range(30)]
    # each synthetic trajectory is one record of its embedded rows
    assert [len(from_record(r).success) for r in records if r.startswith(RECORD_MAGIC)] == [3, 2]
    with open(logs[-1], 'ab') as f:                            # the kill came in the middle of a write
        f.write(b'\x00\x00\x04\x00partial')

    lstats.clear()
    procs.start('learner', 'learner2', **params)               # no demos: checkpoint + log
    assert ros_node.spin_until(lambda: lstats, 90), procs.log('learner2')
    assert lstats[-1].received == 30 and lstats[-1].recovered == 30 and lstats[-1].online_size == 30, lstats[-1]
    assert lstats[-1].synthetic_recovered == 2 and lstats[-1].synthetic_trajectories == 0
    assert (lstats[-1].syn_positive_size, lstats[-1].syn_negative_size) == (3, 2)
    log = procs.log('learner2')
    assert 'recovered 30 transitions and 2 synthetic trajectories from the transition log' in log and 'cut off' in log
    send(6, range(5))
    assert ros_node.spin_until(lambda: lstats[-1].received == 35 and lstats[-1].durable == 35, 30), lstats[-1]
    assert procs.interrupt('learner2') == 0                    # a clean stop: checkpoint, new log generation
    lstats.clear()
    procs.start('learner', 'learner3', **params)
    assert ros_node.spin_until(lambda: lstats, 90), procs.log('learner3')
    assert lstats[-1].received == 35 and lstats[-1].recovered == 0 and lstats[-1].checkpointed == 35
    assert lstats[-1].synthetic_recovered == 0 and (lstats[-1].syn_positive_size, lstats[-1].syn_negative_size) == (3, 2)
    assert len(list(run_dir.glob('transitions_*.log'))) == 1


def test_a_restarted_learner_holds_every_transition_the_policy_published(procs, ros_node, fast_task, demos, tmp_path):
    """SIGKILL mid-run: the transitions received before come back from the learner's log, those
    published while it was down from the policy's spool; compared with the bag by episode and step."""
    from rclpy.serialization import deserialize_message
    from worldsample.core.recording.bag import read_messages
    from worldsample.core.recording.transition_log import read_records
    run_dir, bag = tmp_path / 'run', tmp_path / 'bag'
    params = dict(task=fast_task, run_dir=str(run_dir), checkpoint_every_s=1000.0, stats_every_s=0.5)
    procs.start('sim_node', 'sim', task=fast_task)
    procs.start('a1x_controller', 'a1x_controller', task=fast_task)
    procs.start('recorder', 'recorder', task=fast_task, output=str(bag))
    learner = procs.start('learner', 'learner', demos=demos, **params)
    lstats = _collector(ros_node, LearnerStats, '/learner/stats', STATE_QOS)
    assert ros_node.spin_until(lambda: lstats, 90), procs.log('learner')
    policy = procs.start('policy_node', 'policy', task=fast_task, actor='expert', spool_dir=str(tmp_path / 'spool'))
    assert ros_node.spin_until(lambda: lstats[-1].received >= 15, 90), procs.log('policy')
    learner.send_signal(signal.SIGKILL)
    learner.wait(timeout=10)
    ros_node.spin_for(4.0)                                      # ~40 transitions published meanwhile
    lstats.clear()
    procs.start('learner', 'learner2', catch_up_chunk=10, **params)
    # the first learner's start-up request found nothing spooled; the restarted one's re-sends the
    # gap, ten at a time, each chunk asked for once the one before has come
    assert ros_node.spin_until(lambda: lstats and lstats[-1].caught_up >= 20 and not lstats[-1].catching_up, 180), \
        procs.log('learner2')
    assert procs.log('policy').count('10 of the') >= 2, procs.log('policy')
    policy.send_signal(signal.SIGINT)
    assert policy.wait(timeout=30) == 0
    # the policy restarted on its spool folder (a cell restart) numbers its episodes on, so the
    # learner, which holds the first run's ids, takes the new ones rather than skip them as repeats
    ros_node.spin_for(2.0)
    before = lstats[-1].received
    policy = procs.start('policy_node', 'policy', task=fast_task, actor='expert', spool_dir=str(tmp_path / 'spool'))
    assert ros_node.spin_until(lambda: lstats[-1].received >= before + 10, 90), procs.log('policy')
    policy.send_signal(signal.SIGINT)
    assert policy.wait(timeout=30) == 0
    ros_node.spin_for(3.0)
    procs.procs['recorder'].send_signal(signal.SIGINT)
    procs.procs['recorder'].wait(timeout=30)
    ids = [(m.episode, m.step) for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    published = set(ids)
    assert len(ids) == len(published), 'the restarted policy repeated ids'
    held = [(t.episode, t.step) for log in sorted(run_dir.glob('transitions_*.log'))
            for t in (deserialize_message(p, Transition) for p in read_records(log))]
    assert len(held) == len(set(held)), 'a transition was stored twice'
    assert len(published) > 50 and published <= set(held), sorted(published - set(held))[:10]
    log = procs.log('learner2')
    assert 'catching up from episode' in log and lstats[-1].recovered >= 15
    assert lstats[-1].received == len(held)
