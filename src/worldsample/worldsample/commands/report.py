"""Report of a WorldSample benchmark: result folders in, PNG plots and a Markdown table out.

    ./ws run worldsample_report test/benchmark/results/worldsample/insertion_vision [--out DIR]

Reads ``<folder>/<variant>/seed<k>.json`` (``./ws bench worldsample``) and writes to ``--out``
(default: the folder itself):

- ``success.png``, ``interventions.png``: evaluation success and training intervention rate
  against environment steps, per variant, one thin line per seed, the mean and a 95% bootstrap
  confidence band over seeds (paper Figs. 3, 5), for the paper's rows (``ORDER``);
- the same for every other variant (the controls), drawn against the baseline and the oracle
  world model, one pair of figures per family (``CONTROL_FAMILIES``, by name prefix):
  ``success_oracle_policy_controls.png`` (``oracle-policy-actions*``),
  ``success_oracle_controls.png`` (the other ``oracle-*``) and ``success_controls.png`` (the
  rest), each with its ``interventions_*`` twin (without the bands when a figure holds more
  than ``MAX_BANDS`` variants);
- ``entropy_rho.png``: H_t and rho over training for the PPL variants among the paper's rows (Fig. 8);
- ``q_values.png``: mean Q on real, synthetic-positive and synthetic-negative samples, with and
  without PPL (Fig. 9), for the same variants where their runs measured it;
- ``report.md``: the table in the layout of Tables 1 and 2b: final success, intervention rate,
  environment steps to reach the baseline's final success (per seed; ``>N`` marks a seed that
  never reached it, counted as N, the run length), synthetic samples used in critic updates, the
  positive synthetic trajectories per seed (with, in parentheses, how many the label audit found
  truly successful), wall time, and the world model's fidelity at the start and end of the run;
  and Fig. 9 in numbers: mean Q on real, synthetic-positive and synthetic-negative samples over
  the second half of each run, per seed, for the variants that measured it; and, per seed, which
  demos-only world model the learned-model runs started from (the first 12 hex digits of its
  file's sha256, for runs that recorded it), so that a reader sees which runs of a seed compare
  from the same start.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

BASELINE = 'hil-serl'
ORDER = ('hil-serl', 'worldsample', 'no-scheduling', 'no-q-selection', 'no-q-selection-rerun', 'no-ppl', 'no-ppl-rerun',
         'worldsample-oracle')
REFERENCES = ('hil-serl', 'worldsample-oracle')       # drawn with the controls, to compare against
# control families by name prefix, first match wins; a control matching none goes to '_controls'
CONTROL_FAMILIES = (('_oracle_policy_controls', 'oracle-policy-actions'), ('_oracle_controls', 'oracle-'))
MAX_BANDS = 8         # past this many variants in one figure the bands hide the curves: no bands, a larger figure


def load_results(folder: Path) -> dict[str, list[dict]]:
    """variant -> results (sorted by seed); a missing folder or one without results is an error."""
    if not folder.is_dir():
        raise FileNotFoundError(f'no result folder {folder}')
    out: dict[str, list[dict]] = {}
    for path in sorted(folder.glob('*/seed*.json')):
        try:
            data = json.loads(path.read_text())
            data['history']['success_rate']
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f'{path}: not a benchmark result ({type(e).__name__}: {e})') from None
        out.setdefault(path.parent.name, []).append(data)
    if not out:
        raise FileNotFoundError(f'no <variant>/seed<k>.json results in {folder}')
    for runs in out.values():
        runs.sort(key=lambda r: r['seed'])
    return {v: out[v] for v in sorted(out, key=lambda v: (ORDER.index(v) if v in ORDER else len(ORDER), v))}


def bootstrap_ci(values: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile-bootstrap band of the mean over seeds (axis 0)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), (n, len(values)))
    means = values[idx].mean(axis=1)
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def steps_to(run: dict, threshold: float) -> tuple[int, bool]:
    """First evaluation step with success >= threshold; (run length, True) when never reached (censored)."""
    h = run['history']
    for step, success in zip(h['env_steps'], h['success_rate']):
        if success >= threshold:
            return step, False
    return h['env_steps'][-1], True


def table(results: dict[str, list[dict]]) -> tuple[list[str], float | None]:
    base = results.get(BASELINE)
    threshold = float(np.mean([r['history']['success_rate'][-1] for r in base])) if base else None
    rows = ['| variant | seeds | final success (per seed) | interventions, last window | steps to baseline final '
            f'success{f" ({threshold:.2f})" if threshold is not None else ""} (per seed; > censored) | '
            'synthetic samples in critic updates | synthetic positive trajectories (truly successful, audited) | '
            'world model PSNR / moving / SSIM, start → end | wall min |',
            '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for variant, runs in results.items():
        final = [r['history']['success_rate'][-1] for r in runs]
        interv = [r['history']['intervention_rate'][-1] for r in runs]
        if threshold is None:
            reach = 'no baseline'
        else:
            hits = [steps_to(r, threshold) for r in runs]
            reach = f'{np.mean([s for s, _ in hits]):.0f} (' + ', '.join(
                f'{">" if c else ""}{s}' for s, c in hits) + ')'
        used = [r['history']['ppl'][-1].get('synthetic_used', 0) if r['history'].get('ppl') else 0 for r in runs]
        positives = _positives(runs)
        fid = '—'
        starts = [r['fidelity'] for r in runs if r.get('fidelity', {}).get('end')]
        if starts:
            def f(k):
                m = [x[k]['both'] for x in starts]
                return (f'{np.mean([x["psnr"] for x in m]):.1f} / {np.mean([x["psnr_moving"] for x in m]):.1f} / '
                        f'{np.mean([x["ssim"] for x in m]):.3f}')
            fid = f'{f("start")} → {f("end")}'
        rows.append(f'| {variant} | {len(runs)} | {np.mean(final):.2f} ({", ".join(f"{x:.2f}" for x in final)}) | '
                    f'{np.mean(interv):.2f} | {reach} | {np.mean(used):.3g} | {positives} | {fid} | '
                    f'{np.mean([r["wall_s"] for r in runs]) / 60:.0f} |')
    return rows, threshold


def _positives(runs: list[dict]) -> str:
    """Per seed: positive synthetic trajectories stored, and how many the label audit found truly
    successful (simulation runs with an audit); '—' for runs without synthetic data."""
    last = [r['history']['synthetic'][-1] for r in runs if r['history'].get('synthetic')]
    last = [s for s in last if s]            # a run without synthetic data records empty entries
    if not last:
        return '—'
    return ', '.join(f'{s["positive"]} ({s["label_audit"]["positive_true"]})' if s.get('label_audit')
                     else str(s['positive']) for s in last)


def _has_q(runs: list[dict]) -> bool:
    """Whether any run recorded a Q-bar on real samples (runs from before it was measured in every
    PPL mode have none, and get no panel in q_values.png)."""
    return any(np.isfinite(s.get('q_real', np.nan)) for r in runs for s in r['history'].get('ppl') or [])


def q_table(results: dict[str, list[dict]]) -> list[str]:
    """Fig. 9 in numbers: per variant that measured it and per seed, the mean Q-bar on real,
    synthetic-positive and synthetic-negative samples over the second half of the run's
    evaluations ('—' where a queue stayed empty)."""
    rows = ['| variant | mean Q real, second half (per seed) | synthetic positive | synthetic negative |',
            '| --- | --- | --- | --- |']
    for variant, runs in results.items():
        if not _has_q(runs):
            continue
        cells = []
        for key in ('q_real', 'q_positive', 'q_negative'):
            per_seed = []
            for r in runs:
                p = r['history']['ppl']
                half = np.array([s[key] for s in p[len(p) // 2:]], np.float64)
                per_seed.append(f'{np.nanmean(half):.2f}' if np.isfinite(half).any() else '—')
            cells.append(' / '.join(per_seed))
        rows.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    return rows if len(rows) > 2 else []


def _offline_set(provenance: dict) -> str:
    """What a run's starting world model was trained on, from its cached file's name
    (``world_model_<set>_seed<k>_...``; 'demos' where the name does not say), and its size where
    not the tiny one (another size is another model by design, not flagged as a difference)."""
    m = re.match(r'world_model_(.+)_seed\d+_', provenance.get('file', ''))
    offline = (m.group(1) if m else 'demos').replace('demos_', 'demos + ', 1).replace('_', ' ')
    size = provenance.get('size', 'tiny')     # runs from before sizes were recorded used the tiny one
    return offline if size == 'tiny' else f'{offline}, {size} model'


def start_models(results: dict[str, list[dict]]) -> list[str]:
    """Per seed and offline set, the pre-trained world models its learned-model runs started from
    (``demo_world_model`` in a result; runs from before it was recorded are left out), and which
    variants started from each, on which CPU; more than one model for the same seed and set is
    flagged (one-thread CPU kernels still sum differently on different CPUs, so each kind of
    machine trains its own)."""
    by_seed: dict[tuple[int, str], dict[str, tuple[list[str], set[str]]]] = {}
    for variant, runs in results.items():
        for r in runs:
            if r.get('demo_world_model'):
                key = (r['seed'], _offline_set(r['demo_world_model']))
                variants, cpus = by_seed.setdefault(key, {}).setdefault(r['demo_world_model']['sha256'][:12],
                                                                         ([], set()))
                variants.append(variant)
                cpus.add(r.get('machine', {}).get('cpu', 'unknown CPU'))
    if not by_seed:
        return []
    rows = ['World model each learned-model run started from, trained on the seed\'s demos (and where named, '
            'more offline data) (sha256 of the weights file, first 12 hex digits; runs that recorded it; '
            'the CPU it ran on):', '']
    for seed, offline in sorted(by_seed, key=lambda k: (k[0], k[1] != 'demos', k[1])):
        models = by_seed[seed, offline]
        listed = '; '.join(f'`{h}` ({", ".join(vs)}; {", ".join(sorted(cpus))})' for h, (vs, cpus) in models.items())
        rows.append(f'- seed {seed}' + ('' if offline == 'demos' else f' ({offline})') + f': {listed}'
                    + (f' — **{len(models)} different models**' if len(models) > 1 else ''))
    return rows


def plot_groups(results: dict[str, list[dict]]) -> dict[str, dict[str, list[dict]]]:
    """File-name suffix -> the variants one figure draws: the paper's rows, and each family of
    controls (``CONTROL_FAMILIES``) that has any, with the baseline and the oracle world model as
    references."""
    groups = {'': {v: rs for v, rs in results.items() if v in ORDER}}
    families: dict[str, dict[str, list[dict]]] = {}
    for v, rs in results.items():
        if v not in ORDER:
            suffix = next((sfx for sfx, prefix in CONTROL_FAMILIES if v.startswith(prefix)), '_controls')
            families.setdefault(suffix, {})[v] = rs
    references = {v: results[v] for v in REFERENCES if v in results}
    for suffix in ('_controls', *(sfx for sfx, _ in CONTROL_FAMILIES)):
        if suffix in families:
            groups[suffix] = {**references, **families[suffix]}
    return {suffix: g for suffix, g in groups.items() if g}


def _color(i: int, n: int):
    import matplotlib
    return matplotlib.colormaps['tab10' if n <= 10 else 'tab20'](i % 20)


def _curves(ax, results, key, ylabel):
    for i, (variant, runs) in enumerate(results.items()):
        color = _color(i, len(results))
        n = min(len(r['history']['env_steps']) for r in runs)
        x = np.asarray(runs[0]['history']['env_steps'][:n])
        y = np.array([r['history'][key][:n] for r in runs], np.float64)
        for row in y:
            ax.plot(x, row, color=color, alpha=0.25, lw=0.8)
        ax.plot(x, y.mean(0), color=color, lw=2, label=f'{variant} ({len(runs)} seeds)')
        if len(runs) > 1 and len(results) <= MAX_BANDS:
            lo, hi = bootstrap_ci(y)
            ax.fill_between(x, lo, hi, color=color, alpha=0.15)
    ax.set_xlabel('environment steps')
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plots(results: dict[str, list[dict]], out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    written = []
    groups = plot_groups(results)
    for suffix, group in groups.items():
        for key, label, name in (('success_rate', 'evaluation success', 'success'),
                                 ('intervention_rate', 'intervention rate (training)', 'interventions')):
            fig, ax = plt.subplots(figsize=(6.5, 4) if len(group) <= MAX_BANDS else (9, 5.5))
            _curves(ax, group, key, label)
            fig.tight_layout()
            fig.savefig(out / f'{name}{suffix}.png', dpi=120)
            plt.close(fig)
            written.append(out / f'{name}{suffix}.png')
    ppl_runs = {v: rs for v, rs in groups.get('', {}).items()
                if any(r['history'].get('ppl') for r in rs) and v != BASELINE}
    if ppl_runs:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for i, (variant, runs) in enumerate(ppl_runs.items()):
            for j, r in enumerate(runs):
                x, p = r['history']['env_steps'], r['history']['ppl']
                axes[0].plot(x, [s['entropy_ema'] for s in p], color=f'C{i}', alpha=0.7,
                             label=variant if j == 0 else None)
                axes[1].plot(x, [s['rho'] for s in p], color=f'C{i}', alpha=0.7, label=variant if j == 0 else None)
        axes[0].set_ylabel('H_t (actor entropy on real states, EMA)')
        axes[1].set_ylabel('rho (synthetic share of the critic batch)')
        for ax in axes:
            ax.set_xlabel('environment steps')
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / 'entropy_rho.png', dpi=120)
        plt.close(fig)
        written.append(out / 'entropy_rho.png')
    q_runs = {v: rs for v, rs in ppl_runs.items() if _has_q(rs)}
    if q_runs:
        fig, axes = plt.subplots(1, len(q_runs), figsize=(4.2 * len(q_runs), 3.6), squeeze=False)
        for ax, (variant, runs) in zip(axes[0], q_runs.items()):
            for key, color in (('q_real', 'k'), ('q_positive', 'C2'), ('q_negative', 'C3')):
                for j, r in enumerate(runs):
                    ax.plot(r['history']['env_steps'], [s[key] for s in r['history']['ppl']], color=color, alpha=0.7,
                            label=key.replace('q_', 'Q ') if j == 0 else None)
            ax.set_title(variant, fontsize=9)
            ax.set_xlabel('environment steps')
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel('mean Q (current critic)')
        fig.tight_layout()
        fig.savefig(out / 'q_values.png', dpi=120)
        plt.close(fig)
        written.append(out / 'q_values.png')
    return written


def write_report(folder: Path, out: Path | None = None) -> Path:
    results = load_results(folder)
    out = out or folder
    out.mkdir(parents=True, exist_ok=True)
    rows, threshold = table(results)
    q_rows = q_table(results)
    start_rows = start_models(results)
    pngs = plots(results, out)
    machines = sorted({f'{r["machine"]["cpu"]}, {r["machine"]["cores"]} cores' for rs in results.values() for r in rs})
    text = [f'# WorldSample benchmark: {folder.name}', '',
            f'Machines: {"; ".join(machines)}. Final success: the last evaluation (20 held-out episodes, '
            'deterministic actor, no interventions).'
            + (f' Threshold for "steps to": the HIL-SERL mean final success, {threshold:.2f}.' if threshold is not None
               else ' No HIL-SERL result yet: steps-to-threshold needs it.'), '', *rows, '',
            *([*q_rows, ''] if q_rows else []),
            *([*start_rows, ''] if start_rows else []),
            *[f'![{p.stem}]({p.name})' for p in pngs]]
    path = out / 'report.md'
    path.write_text('\n'.join(text) + '\n')
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('folder', type=Path, help='results folder: <variant>/seed<k>.json')
    p.add_argument('--out', type=Path, default=None, help='where plots and report.md go (default: the folder)')
    a = p.parse_args(argv)
    try:
        path = write_report(a.folder, a.out)
    except (FileNotFoundError, ValueError) as e:
        print(f'worldsample_report: {e}', file=sys.stderr)
        return 2
    print(path.read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
