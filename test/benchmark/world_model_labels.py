"""Can the reward model trust a world model's frames? (the question behind every synthetic label)

    ./ws bench world_model_labels [--wm-size tiny|default] [--wm-steps N] [--wm-reuse] [--task insertion_vision]
                                  [--rollout-noise SIGMA ...] [--rollout-human SIGMA ...] [--intervened-weight W]
                                  [--reward-episodes] [--resample R] [--reward-encoder SIZE DIM]

On held-out noisy-expert segments of the task (aligned to each episode's end, so a successful
episode's success step lies in its last segment), every segment gets K counterfactual action
sequences (``perturb_actions``, the generator's own perturbation). The same sequences are
rendered three ways: by the simulator replaying them from the segment's saved state (the oracle,
which gives the ground truth ``success`` of every step), and by two learned world models from the
segment's real o_0 — one trained on the scripted demos alone (what a run starts from), one
trained on demos and then post-trained on demos + noisy rollouts (what post-training during a run
aims at); their weights are kept under ``runs/bench_world_model_labels/`` (``--wm-reuse`` measures
those of an earlier run of the same size and steps instead of training again). ``--rollout-noise``
(repeatable) post-trains one model per noise level, each from the same demos-only model, on rollouts
that differ only in the expert's action noise (the same boards and seeds; sigma cycles 0 .. the level
over episodes): how the action diversity of what a model is post-trained on changes its labels of
perturbed actions (a run's own rollouts, a concentrated policy corrected by an expert, are less
diverse than the default's 0.6). ``--rollout-human`` adds post-trainings on rollouts in which the
task's simulated human takes over from the noisy expert as it does from the policy in a run (the
rollouts a run post-trains on: most episodes end in success, a miss lasts until the operator's stall
limit), and ``--intervened-weight W`` one more per such level with the episodes in which the
operator took over sampled W times as often (per step). ``--reward-episodes`` adds a post-training on
the demos and the reward model's own 60 labelled episodes (the offline set of the benchmark's
``worldsample-reward-episodes``; the noisier expert, sigma up to 1.5). The cached reward
model of the worldsample benchmark labels each frame (R_hat >= delta_R).

``--reward-encoder SIZE DIM``: the labels come from the benchmark's reward model with that encoder
(``worldsample_learning.reward_model``, as the worldsample variants that choose one use it) in place
of the task's.

``--resample R``: every counterfactual a model labels successful is predicted R more times from the
same anchor and actions (fresh sampling noise); ``counterfactuals_resampled`` keeps it successful
only if every resample is too: whether the model's false successes are chance draws that a second
look removes, or what it predicts for those actions.

Reported per source: the share of counterfactuals labelled successful, their precision and
recall against the simulator's truth, the share of truly unsuccessful counterfactuals labelled
successful, mean R_hat on truly unsuccessful frames; and, replaying the real segments with their
own actions, the AUC of R_hat on predicted frames for the reward model's label of the real frame
(what label calibration relies on) with precision/recall at a few thresholds; plus each model's
PSNR/SSIM on the same replays (world-model resolution); and what the learner's frozen encoder
(fitted on the demos, as a run fits it) sees in each source's frames against the simulator's
(``_feature_stats``: the error against the actions' own effect, split into a common offset and the
action effect, and whether a counterfactual's features are nearest to its own simulated
counterpart). Results: world_model_labels_<size>_<steps>.json; with other rollout sets
``_noise<levels>`` (plain rollouts only) or ``_<RolloutSet.tag>...`` (with the simulated human), then
``_resample<R>`` and ``_reward_encoder<SIZE>_<DIM>`` where given, and ``_reuse`` where every model's
weights were loaded (``--wm-reuse``), not trained.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

TEST = {'episodes': 16, 'seed': 40_000, 'noise_max': 0.6}
DEMOS = {'episodes': 20, 'seed': 10_000, 'noise_max': 0.0}
ROLLOUTS = {'episodes': 60, 'seed': 20_000, 'noise_max': 0.6}
THRESHOLDS = (0.5, 0.7, 0.9, 0.99)
WEIGHTS = Path('runs/bench_world_model_labels')     # the trained models, for a look or a later run


def _segments(data: dict[str, np.ndarray], states: list, length: int):
    """RealSegments of ``length`` steps, aligned to each episode's end, with the saved state at o_0."""
    from worldsample.core.observation import CAMERAS
    from worldsample.core.recording.dataset import IMAGE_FIELDS
    from worldsample.core.worldmodel.generator import RealSegment
    segs = []
    for ep in np.unique(data['episode']):
        idx = np.flatnonzero(data['episode'] == ep)
        for s in range(len(idx) - length, -1, -length):
            rows = idx[s:s + length]
            images = {c: np.concatenate([data[IMAGE_FIELDS[c]][rows], data['next_' + IMAGE_FIELDS[c]][rows[-1:]]])
                      for c in CAMERAS}
            proprio = np.concatenate([data['proprio'][rows], data['next_proprio'][rows[-1:]]]).astype(np.float32)
            segs.append(RealSegment(int(ep), int(data['step'][rows[0]]), images, data['action'][rows],
                                    proprio, states[rows[0]]))
    return segs


