"""WorldSample against HIL-SERL on the benchmark task (paper Table 2b, Figs. 3, 5, 8, 9), resumable.

    ./ws bench worldsample [--variant NAME ...] [--seed K ...] [--env-steps N] [--task insertion_vision]

Every variant x seed runs the single-process trainer (core.rl.trainer: the same learner, PPL and
episode loop as the ROS graph) and writes ``results/worldsample/<task>/<variant>/seed<k>.json``
when it finishes; a rerun skips finished files, so the benchmark can span sessions and machines
(run different seeds side by side as separate commands). Same seeds, demos (20 scripted, seeded
per run seed), simulated human and evaluation (20 held-out episodes, deterministic actor, no
interventions, every ``train.eval_every`` steps) for every variant.

Shared preparation, cached under ``runs/bench_worldsample/<task>/``: the reward model (trained on
noisy-expert frames labelled by simulator ground truth, as an operator labels them on the robot;
its held-out precision/recall go into every result) and, per seed, the tiny world model trained
on that seed's demos (``--wm-pretrain-steps``, one torch thread), which every learned-world-model
variant of that seed starts from and post-trains during its run (``demo_world_model``; each result
records the weights file's sha256). World-model fidelity (PSNR, SSIM,
moving-region PSNR) is measured on held-out segments of the task at the start and at the end of
each run that uses the learned model. Every generated label is audited against the simulator's
truth (core.sim.label_audit: physics replays, no rendering, nothing the learner sees), so each
result says how many of the synthetic positives and negatives the critic saw were true.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / 'results' / 'worldsample'
PREP = Path('runs/bench_worldsample')
# variant -> (ppl.mode, synthetic source: None | 'model' | 'model-reward-episodes' (the learned model
# with the reward model's labelled episodes among its offline data) | 'oracle' | 'oracle-kinematic' (the oracle's
# frames with the learned model's controller-integrated proprio) | 'oracle-truth' (the oracle labelled
# by the simulator's success, not the reward model) | 'extra-real' | 'extra-real-no-human',
# synthetic positives kept, changes to the task's config: {section: {key: value}})
VARIANTS = {
    'hil-serl': ('baseline', None, True, {}),
    'worldsample': ('full', 'model', True, {}),
    # the learned model trained, before and during the run, on the reward model's 60 labelled
    # episodes as well as the demos: offline data the cell records anyway, whose near misses and
    # successes from every approach a model of the demos alone never sees
    'worldsample-reward-episodes': ('full', 'model-reward-episodes', True, {}),
    # the learned model with the current actor choosing the counterfactuals' actions, closed loop
    'worldsample-policy-actions': ('full', 'model', True, {'world_model': {'counterfactual_actions': 'policy'}}),
    # ... and its successes gated on the pose where the real episode succeeded, in place of label
    # calibration (world_model.success_pose_gate)
    'worldsample-policy-pose-gate': ('full', 'model', True, {'world_model': {'counterfactual_actions': 'policy',
                                                                             'success_pose_gate': True}}),
    # the learned model with the reward model labelling the residual-corrected frames (no label
    # calibration), and each episode's last T steps as a segment too, so that a real success
    # anchors counterfactuals whose corrected frames can keep its label
    'worldsample-corrected-labels': ('full', 'model', True, {'world_model': {'label_frames': 'corrected',
                                                                             'end_segments': True}}),
    # the learned model with twice the counterfactuals per segment, perturbed logged actions: K = 8
    # took the oracle from 0.83x to 0.68x, and at K = 4 this model does as well as the oracle
    'worldsample-k8': ('full', 'model', True, {'world_model': {'counterfactuals': 8}}),
    'no-scheduling': ('no_scheduling', 'model', True, {}),
    'no-q-selection': ('no_q_selection', 'model', True, {}),
    # no-q-selection again on the code that measures Q-bar in every PPL mode (its runs predate it)
    'no-q-selection-rerun': ('no_q_selection', 'model', True, {}),
    'no-ppl': ('no_ppl', 'model', True, {}),
    # no-ppl again on the code that measures Q-bar in every PPL mode (the no-ppl runs predate it):
    # the without-PPL panel of Fig. 9, and a replication of no-ppl's success curves
    'no-ppl-rerun': ('no_ppl', 'model', True, {}),
    'worldsample-oracle': ('full', 'oracle', True, {}),
    # control: the oracle's counterfactual failures alone (what synthetic negatives do by themselves)
    'oracle-negatives-only': ('full', 'oracle', False, {}),
    # control: perfect frames, but the proprio a learned model pairs them with
    'oracle-kinematic-proprio': ('full', 'oracle-kinematic', True, {}),
    # the learning rule, measured with the oracle: the actor also trains on the synthetic states
    'oracle-actor-synthetic': ('full', 'oracle', True, {'ppl': {'actor_synthetic': True}}),
    # the learning rule, measured with the oracle: twice the counterfactuals per segment
    'oracle-k8': ('full', 'oracle', True, {'world_model': {'counterfactuals': 8}}),
    # control on the counterfactual action distribution: the oracle, with the current actor choosing
    # the K counterfactuals' actions from each segment's start (not perturbations of the logged ones)
    'oracle-policy-actions': ('full', 'oracle', True, {'world_model': {'counterfactual_actions': 'policy'}}),
    # control: the policy-driven oracle's counterfactual failures alone (a learned model whose
    # predicted successes are not trusted gives the learner only those)
    'oracle-policy-actions-negatives-only': ('full', 'oracle', False,
                                             {'world_model': {'counterfactual_actions': 'policy'}}),
    # control on the labels: the policy-driven oracle labelled by the simulator's truth, as the
    # extra-real cell's transitions are (what the reward model's label errors cost)
    'oracle-policy-actions-true-labels': ('full', 'oracle-truth', True,
                                          {'world_model': {'counterfactual_actions': 'policy'}}),
    # the policy-driven oracle with each episode's last T steps as a segment too (world_model.end_segments)
    'oracle-policy-actions-end-segments': ('full', 'oracle', True, {'world_model': {'counterfactual_actions': 'policy',
                                                                                    'end_segments': True}}),
    # the same with 16-step segments and rollouts (the same K synthetic transitions per real one)
    'oracle-policy-actions-t16': ('full', 'oracle', True, {'world_model': {'counterfactual_actions': 'policy',
                                                                           'segment_length': 16}}),
    # the policy-driven oracle with twice the counterfactuals per segment (the two changes that each
    # helped the oracle, together)
    'oracle-policy-actions-k8': ('full', 'oracle', True, {'world_model': {'counterfactual_actions': 'policy',
                                                                          'counterfactuals': 8}}),
    # control: K extra real transitions per real step from a second simulated cell in place of the
    # counterfactuals (core.rl.extra_real), the ceiling of what a synthetic stream can add
    'extra-real': ('full', 'extra-real', True, {}),
    # the same without the simulated human in the second cell: the actor's own extra experience
    'extra-real-no-human': ('full', 'extra-real-no-human', True, {}),
    # the learned model and its labels at twice the resolution: the world model at 64 x 64 views
    # ('tiny64', the tiny U-Net on 4 x 4 patches) and the reward model's encoder at 64 x 64 with 64
    # components per camera (the policy's encoder unchanged). At 32 x 32 a pixel of the side view
    # is about 15 mm, the insertion depth, and the learned model's in-loop successes were not
    # believable (label calibration's replay precision 0.05-0.3)
    'worldsample-64px': ('full', 'model', True, {}),
    # the learned model as in worldsample, labelled by a reward model with 64 components per camera
    # at the policy's 32 x 32 views (the task's encoder: 32): on held-out real frames its precision is
    # higher at the same recall, and label calibration needs a reward model that tells a drawn
    # near-insertion from a real one
    'worldsample-rm64': ('full', 'model', True, {}),
}
# variant -> the world model size and the reward model's encoder (size, dim), where not WM_SIZE and
# the task's (train.encoder_size, train.encoder_dim)
SCALE = {'worldsample-64px': {'wm_size': 'tiny64', 'reward_encoder': (64, 64)},
         'worldsample-rm64': {'reward_encoder': (32, 64)}}
WM_SIZE = 'tiny'                      # CPU scale; the default size needs a GPU
HELD_OUT = {'episodes': 12, 'seed': 900_000, 'noise_max': 0.3, 'segments': 64}
REWARD_DATA = {'episodes': 60, 'seed': 0}      # the reward model's labelled sim episodes (train_reward's recipe)


def result_path(task: str, variant: str, seed: int) -> Path:
    return RESULTS / task / variant / f'seed{seed}.json'


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def reward_model(task: str, log, encoder: tuple[int, int] | None = None) -> tuple[object, dict]:
    """The task's reward model, trained once and cached (train_reward's recipe: 60 episodes, delta_R 0.7),
    with the task's encoder or ``encoder`` (size, dim)."""
    from worldsample.commands.train_reward import build
    from worldsample.core.reward.classifier import RewardModel
    folder = PREP / task / ('reward_model' if encoder is None else 'reward_model_{}_{}'.format(*encoder))
    report_file = folder / 'report.json'
    if report_file.is_file():
        return RewardModel.load(folder), json.loads(report_file.read_text())
    log(f'training the reward model of {task} (once{"" if encoder is None else ", encoder %d x %d, %d-d" % (encoder[0], encoder[0], encoder[1])})')
    size, dim = encoder or (None, None)          # None: build's default, the task's encoder
    model, report = build(task, **REWARD_DATA, threshold=0.7, steps=300, encoder_size=size, encoder_dim=dim)
    model.save(folder)
    report_file.write_text(json.dumps(report))
    return model, report


