from dataclasses import replace

import numpy as np
import pytest
import torch

from worldsample.core.worldmodel.data import (SegmentError, episodes_from_dataset, model_frames, segments,
                                              split_views, training_batch)
from worldsample.core.worldmodel.metrics import psnr
from worldsample.core.worldmodel.model import WorldModel, WorldModelError, ema_decay, native_bf16, sized


@pytest.fixture(scope='module')
def tiny(cfg):
    """The CPU test size: 32 x 32 per view (32 x 64 dual view), 2 x 2 patches, width 32, 0.36M parameters."""
    return replace(sized(cfg.world_model, 'tiny'), batch_size=16, lr=2e-3, ema_decay=0.9)


def _dataset(n_steps, episodes=(0,), size=128, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(e, s) for e in episodes for s in range(n_steps)]
    n = len(rows)
    img = lambda: rng.integers(0, 255, (n, size, size, 3), np.uint8)   # noqa: E731
    return {'wrist': img(), 'side': img(), 'next_wrist': img(), 'next_side': img(),
            'proprio': rng.normal(size=(n, 7)).astype(np.float32), 'next_proprio': rng.normal(size=(n, 7)),
            'action': rng.uniform(-1, 1, (n, 7)).astype(np.float32), 'reward': np.zeros(n, np.float32),
            'terminated': np.zeros(n, bool), 'truncated': np.zeros(n, bool),
            'episode': np.array([r[0] for r in rows]), 'step': np.array([r[1] for r in rows])}


def test_frames_views_and_episodes(tiny):
    data = _dataset(6, episodes=(0, 1))
    keep = np.ones(12, bool)
    keep[9] = False                                       # episode 1 loses step 3: its run splits in two
    data = {k: v[keep] for k, v in data.items()}
    eps = episodes_from_dataset(data, tiny)
    assert [len(e.actions) for e in eps] == [6, 3, 2]
    assert eps[0].frames.shape == (7, 32, 64, 3) and eps[0].frames.dtype == np.uint8
    np.testing.assert_array_equal(eps[0].actions, data['action'][:6])
    np.testing.assert_array_equal(eps[0].proprio[-1], data['next_proprio'][5])
    views = split_views(eps[0].frames, tiny)
    np.testing.assert_array_equal(views['side_camera'][-1], model_frames(
        {'wrist_camera': data['next_wrist'][5:6], 'side_camera': data['next_side'][5:6]}, tiny)[0, :, 32:])
    with pytest.raises(SegmentError, match='missing view'):
        model_frames({'wrist_camera': data['wrist']}, tiny)
    with pytest.raises(SegmentError, match='uint8 frames'):
        model_frames({'wrist_camera': data['wrist'].astype(float), 'side_camera': data['side']}, tiny)
    assert [len(s[1]) for s in segments(eps, 3)] == [3, 3, 3]


def test_training_samples_pad_context_with_the_anchor(tiny):
    eps = episodes_from_dataset(_dataset(10), tiny)
    batch = training_batch(eps, None, 400, tiny, np.random.default_rng(0))
    k = tiny.context_frames
    assert batch['target'].shape == (400, 32, 64, 3) and batch['context'].shape == (400, k, 32, 64, 3)
    assert batch['actions'].shape == (400, k, 7)
    frames, actions = eps[0].frames, eps[0].actions
    for i in range(400):
        t = next(j for j in range(10) if np.array_equal(frames[j + 1], batch['target'][i]))
        s = next(j for j in range(10) if np.array_equal(frames[j], batch['anchor'][i]))
        assert 0 <= t - s < tiny.segment_length
        np.testing.assert_array_equal(batch['actions'][i, -1], actions[t])      # the action that leads to the target
        for c in range(k):
            j = t - k + 1 + c
            np.testing.assert_array_equal(batch['context'][i, c], frames[max(j, s)])
            assert np.all(batch['actions'][i, c] == (actions[j] if j >= s else 0.0))