def _label_stats(scores: np.ndarray, threshold: float, truth: np.ndarray, keep: np.ndarray | None = None) -> dict:
    """Counterfactual-level labels (any frame >= threshold; and ``keep`` where given) against the
    simulator's truth."""
    y = (scores >= threshold).any(axis=1) & (True if keep is None else keep)
    t = truth.any(axis=1)
    return {'positive_share': float(y.mean()), 'true_positive_share': float(t.mean()),
            'precision': float((y & t).sum() / y.sum()) if y.any() else None,
            'recall': float((y & t).sum() / t.sum()) if t.any() else None,
            'false_positive_rate': float((y & ~t).sum() / max(1, (~t).sum())),
            'mean_score_on_unsuccessful_frames': float(scores[~truth].mean()),
            'positives': int(y.sum()), 'true_positives': int(t.sum())}


def _feature_stats(encoder, frames: dict[str, np.ndarray], sim: dict[str, np.ndarray],
                   first: dict[str, np.ndarray], k: int) -> dict:
    """What the learner's frozen encoder sees in frames {camera: (N, T, H, W, 3)} of N = S*K
    counterfactuals against the simulator's frames ``sim`` of the same steps (image features only;
    proprio is the oracle-kinematic-proprio control's question). Per step t: the error
    ||phi(frame) - phi(sim)||, against what the actions do (the mean distance between the simulator's K
    counterfactuals of one segment, 'action spread') and against copying o_0 (``first``, (N, H, W, 3));
    and whether the features tell the K action sequences apart: the share of counterfactuals whose
    nearest simulator counterfactual of the same segment is their own (chance 1/K), also with each
    segment's common offset removed."""
    from worldsample.core.observation import CAMERAS
    n, T = frames[CAMERAS[0]].shape[:2]

    def embed(f):
        return encoder.encode({c: f[c].reshape(n * T, *f[c].shape[2:]) for c in CAMERAS}).reshape(n, T, -1)

    pred, true = embed(frames), embed(sim)
    error = np.linalg.norm(pred - true, axis=-1)                                        # (N, T)
    copy = np.linalg.norm(encoder.encode(first)[:, None] - true, axis=-1)
    pred_g, true_g = pred.reshape(n // k, k, T, -1), true.reshape(n // k, k, T, -1)
    off = ~np.eye(k, dtype=bool)

    def spread(g):              # (S, k, T, d) -> mean distance, per step, between a segment's k
        return np.linalg.norm(g[:, :, None] - g[:, None], axis=-1)[:, off].mean(axis=(0, 1))

    def own_nearest(p, t):      # (S, k, T, d) each -> share, per step, whose nearest t of the segment is its own
        cross = np.linalg.norm(p[:, :, None] - t[:, None], axis=-1)                     # (S, i pred, j sim, T)
        return (cross.argmin(axis=2) == np.arange(k)[None, :, None]).mean(axis=(0, 1))

    spread_true, spread_pred, own = spread(true_g), spread(pred_g), own_nearest(pred_g, true_g)
    # the error split into what all K counterfactuals of a segment share (an offset that moves every
    # predicted state off the real one alike) and what differs between them (the actions' effect)
    pred_c, true_c = pred_g - pred_g.mean(1, keepdims=True), true_g - true_g.mean(1, keepdims=True)
    offset = np.linalg.norm(pred_g.mean(1) - true_g.mean(1), axis=-1)                   # (S, T)
    effect = np.linalg.norm(pred_c - true_c, axis=-1)                                   # (S, k, T)
    own_c = own_nearest(pred_c, true_c)
    return {'error': float(error.mean()), 'action_spread': float(spread_true.mean()),
            'predicted_action_spread': float(spread_pred.mean()), 'copy_first_error': float(copy.mean()),
            'error_over_action_spread': float(error.mean() / spread_true.mean()),
            'common_offset': float(offset.mean()), 'action_effect_error': float(effect.mean()),
            'own_counterfactual_nearest': float(own.mean()),
            'own_counterfactual_nearest_offset_removed': float(own_c.mean()), 'chance': 1.0 / k,
            'by_step': {'error': error.mean(0).tolist(), 'action_spread': spread_true.tolist(),
                        'predicted_action_spread': spread_pred.tolist(), 'common_offset': offset.mean(0).tolist(),
                        'action_effect_error': effect.mean((0, 1)).tolist(), 'own_counterfactual_nearest': own.tolist(),
                        'own_counterfactual_nearest_offset_removed': own_c.tolist()}}


def _at_resolution(frames: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Frames down to a world model's size x size views (as its input, core.worldmodel.data) and back
    to the camera's resolution as its predictions are (generator.to_camera): the pipeline's loss of
    detail, nothing else."""
    import cv2
    from worldsample.core.worldmodel.generator import to_camera
    out = {}
    for c, f in frames.items():
        h, w = f.shape[-3:-1]
        flat = f.reshape(-1, h, w, 3)
        out[c] = np.stack([to_camera(cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA), w, h)
                           for x in flat]).reshape(f.shape)
    return out


def _replay_stats(pred_scores: np.ndarray, real_labels: np.ndarray) -> dict:
    """R_hat on frames the model predicts for the real actions, against the real frames' labels."""
    pos, neg = pred_scores[real_labels], pred_scores[~real_labels]
    auc = float(np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :])) \
        if len(pos) and len(neg) else None
    at = {}
    for th in THRESHOLDS:
        p = pred_scores >= th
        at[str(th)] = {'predicted_positive': int(p.sum()),
                       'precision': float((p & real_labels).sum() / p.sum()) if p.any() else None,
                       'recall': float((p & real_labels).sum() / max(1, real_labels.sum()))}
    return {'real_positive_frames': int(real_labels.sum()), 'frames': int(real_labels.size), 'auc': auc,
            'at_threshold': at}


