"""The benchmark report: result files in, plots and a Table 2b-style Markdown table out."""
import json

import pytest

from worldsample.commands.report import (MAX_BANDS, _curves, load_results, main, plot_groups, q_table, start_models,
                                        steps_to, write_report)


def _result(variant, seed, success, ppl=True):
    steps = [1000 * (i + 1) for i in range(len(success))]
    hist = {'env_steps': steps, 'success_rate': success, 'intervention_rate': [0.3 - 0.01 * i for i in range(len(success))],
            'ppl': [{'entropy_ema': -1.0 - 0.1 * i, 'rho': 0.03 + 0.01 * i, 'q_real': 0.5, 'q_positive': 0.8,
                     'q_negative': 0.2, 'synthetic_used': 1000.0 * (i + 1)} for i in range(len(success))] if ppl else [],
            'synthetic': [{'positive': 7 * seed, 'label_audit': {'positive_true': 5 * seed} if seed else None}
                          for _ in success] if ppl else [{} for _ in success]}    # as the trainer records them
    return {'machine': {'cpu': 'test cpu', 'cores': 2}, 'variant': variant, 'seed': seed, 'wall_s': 600.0,
            'history': hist, 'fidelity': {}}


def test_report_marks_censored_seeds_and_writes_plots(tmp_path, capsys):
    runs = {'hil-serl': [[0.0, 0.5, 0.6], [0.1, 0.4, 0.6]], 'worldsample': [[0.2, 0.7, 0.9], [0.0, 0.1, 0.3]]}
    for variant, curves in runs.items():
        for seed, curve in enumerate(curves):
            path = tmp_path / variant / f'seed{seed}.json'
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_result(variant, seed, curve, ppl=variant != 'hil-serl')))
    results = load_results(tmp_path)
    assert list(results) == ['hil-serl', 'worldsample']
    assert steps_to(results['worldsample'][0], 0.6) == (2000, False)
    assert steps_to(results['worldsample'][1], 0.6) == (3000, True)           # never reached: censored at the run length
    report = write_report(tmp_path).read_text()
    assert 'HIL-SERL mean final success, 0.60' in report
    row = next(line for line in report.splitlines() if line.startswith('| worldsample |'))
    assert '0.60 (0.90, 0.30)' in row and '2500 (2000, >3000)' in row and '3e+03' in row
    assert '| 0, 7 (5) |' in row            # positives per seed, the audited true ones where audited
    assert '| 0 | — | — |' in next(line for line in report.splitlines() if line.startswith('| hil-serl |'))
    for png in ('success.png', 'interventions.png', 'entropy_rho.png', 'q_values.png'):
        assert (tmp_path / png).stat().st_size > 5000
    assert not (tmp_path / 'success_controls.png').exists()        # no controls: the paper's rows only
    assert main([str(tmp_path / 'nothing')]) == 2 and 'no result folder' in capsys.readouterr().err
    (tmp_path / 'hil-serl' / 'seed0.json').write_text('{"history": ')
    with pytest.raises(ValueError, match='not a benchmark result'):
        load_results(tmp_path)


def test_controls_get_their_own_figures_against_the_references(tmp_path):
    for variant in ('hil-serl', 'worldsample', 'worldsample-oracle', 'oracle-k8', 'extra-real',
                    'oracle-policy-actions', 'oracle-policy-actions-k8', 'worldsample-policy-actions'):
        path = tmp_path / variant / 'seed0.json'
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_result(variant, 0, [0.1, 0.5, 0.8], ppl=variant != 'hil-serl')))
    groups = plot_groups(load_results(tmp_path))
    assert list(groups) == ['', '_controls', '_oracle_policy_controls', '_oracle_controls']
    assert list(groups['']) == ['hil-serl', 'worldsample', 'worldsample-oracle']
    refs = ['hil-serl', 'worldsample-oracle']
    assert list(groups['_controls']) == refs + ['extra-real', 'worldsample-policy-actions']
    assert list(groups['_oracle_policy_controls']) == refs + ['oracle-policy-actions', 'oracle-policy-actions-k8']
    assert list(groups['_oracle_controls']) == refs + ['oracle-k8']
    report = write_report(tmp_path).read_text()
    for png in ('success.png', 'interventions.png', 'entropy_rho.png', 'q_values.png',
                *(f'{name}{sfx}.png' for name in ('success', 'interventions')
                  for sfx in ('_controls', '_oracle_policy_controls', '_oracle_controls'))):
        assert (tmp_path / png).stat().st_size > 5000 and f']({png})' in report