def test_forward_backward_rollout_shapes_and_safe_weights(tiny, tmp_path):
    wm = WorldModel(tiny, seed=0, device='cpu')
    eps = episodes_from_dataset(_dataset(10), tiny)
    batch = training_batch(eps, None, 4, tiny, np.random.default_rng(0))
    loss = wm.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in wm.net.parameters())
    wm.train_step(batch)
    out = wm.predict({'wrist_camera': np.zeros((2, 128, 128, 3), np.uint8),
                      'side_camera': np.zeros((2, 128, 128, 3), np.uint8)}, np.zeros((2, 3, 7)))
    assert set(out) == {'wrist_camera', 'side_camera'}
    assert out['wrist_camera'].shape == (2, 3, 32, 32, 3) and out['wrist_camera'].dtype == np.uint8
    with pytest.raises(SegmentError, match=r'\(B, T, 7\)'):
        wm.rollout(np.zeros((2, 32, 64, 3), np.uint8), np.zeros((2, 3, 6)))

    wm.rollout_steps = 1
    path = wm.save(tmp_path / 'wm.safetensors')
    back = WorldModel.load(path, tiny, device='cpu')
    assert back.steps == 1 and back.rollout_steps == 1       # the workers' warm-up reads it from the file
    for a, b in zip(wm.ema.state_dict().values(), back.ema.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match='world model weights not found'):
        WorldModel.load(tmp_path / 'none.safetensors', tiny)
    data = path.read_bytes()
    (tmp_path / 'cut.safetensors').write_bytes(data[: len(data) // 2])
    with pytest.raises(WorldModelError, match='not a readable world model file'):
        WorldModel.load(tmp_path / 'cut.safetensors', tiny)
    with pytest.raises(WorldModelError, match='different architecture.*channels'):
        WorldModel.load(path, replace(tiny, channels=(16, 32)))


def test_ema_warm_up_lets_no_initial_weights_linger(tiny):
    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    decays = [ema_decay(0.999, n) for n in range(10_000)]   # reaches 0.999 at n = 8991
    assert all(a <= b <= 0.999 for a, b in zip(decays, decays[1:])) and decays[-1] == 0.999
    assert np.prod(decays[:1500]) < 1e-3          # a constant 0.999 keeps 0.999^1500 = 22% of them
    wm = WorldModel(tiny, seed=0, device='cpu')
    init = [p.clone() for p in wm.ema.parameters()]
    wm.train_step(training_batch(episodes_from_dataset(_dataset(10), tiny), None, 4, tiny, np.random.default_rng(0)))
    for e, p0, p in zip(wm.ema.parameters(), init, wm.net.parameters()):
        torch.testing.assert_close(e, 0.1 * p0 + 0.9 * p)     # first update: decay 0.1


def test_bf16_sampling_where_native_and_close_to_float32(tiny):
    wm = WorldModel(tiny, seed=0, device='cpu')
    assert wm.sample_dtype == (torch.bfloat16 if native_bf16(torch.device('cpu')) else torch.float32)
    assert WorldModel(replace(tiny, sampling_precision='float32'), device='cpu').sample_dtype == torch.float32
    eps = episodes_from_dataset(_dataset(10), tiny)
    rng = np.random.default_rng(0)
    for _ in range(3):
        wm.train_step(training_batch(eps, None, 8, tiny, rng))
    anchors, actions = eps[0].frames[:4], np.random.default_rng(1).uniform(-1, 1, (4, 3, 7))
    out = {}
    for dtype in (torch.float32, torch.bfloat16):       # forced: bf16 autocast also runs (emulated) without AVX512-BF16
        wm.sample_dtype = dtype
        wm.gen.manual_seed(7)
        out[dtype] = wm.rollout(anchors, actions).astype(float)
    diff = np.abs(out[torch.float32] - out[torch.bfloat16])
    assert diff.mean() < 1.0 and diff.max() > 0, (diff.mean(), diff.max())   # uint8 levels; bf16 did run


def test_tiny_model_overfits_a_few_real_segments_beyond_copying_the_anchor(cfg, tiny):
    from worldsample.core.rl.trainer import collect_demos
    from worldsample.core.sim.env import InsertionEnv
    from worldsample.core.worldmodel.data import Episode
    env = InsertionEnv(cfg)
    demos = collect_demos(env, 3, seed=5)
    env.close()
    eps = []
    for ep in demos:
        obs = [s[0] for s in ep] + [ep[-1][3]]
        frames = model_frames({c: np.stack([o[c] for o in obs]) for c in tiny.views}, tiny)
        eps.append(Episode(frames, np.stack([s[1] for s in ep]).astype(np.float32),
                           np.stack([o['proprio'] for o in obs])))
    T = 6
    segs = [(e.frames[:T + 1], e.actions[:T]) for e in eps]
    wm = WorldModel(tiny, seed=0, device='cpu')
    rng = np.random.default_rng(0)
    torch.set_num_threads(2)
    for _ in range(400):
        wm.train_step(training_batch(eps, None, tiny.batch_size, tiny, rng))
    pred = wm.rollout(np.stack([f[0] for f, _ in segs]), np.stack([a for _, a in segs]))
    real = np.stack([f[1:] for f, _ in segs])
    copy = np.repeat(np.stack([f[:1] for f, _ in segs]), T, axis=1)
    model_psnr, copy_psnr = psnr(pred, real), psnr(copy, real)
    assert model_psnr > copy_psnr + 4.0, (model_psnr, copy_psnr)   # measured: 24.4 vs 18.5 dB


def test_metrics_conventions_and_lpips_from_a_local_file_only(tmp_path):
    from worldsample.core.worldmodel.metrics import LPIPS, moving_mask, segment_scores, ssim
    rng = np.random.default_rng(0)
    real = rng.integers(0, 200, (4, 32, 32, 3), np.uint8)
    assert psnr(real[1] + np.uint8(5), real[1]) == pytest.approx(10 * np.log10(255 ** 2 / 25))
    assert ssim(real[1], real[1]) == pytest.approx(1.0) and ssim(real[2], real[1]) < 0.5
    still = np.repeat(real[:1], 4, axis=0)
    still[2:, :8, :8] = 255                                     # only the top-left corner moves
    mask = moving_mask(still)
    assert mask.sum() == 64 and mask[:8, :8].all()
    scores = segment_scores(still[1:], still)                   # perfect prediction of o_1..o_3
    assert len(scores['psnr']) == 3 and scores['ssim'] == pytest.approx([1.0] * 3)
    off = still[1:].copy()
    off[:, 20:, 20:] = 0                                        # error only in the static region
    assert min(segment_scores(off, still)['psnr_moving']) >= 99.0    # moving region still exact

    with pytest.raises(FileNotFoundError, match='AlexNet weight file not found'):
        LPIPS(tmp_path / 'alexnet.pth')
    (tmp_path / 'junk.pth').write_bytes(b'junk')
    with pytest.raises(ValueError, match='not a torchvision AlexNet weight file'):
        LPIPS(tmp_path / 'junk.pth')
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    g = torch.Generator().manual_seed(0)
    state = {f'features.{i}.weight': 0.05 * torch.randn(s, generator=g) for i, s in shapes.items()}
    state |= {f'features.{i}.bias': torch.zeros(s[0]) for i, s in shapes.items()}
    torch.save(state, tmp_path / 'alexnet.pth')    # random weights: checks the wiring, not the reference values
    lpips = LPIPS(tmp_path / 'alexnet.pth')
    big = rng.integers(0, 255, (2, 64, 64, 3), np.uint8)
    d = lpips(big, big[::-1])
    assert d.shape == (2,) and np.all(d > 0) and np.allclose(lpips(big, big), 0.0)


def test_train_and_evaluate_commands(cfg, tmp_path, capsys):
    import json

    from worldsample.commands import evaluate_world_model, record_demos, train_world_model
    record_demos.record('insertion', episodes=8, out=tmp_path / 'demos', seed=0, keep_failures=False)
    data = str(tmp_path / 'demos' / 'demos.npz')
    out = tmp_path / 'wm'
    assert train_world_model.main(['--demos', data, '--rollouts', str(tmp_path / 'demos' / 'bag'), '--steps', '20',
                                   '--size', 'tiny', '--out', str(out), '--device', 'cpu']) == 0
    log = json.loads((out / 'train.json').read_text())
    assert log['total_steps'] == 20 and log['config']['view_size'] == 32
    assert train_world_model.main(['--rollouts', data, '--steps', '5', '--size', 'tiny', '--out', str(out),
                                   '--init', str(out / 'world_model.safetensors'), '--device', 'cpu']) == 0
    assert json.loads((out / 'train.json').read_text())['total_steps'] == 25
    capsys.readouterr()
    assert evaluate_world_model.main([str(out / 'world_model.safetensors'), '--data', data, '--size', 'tiny',
                                      '--device', 'cpu']) == 0
    text = capsys.readouterr().out
    assert 'LPIPS: not computed' in text
    result = json.loads(text.strip().splitlines()[-1])
    for name in ('model', 'copy_last_frame'):
        assert set(result[name]['metrics']) == {'both', 'wrist_camera', 'side_camera'}
        assert result[name]['segments'] >= 4
    assert result['copy_last_frame']['metrics']['both']['psnr_moving'] < result['copy_last_frame']['metrics']['both']['psnr']
    assert evaluate_world_model.main([str(out / 'world_model.safetensors'), '--data', data]) == 2   # default size
    assert 'different architecture' in capsys.readouterr().err
    assert train_world_model.main(['--demos', str(tmp_path / 'none.npz'), '--size', 'tiny']) == 2
    assert 'dataset not found' in capsys.readouterr().err


def test_live_stream_becomes_the_same_episodes_as_the_dataset(tiny):
    from worldsample.core.worldmodel.data import EpisodeAssembler
    data = _dataset(5, episodes=(0, 1))
    for f in ('wrist', 'side'):                                   # a real stream: o_{t+1} of a step is o_t of the next
        data[f][1:5], data[f][6:] = data['next_' + f][:4], data['next_' + f][5:9]
    data['terminated'][4] = True                                  # episode 0 ends; episode 1 is cut by a gap
    keep = np.ones(10, bool)
    keep[8] = False
    data = {k: v[keep] for k, v in data.items()}
    asm = EpisodeAssembler(tiny)
    got = []
    for i in range(len(data['action'])):
        imgs = {'wrist_camera': data['wrist'][i], 'side_camera': data['side'][i]}
        nxt = {'wrist_camera': data['next_wrist'][i], 'side_camera': data['next_side'][i]}
        got += asm.add(int(data['episode'][i]), int(data['step'][i]), imgs, data['proprio'][i], data['action'][i],
                       nxt, data['next_proprio'][i], bool(data['terminated'][i]))
    want = episodes_from_dataset(data, tiny)
    assert [len(e.actions) for e in got] == [5, 3]                # the run after the gap is still open
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.actions, b.actions)


def test_post_training_leaves_the_label_calibrations_held_out_episodes_out(tiny):
    from worldsample.core.worldmodel.training import RolloutEpisodes
    cfg = replace(tiny, label_holdout_every=3)
    stream = RolloutEpisodes(cfg)
    frame = {c: np.zeros((128, 128, 3), np.uint8) for c in ('wrist_camera', 'side_camera')}
    got = []
    for episode in range(7):
        for step in range(2):
            got += stream.add(episode, step, frame, np.zeros(7, np.float32), np.full(7, episode, np.float32), frame,
                              np.zeros(7, np.float32), step == 1)
    assert [int(e.actions[0, 0]) for e in got] == [0, 1, 3, 4, 6]          # episodes 2 and 5 are calibration's
    assert all(len(e.actions) == 2 for e in got)


def test_a_seeds_demos_only_model_is_the_same_start_whether_trained_now_or_cached(cfg, tiny, tmp_path):
    """The benchmark's per-seed cache: the run that trains it starts from the same weights, optimizer
    and sampling noise as every later run that loads it, and the caller's thread count is kept."""
    from test.benchmark.worldsample_learning import demo_world_model
    eps = episodes_from_dataset(_dataset(10), tiny)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first, made = demo_world_model(cfg, tiny, 3, eps, 2, lambda m: None, folder=tmp_path)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    again, loaded = demo_world_model(cfg, tiny, 3, eps, 2, lambda m: None, folder=tmp_path)
    assert made['trained_in_this_run'] and not loaded['trained_in_this_run'] and loaded['train_s'] is None
    assert made['sha256'] == loaded['sha256'] and made['file'].endswith('_1thread.safetensors')
    assert first.steps == again.steps == 2 and not first.opt.state and not again.opt.state
    anchor = {c: np.full((2, 128, 128, 3), 90, np.uint8) for c in ('wrist_camera', 'side_camera')}
    a, b = first.predict(anchor, np.zeros((2, 2, 7))), again.predict(anchor, np.zeros((2, 2, 7)))
    np.testing.assert_array_equal(a['side_camera'], b['side_camera'])
    other = WorldModel.load(tmp_path / cfg.task.name / made['file'], tiny, 'cpu', seed=4)
    assert not np.array_equal(other.predict(anchor, np.zeros((2, 2, 7)))['side_camera'], a['side_camera'])