def held_out_episodes(cfg, wm_cfg):
    """Noisy-expert episodes of the task that no run trains on: the fidelity test set."""
    from worldsample.core.worldmodel.data import episodes_from_dataset
    from .run import _sim_episodes
    data = _sim_episodes(cfg, HELD_OUT['episodes'], HELD_OUT['seed'], HELD_OUT['noise_max'])
    return episodes_from_dataset(data, wm_cfg)


def reward_episodes(task: str, wm_cfg, log) -> tuple[list, dict]:
    """The episodes the cached reward model was trained on (``reward_model``: the same collection,
    seed and count, so the same frames), as world-model episodes, with their counts."""
    from worldsample.core.config import load_config
    from worldsample.core.reward.data import collect_labelled_frames
    from worldsample.core.sim.env import InsertionEnv
    from worldsample.core.worldmodel.data import episodes_from_frames
    log(f'recording the reward model\'s {REWARD_DATA["episodes"]} labelled episodes again for the world model')
    env = InsertionEnv(load_config(task))
    data = collect_labelled_frames(env, REWARD_DATA['episodes'], REWARD_DATA['seed'])
    env.close()
    episodes = episodes_from_frames(data.frames, data.proprio, data.actions, data.ids, wm_cfg)
    return episodes, {'episodes': len(episodes), 'steps': int(sum(len(e.actions) for e in episodes)),
                      'successful_episodes': int(sum(data.labels[data.ids == e].any() for e in np.unique(data.ids)))}