@pytest.mark.parametrize('n', [2, MAX_BANDS + 1])
def test_confidence_bands_are_drawn_until_they_would_hide_the_curves(n):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    results = {f'v{i}': [_result(f'v{i}', s, [0.1 * s, 0.5, 0.2 * i]) for s in (1, 2)] for i in range(n)}
    fig, ax = plt.subplots()
    _curves(ax, results, 'success_rate', 'evaluation success')
    assert len(ax.collections) == (n if n <= MAX_BANDS else 0)
    assert len(ax.lines) == 3 * n                 # two seeds and the mean per variant, always
    assert len({line.get_color() for line in ax.lines[2::3]}) == n      # one colour per variant
    plt.close(fig)


def test_runs_without_q_measurements_get_no_q_panel(tmp_path):
    from worldsample.commands.report import _has_q
    unmeasured = _result('no-ppl', 0, [0.1, 0.5])
    for s in unmeasured['history']['ppl']:           # recorded before Q-bar was measured in every mode
        s.update(q_real=float('nan'), q_positive=float('nan'), q_negative=float('nan'))
    assert not _has_q([unmeasured]) and _has_q([unmeasured, _result('no-ppl', 1, [0.1, 0.5])])
    path = tmp_path / 'no-ppl' / 'seed0.json'
    path.parent.mkdir()
    path.write_text(json.dumps(unmeasured))
    report = write_report(tmp_path).read_text()
    assert (tmp_path / 'entropy_rho.png').is_file()
    assert not (tmp_path / 'q_values.png').exists() and 'q_values.png' not in report


def test_q_table_gives_fig9_in_numbers_per_seed(tmp_path):
    runs = [_result('worldsample', s, [0.1, 0.5, 0.6, 0.8]) for s in (0, 1)]
    for i, s in enumerate(runs[1]['history']['ppl']):         # seed 1: Q rises, no positive queue
        s.update(q_real=0.1 * i, q_positive=float('nan'))
    unmeasured = _result('no-ppl', 0, [0.1, 0.5])
    for s in unmeasured['history']['ppl']:
        s.update(q_real=float('nan'), q_positive=float('nan'), q_negative=float('nan'))
    rows = q_table({'hil-serl': [_result('hil-serl', 0, [0.1, 0.5], ppl=False)], 'worldsample': runs,
                    'no-ppl': [unmeasured]})
    assert rows[2:] == ['| worldsample | 0.50 / 0.25 | 0.80 / — | 0.20 / 0.20 |']     # second half: steps 3, 4
    assert q_table({'no-ppl': [unmeasured]}) == []
    for variant, rs in (('worldsample', runs), ('no-ppl', [unmeasured])):
        for r in rs:
            path = tmp_path / variant / f'seed{r["seed"]}.json'
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(r))
    assert '| worldsample | 0.50 / 0.25 |' in write_report(tmp_path).read_text()


def test_start_models_name_each_seeds_demos_only_world_models_and_flag_differences(tmp_path):
    def run(variant, seed, sha, offline=None, size=None):
        r = _result(variant, seed, [0.1, 0.5])
        if sha:
            r['demo_world_model'] = {'sha256': sha * 64, 'trained_in_this_run': False}
        if size:
            r['demo_world_model']['size'] = size
        if offline:
            r['demo_world_model']['file'] = f'world_model_{offline}_seed{seed}_1000_1thread.safetensors'
        return r
    results = {'hil-serl': [run('hil-serl', 0, None)],
               'worldsample': [run('worldsample', 0, 'a', 'demos'), run('worldsample', 1, 'b')],
               'no-ppl': [run('no-ppl', 0, 'a'), run('no-ppl', 1, 'c')], 'old': [run('old', 1, None)],
               # another offline set: another model by design, not flagged
               'worldsample-reward-episodes': [run('worldsample-reward-episodes', 0, 'd', 'demos_reward_episodes')],
               # another size: another model by design, not flagged; 'tiny' recorded is the unrecorded default
               'worldsample-64px': [run('worldsample-64px', 0, 'e', 'demos', 'tiny64')],
               'no-scheduling': [run('no-scheduling', 0, 'a', 'demos', 'tiny')]}
    results['no-ppl'][1]['machine']['cpu'] = 'other cpu'
    rows = start_models(results)
    assert rows[2] == f'- seed 0: `{"a" * 12}` (worldsample, no-ppl, no-scheduling; test cpu)'
    assert rows[3] == f'- seed 0 (demos + reward episodes): `{"d" * 12}` (worldsample-reward-episodes; test cpu)'
    assert rows[4] == f'- seed 0 (demos, tiny64 model): `{"e" * 12}` (worldsample-64px; test cpu)'
    assert rows[5] == (f'- seed 1: `{"b" * 12}` (worldsample; test cpu); `{"c" * 12}` (no-ppl; other cpu) — '
                       '**2 different models**')
    assert len(rows) == 6 and start_models({'hil-serl': results['hil-serl'], 'old': results['old']}) == []
    for variant, rs in results.items():
        for r in rs:
            path = tmp_path / variant / f'seed{r["seed"]}.json'
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(r))
    assert rows[3] in write_report(tmp_path).read_text()