def _resampled(predictor, segs, cf: np.ndarray, k: int, labels: np.ndarray, resamples: int, label) -> np.ndarray:
    """(N,) bool: the counterfactuals (segment i // k, actions cf[i]) whose frames ``labels`` (N, T) call
    successful at some step and whose every one of ``resamples`` fresh predictions ``label(frames,
    count) -> (count, T)`` does too."""
    keep = labels.any(axis=1)
    for _ in range(resamples):
        idx = np.flatnonzero(keep)
        if not len(idx):
            break
        frames, _ = predictor([segs[i // k] for i in idx], cf[idx], 1)
        keep[idx] = label(frames, len(idx)).any(axis=1)
    return keep


@dataclass(frozen=True)
class RolloutSet:
    """What one post-trained stage trains on besides the demos."""
    noise: float | None               # the noisy expert's action noise (None: the reward model's episodes)
    human: bool = False               # the simulated human takes over from the noisy expert
    intervened_weight: float = 1.0    # sampling weight of the episodes with a takeover, per step
    reward_episodes: bool = False     # the reward model's labelled episodes instead of noisy-expert rollouts

    @property
    def data(self) -> tuple:
        """Which rollout data the stage trains on (stages that differ only in weighting share it)."""
        return ('reward episodes',) if self.reward_episodes else (self.noise, self.human)

    @property
    def name(self) -> str:
        """The stage's name (the default set keeps the name earlier results use)."""
        if self.reward_episodes:
            return "demos, then post-trained on demos + the reward model's labelled episodes"
        return ('demos, then post-trained on demos + rollouts'
                + ('' if self.noise == ROLLOUTS['noise_max'] else f' with action noise up to {self.noise:g}')
                + (' corrected by the simulated human' if self.human else '')
                + ('' if self.intervened_weight == 1.0 else
                   f', episodes with a takeover weighted {self.intervened_weight:g}x'))

    @property
    def tag(self) -> str:
        if self.reward_episodes:
            return 'reward_episodes'
        return (f'noise{self.noise:g}' + ('_human' if self.human else '')
                + ('' if self.intervened_weight == 1.0 else f'_w{self.intervened_weight:g}'))


def _rollout_sets(noise: tuple[float, ...], human: tuple[float, ...], intervened_weight: float,
                  reward_episodes: bool = False) -> list[RolloutSet]:
    """The post-trained stages: plain rollouts at each ``noise`` level (the default's 0.6 when none
    is given, the control), human-corrected ones at each ``human`` level, each also weighted, and
    with ``reward_episodes`` the reward model's labelled episodes."""
    levels = (*noise, *human)
    if any(not 0.0 <= sigma <= 2.0 for sigma in levels) or len(set(noise)) < len(noise) or len(set(human)) < len(human):
        raise SystemExit(f'--rollout-noise, --rollout-human: distinct action noise levels in [0, 2], got {levels}')
    if not intervened_weight > 0.0:
        raise SystemExit(f'--intervened-weight: a positive weight, got {intervened_weight}')
    sets = [RolloutSet(sigma) for sigma in noise or (ROLLOUTS['noise_max'],)]
    for sigma in human:
        sets.append(RolloutSet(sigma, human=True))
        if intervened_weight != 1.0:
            sets.append(RolloutSet(sigma, human=True, intervened_weight=intervened_weight))
    if reward_episodes:
        sets.append(RolloutSet(None, reward_episodes=True))
    return sets


def _weighted_mix(demos, rollouts, intervened: np.ndarray, weight: float, wm_cfg):
    """``training.mix`` with the rollout episodes flagged in ``intervened`` sampled ``weight`` times as
    often per step; the rollouts' share of the samples stays ``1 - demo_share``."""
    from worldsample.core.worldmodel.training import mix
    episodes, w = mix(demos, rollouts, wm_cfg)
    if weight == 1.0:
        return episodes, w
    r = w[len(demos):] * np.where(intervened, weight, 1.0)
    return episodes, np.concatenate([w[:len(demos)], r / r.sum() * w[len(demos):].sum()])


def bench_world_model_labels(size: str = 'tiny', steps: int = 1000, task: str = 'insertion_vision',
                             reuse: bool = False, rollout_noise: tuple[float, ...] = (),
                             rollout_human: tuple[float, ...] = (), intervened_weight: float = 1.0,
                             reward_episodes: bool = False, resample: int = 0,
                             reward_encoder: tuple[int, int] | None = None) -> list[str]:
    import torch

    from worldsample.core.config import load_config
    from worldsample.core.observation import CAMERAS
    from worldsample.core.rl.learner import fit_encoder
    from worldsample.core.sim.oracle import OraclePredictor
    from worldsample.core.worldmodel.counterfactual import perturb_actions
    from worldsample.core.worldmodel.data import episodes_from_dataset
    from worldsample.core.worldmodel.generator import ModelPredictor, residual_corrected
    from worldsample.core.worldmodel.model import WorldModel, sized
    from worldsample.core.worldmodel.training import evaluate, mix, train
    from .run import _sim_episodes, save
    from .worldsample_learning import reward_episodes as labelled_episodes
    from .worldsample_learning import reward_model

    if resample < 0:          # before the minutes of recording and training, not after them
        raise SystemExit(f'--resample: a count of 0 or more, got {resample}')
    if reward_encoder is not None and min(reward_encoder) < 1:
        raise SystemExit(f'--reward-encoder: a view size and a dimension of 1 or more, got {reward_encoder}')
    cfg = load_config(task)
    wm_cfg = sized(cfg.world_model, size)
    cfg = replace(cfg, world_model=wm_cfg)
    T, K = wm_cfg.segment_length, wm_cfg.counterfactuals
    rm, rm_report = reward_model(task, lambda m: print(m, flush=True), reward_encoder)
    t0 = time.perf_counter()
    states: list = []
    test = _sim_episodes(cfg, **TEST, states=states)
    segs = _segments(test, states, T)
    demo_data = _sim_episodes(cfg, **DEMOS)
    demos = episodes_from_dataset(demo_data, wm_cfg)
    sets = _rollout_sets(tuple(rollout_noise), tuple(rollout_human), intervened_weight, reward_episodes)
    rollouts, intervened, rollout_stats = {}, {}, {}
    for key in dict.fromkeys(rs.data for rs in sets):
        if key == ('reward episodes',):
            rollouts[key], rollout_stats[key[0]] = labelled_episodes(task, wm_cfg, lambda m: print(m, flush=True))
            intervened[key] = np.zeros(len(rollouts[key]), bool)
            continue
        data = _sim_episodes(cfg, **{**ROLLOUTS, 'noise_max': key[0]}, human=key[1])
        rollouts[key] = episodes_from_dataset(data, wm_cfg)
        ids = np.unique(data['episode'])          # episodes_from_dataset's order: one run per episode here
        took_over = data.get('intervention', np.zeros(len(data['action']), bool))
        intervened[key] = np.array([bool(took_over[data['episode'] == e].any()) for e in ids])
        rollout_stats[f'noise {key[0]:g}' + (', simulated human' if key[1] else '')] = {
            'steps': int(len(data['action'])), 'episodes': int(len(ids)),
            'successful_episodes': int(sum(data['terminated'][data['episode'] == e].any() for e in ids)),
            'episodes_with_takeover': int(intervened[key].sum()),
            'takeover_steps': int(took_over.sum())}
    held = episodes_from_dataset(test, wm_cfg)
    print(f'sim data: {len(segs)} test segments, {sum(len(e.actions) for e in demos)} demo and '
          + ', '.join(f'rollouts ({k}): {v}' for k, v in rollout_stats.items())
          + f' ({time.perf_counter() - t0:.0f} s)', flush=True)

    rng = np.random.default_rng(TEST['seed'])
    cf = np.stack([perturb_actions(s.actions, cfg.task, rng, wm_cfg.perturb_scale, wm_cfg.perturb_noise)
                   for s in segs for _ in range(K)])
    n = len(cf)

    def scores(frames: dict[str, np.ndarray], count: int) -> np.ndarray:
        return rm.score({c: frames[c].reshape(count * T, *frames[c].shape[2:]) for c in CAMERAS}).reshape(count, T)

    oracle = OraclePredictor(cfg)
    truth = []
    for i, seq in enumerate(cf):      # the simulator's ground truth for every counterfactual step
        oracle.env.restore(segs[i // K].state)
        truth.append([oracle.env.step(a)[4]['success'] for a in seq])
    truth = np.asarray(truth, bool)
    o_frames, _ = oracle(segs, cf, K)
    oracle.close()
    real = {c: np.stack([s.images[c][1:] for s in segs]) for c in CAMERAS}
    real_labels = scores(real, len(segs)) >= rm.threshold
    encoder = fit_encoder(cfg, demo_data)       # the frozen encoder a run fits on such demos
    first = {c: np.stack([s.images[c][0] for s in segs for _ in range(K)]) for c in CAMERAS}
    results = {'simulator frames (oracle)': {'counterfactuals': _label_stats(scores(o_frames, n), rm.threshold, truth)},
               'simulator frames at world-model resolution': {
                   'features': _feature_stats(encoder, _at_resolution(o_frames, wm_cfg.view_size), o_frames, first, K)}}

    model = WorldModel(wm_cfg, seed=0)        # on a GPU when torch sees one
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    timing = {}
    demos_path = WEIGHTS / f'{size}_{steps}_demos.safetensors'
    stages = [('demos', demos_path, None)]
    stages += [(rs.name, WEIGHTS / f"{size}_{steps}_post_trained"
                f"{'' if rs.tag == RolloutSet(ROLLOUTS['noise_max']).tag else '_' + rs.tag}.safetensors", rs)
               for rs in sets]
    for stage, (name, path, rs) in enumerate(stages):
        if reuse and path.is_file():      # kept by an earlier run of the same size and steps
            model = WorldModel.load(path, wm_cfg)
            timing[name] = None
            print(f'  {name}: weights from {path}', flush=True)
        else:
            if stage:        # every post-training starts from the demos-only model, with a fresh optimiser
                model = WorldModel.load(demos_path, wm_cfg)
            t1 = time.perf_counter()
            episodes, weights = (mix(demos, [], wm_cfg) if rs is None else
                                 _weighted_mix(demos, rollouts[rs.data], intervened[rs.data], rs.intervened_weight,
                                               wm_cfg))
            train(model, episodes, weights, steps, np.random.default_rng(1 + min(stage, 1)),
                  lambda i, loss: print(f'  {name}: step {i}/{steps}, loss {loss:.4f}', flush=True)
                  if i % max(1, steps // 10) == 0 else None)
            timing[name] = time.perf_counter() - t1
            model.save(path)
        predictor = ModelPredictor(cfg, model)
        m_frames, _ = predictor(segs, cf, K)
        replay, _ = predictor(segs, np.stack([s.actions for s in segs]), 1)
        m_scores = scores(m_frames, n)
        results[f'world model: {name}'] = {
            'training_steps': model.steps, 'train_s': timing[name],
            'counterfactuals': _label_stats(m_scores, rm.threshold, truth),
            'own_action_replay': _replay_stats(scores(replay, len(segs)).ravel(), real_labels.ravel()),
            'features': _feature_stats(encoder, m_frames, o_frames, first, K),
            'fidelity': evaluate(model, held, wm_cfg)['metrics']}
        if resample:
            results[f'world model: {name}']['counterfactuals_resampled'] = {
                'resamples': resample, **_label_stats(m_scores, rm.threshold, truth,
                                                      _resampled(predictor, segs, cf, K, m_scores >= rm.threshold,
                                                                 resample, lambda f, c: scores(f, c) >= rm.threshold))}
        print(f'{name}: {results[f"world model: {name}"]["counterfactuals"]}', flush=True)
        corrected = residual_corrected(m_frames, replay, real, K)     # as the generator gives the learner
        results[f'world model: {name}, real rollout residual removed'] = {
            'counterfactuals': _label_stats(scores(corrected, n), rm.threshold, truth),
            'features': _feature_stats(encoder, corrected, o_frames, first, K)}
    results['copy-last-frame'] = {'fidelity': evaluate(None, held, wm_cfg)['metrics']}
    plain = all(not rs.human and not rs.reward_episodes for rs in sets)
    suffix = ('' if sets == [RolloutSet(ROLLOUTS['noise_max'])] else
              '_noise' + '_'.join(f'{rs.noise:g}' for rs in sets) if plain else '_' + '_'.join(rs.tag for rs in sets))
    suffix += f'_resample{resample}' if resample else ''
    suffix += '_reward_encoder{}_{}'.format(*reward_encoder) if reward_encoder else ''
    # a measurement of kept weights never replaces the results of the run that trained them
    suffix += '_reuse' if all(t is None for t in timing.values()) else ''
    save(f'world_model_labels_{size}_{steps}{suffix}', {
        'task': task, 'size': size, 'steps_per_stage': steps, 'device': str(model.device), 'params': model.n_params,
        'torch_threads': torch.get_num_threads(), 'counterfactuals_per_segment': K, 'segment_length': T,
        'test': TEST, 'demos': DEMOS, 'rollouts': ROLLOUTS, 'resamples': resample,
        'rollout_sets': [asdict(rs) | {'name': rs.name} for rs in sets],
        'rollout_data': rollout_stats,
        'segments': len(segs), 'reward_model': rm_report,
        'delta_R': rm.threshold, 'results': results, 'wall_s': time.perf_counter() - t0})
    rows = []
    for name, r in results.items():
        if 'features' in r:
            f = r['features']
            rows.append(f"| encoder features of {name} ({size}) vs the simulator's | error {f['error']:.2f} = "
                        f"{f['error_over_action_spread']:.2f}x the actions' spread {f['action_spread']:.2f} "
                        f"(copying o_0: {f['copy_first_error']:.2f}; common offset {f['common_offset']:.2f}, "
                        f"action effect {f['action_effect_error']:.2f}); own counterfactual nearest "
                        f"{f['own_counterfactual_nearest']:.0%}, offset removed "
                        f"{f['own_counterfactual_nearest_offset_removed']:.0%} (chance {f['chance']:.0%}) "
                        "| error well below the spread |")
        if 'counterfactuals' not in r:
            continue
        auc = r.get('own_action_replay', {}).get('auc')
        for what, c in (('', r['counterfactuals']), (f', successes kept by {resample} resamples',
                                                      r.get('counterfactuals_resampled'))):
            if c is None:
                continue
            prec = 'n/a' if c['precision'] is None else f"{c['precision']:.2f}"
            rows.append(f"| reward labels on {name}{what} ({size}, {steps} steps/stage) | {c['positive_share']:.1%} "
                        f"labelled successful (truth {c['true_positive_share']:.1%}), precision {prec}, "
                        f"false-positive rate {c['false_positive_rate']:.1%}"
                        + ('' if auc is None or what else f', replay AUC {auc:.2f}') + ' | positive share near the truth |')
    return rows