def demo_world_model(cfg, wm_cfg, seed: int, demo_episodes, steps: int, log,
                     folder: Path = PREP, name: str = 'demos', size: str = WM_SIZE) -> tuple[object, dict]:
    """The world model of ``size`` (``wm_cfg``'s) trained on this seed's demos (cached per seed), with where
    it came from. ``name`` tells the cache file of another offline set from the demos-only one.

    Every variant of a seed run on one kind of CPU starts from the same state: the weights are
    trained with one torch thread whatever ``--threads`` says (CPU kernels sum in an order that
    depends on the thread count, and on the CPU: an Intel Xeon and an AMD EPYC train different
    weights from the same seed and demos), and the run that trains them loads them back from
    the file like every later run does, so it too starts post-training with a fresh optimizer and
    the seed's sampling noise. Returns the model and {file, sha256, trained_in_this_run, ...},
    which goes into the result."""
    import hashlib

    import torch

    from worldsample.core.worldmodel.model import WorldModel
    from worldsample.core.worldmodel.training import mix, train
    sized_as = '' if size == WM_SIZE else f'_{size}'
    path = Path(folder) / cfg.task.name / f'world_model_{name}_seed{seed}_{steps}_1thread{sized_as}.safetensors'
    trained, train_s = not path.is_file(), None
    if trained:
        log(f'training the world model on the seed-{seed} {name.replace("_", " ")}, {steps} steps, 1 torch thread '
            '(once per seed)')
        model = WorldModel(wm_cfg, seed=seed, device='cpu')
        episodes, weights = mix(demo_episodes, [], wm_cfg)
        t0 = time.perf_counter()

        def progress(step: int, loss: float) -> None:
            if step % 100 == 0 or step == steps:
                log(f'  world model step {step}/{steps}: loss {loss:.4f}, {time.perf_counter() - t0:.0f} s')
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            train(model, episodes, weights, steps, np.random.default_rng(seed), progress)
        finally:
            torch.set_num_threads(threads)
        train_s = time.perf_counter() - t0
        model.save(path)
    provenance = {'file': path.name, 'sha256': hashlib.sha256(path.read_bytes()).hexdigest(),
                  'trained_in_this_run': trained, 'train_s': train_s, 'steps': steps, 'torch_threads': 1,
                  'size': size}
    return WorldModel.load(path, wm_cfg, 'cpu', seed=seed), provenance


