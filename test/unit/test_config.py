import pytest

from worldsample.core.config import ConfigError, load_config


def _write(tmp_path, text, name='task.yaml'):
    src = load_config.__globals__['config_dir']()
    for ref in ('robot_a1x.yaml', 'cameras_d435i.yaml'):
        (tmp_path / ref).write_text((src / ref).read_text())
    path = tmp_path / name
    path.write_text(text)
    return path


def test_insertion_config_loads(cfg):
    assert cfg.task.name == 'insertion'
    assert cfg.task.action.active == (True, True, True, False, False, False, False)
    assert [c.name for c in cfg.cameras] == ['wrist_camera', 'side_camera']
    assert cfg.robot.topics.target_pose == '/motion_target/target_pose_arm'
    assert cfg.sim.timestep * cfg.sim.substeps == pytest.approx(1.0 / cfg.task.control_hz)


def test_unknown_key_is_named(tmp_path):
    src = (load_config.__globals__['config_dir']() / 'insertion.yaml').read_text()
    path = _write(tmp_path, src.replace('  control_hz: 10.0', '  control_hz: 10.0\n  contol_rate: 3'))
    with pytest.raises(ConfigError, match="unknown key.*contol_rate"):
        load_config(path)


def test_missing_key_is_named(tmp_path):
    src = (load_config.__globals__['config_dir']() / 'insertion.yaml').read_text()
    path = _write(tmp_path, src.replace('  max_episode_steps: 100\n', ''))
    with pytest.raises(ConfigError, match="missing key.*max_episode_steps"):
        load_config(path)


def test_wrong_type_and_bad_box(tmp_path):
    src = (load_config.__globals__['config_dir']() / 'insertion.yaml').read_text()
    with pytest.raises(ConfigError, match='expected a number'):
        load_config(_write(tmp_path, src.replace('scale_pos: 0.01', 'scale_pos: fast')))
    with pytest.raises(ConfigError, match='must be below'):
        load_config(_write(tmp_path, src.replace('low: [0.27, -0.06, 0.052]', 'low: [0.5, -0.06, 0.052]')))
    with pytest.raises(ConfigError, match="sampling_precision must be 'bfloat16' or 'float32'"):
        load_config(_write(tmp_path, src.replace('sampling_precision: bfloat16', 'sampling_precision: fp8')))


def test_missing_file():
    with pytest.raises(ConfigError, match='not found'):
        load_config('no_such_task')