def run_one(task: str, variant: str, seed: int, env_steps: int | None, wm_pretrain_steps: int, log) -> dict:
    from worldsample.core.config import load_config
    from worldsample.core.rl.extra_real import ExtraReal
    from worldsample.core.rl.synthetic_loop import build_loop, reward_scorer
    from worldsample.core.rl.trainer import demos_to_dataset, train
    from worldsample.core.worldmodel.data import episodes_from_dataset
    from worldsample.core.worldmodel.model import sized
    from worldsample.core.worldmodel.training import evaluate
    from .run import machine

    mode, source, positives, changes = VARIANTS[variant]
    wm_size = SCALE.get(variant, {}).get('wm_size', WM_SIZE)
    cfg = load_config(task)
    cfg = replace(cfg, ppl=replace(cfg.ppl, mode=mode), world_model=sized(cfg.world_model, wm_size))
    cfg = replace(cfg, **{section: replace(getattr(cfg, section), **kv) for section, kv in changes.items()})
    wm_cfg = cfg.world_model
    extra: dict = {'ppl': asdict(cfg.ppl), 'config_changes': changes}
    factory, fidelity, t_prep = None, {}, 0.0
    if source in ('extra-real', 'extra-real-no-human'):
        extra['generation_budget'] = {'source': source, 'extra_real_steps_per_real_step': wm_cfg.counterfactuals,
                                      'segment_length': wm_cfg.segment_length}

        def factory(learner, demos):
            return ExtraReal(cfg, learner, seed, wm_cfg.counterfactuals, human=source == 'extra-real')
    elif source is not None:
        rm, rm_report = reward_model(task, log, SCALE.get(variant, {}).get('reward_encoder'))
        extra['reward_model'] = rm_report
        learned = source in ('model', 'model-reward-episodes')
        extra['generation_budget'] = {
            'source': source, 'positives_kept': positives, 'world_model_size': wm_size if learned else None,
            'counterfactuals_per_segment': wm_cfg.counterfactuals, 'segment_length': wm_cfg.segment_length,
            'synthetic_steps_per_real_step_max': wm_cfg.counterfactuals,
            'post_train_every_env_steps': cfg.train.post_train_every if learned else None,
            'post_train_steps': cfg.train.post_train_steps if learned else None,
            'post_train_warmup': cfg.train.post_train_warmup if learned else None,
            'world_model_pretrain_steps_on_demos': wm_pretrain_steps if learned else None}

        scorer = reward_scorer(rm)

        def factory(learner, demos):
            nonlocal t_prep
            if source in ('oracle', 'oracle-kinematic', 'oracle-truth'):
                return build_loop(cfg, learner, 'oracle', scorer, seed, audit_labels=True, positives=positives,
                                  oracle_proprio='kinematic' if source == 'oracle-kinematic' else 'simulated',
                                  labels='truth' if source == 'oracle-truth' else 'reward_model')
            t = time.perf_counter()
            demo_eps = episodes_from_dataset(demos_to_dataset(demos), wm_cfg)
            name = 'demos'
            if source == 'model-reward-episodes':      # the offline set: demos and the reward model's episodes
                more, extra['world_model_reward_episodes'] = reward_episodes(task, wm_cfg, log)
                demo_eps, name = demo_eps + more, 'demos_reward_episodes'
            model, extra['demo_world_model'] = demo_world_model(cfg, wm_cfg, seed, demo_eps, wm_pretrain_steps, log,
                                                                name=name, size=wm_size)
            log(f'recording {HELD_OUT["episodes"]} held-out episodes and scoring the world model on them')
            held = held_out_episodes(cfg, wm_cfg)
            fidelity['held_out'] = dict(HELD_OUT)
            fidelity['copy_last_frame'] = evaluate(None, held, wm_cfg, HELD_OUT['segments'])['metrics']
            fidelity['start'] = evaluate(model, held, wm_cfg, HELD_OUT['segments'])['metrics']
            fidelity['_model'], fidelity['_held'] = model, held
            t_prep = time.perf_counter() - t
            return build_loop(cfg, learner, 'model', scorer, seed, model, demo_eps, audit_labels=True,
                              positives=positives)

    t0 = time.perf_counter()
    _, _, hist = train(cfg, seed=seed, log=log, env_steps=env_steps, synthetic=factory)
    if '_model' in fidelity:
        model, held = fidelity.pop('_model'), fidelity.pop('_held')
        fidelity['end'] = evaluate(model, held, wm_cfg, HELD_OUT['segments'])['metrics']
        fidelity['world_model_steps_end'] = model.steps
    import torch
    return {'machine': {**machine(), 'torch_threads': torch.get_num_threads()}, 'task': task, 'variant': variant, 'seed': seed,
            'env_steps': hist.env_steps[-1], 'eval_episodes': cfg.train.eval_episodes,
            'wall_s': time.perf_counter() - t0, 'preparation_s': t_prep, 'history': asdict(hist),
            'fidelity': fidelity, **extra}


def bench_worldsample(variants: tuple[str, ...] = (), seeds: tuple[int, ...] = (0, 1, 2),
                      env_steps: int | None = None, task: str = 'insertion_vision',
                      wm_pretrain_steps: int = 1000, threads: int | None = None) -> list[str]:
    import torch
    if threads is not None:
        torch.set_num_threads(threads)
    variants = variants or tuple(VARIANTS)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f'unknown variant(s) {unknown}; choose from {list(VARIANTS)}')
    for variant in variants:
        for seed in seeds:
            path = result_path(task, variant, seed)
            if path.is_file():
                print(f'[{variant} seed {seed}] done before: {path}', flush=True)
                continue
            print(f'[{variant} seed {seed}] running', flush=True)
            data = run_one(task, variant, seed, env_steps, wm_pretrain_steps,
                           log=lambda m, v=variant, s=seed: print(f'[{v} seed {s}] {m}', flush=True))
            _write(path, data)
            print(f'[{variant} seed {seed}] final eval success {data["history"]["success_rate"][-1]:.2f}, '
                  f'{data["wall_s"] / 60:.1f} min; {path}', flush=True)
    from .worldsample_report import summary_rows
    return summary_rows(RESULTS / task)
