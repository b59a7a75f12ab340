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
    # both spellings of the driver's pose target (ROS 2 release first: the sim serves that one)
    assert cfg.robot.topics.target_pose == ('/motion_target/target_pose_arm', '/motion_target/pose_ee_arm')
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
    with pytest.raises(ConfigError, match='label_holdout_every >= 2'):      # 1 would hold out every episode
        load_config(_write(tmp_path, src.replace('label_holdout_every: 5', 'label_holdout_every: 1')))
    with pytest.raises(ConfigError, match="label_frames must be 'predicted' or 'corrected'"):
        load_config(_write(tmp_path, src.replace('label_frames: predicted', 'label_frames: raw')))
    corrected = src.replace('label_frames: predicted', 'label_frames: corrected')
    assert load_config(_write(tmp_path, corrected)).world_model.label_frames == 'corrected'
    for other in (('residual_correction: true', 'residual_correction: false'),
                  ('success_pose_gate: false', 'success_pose_gate: true')):
        with pytest.raises(ConfigError, match='needs residual_correction and replaces label calibration'):
            load_config(_write(tmp_path, corrected.replace(*other)))


def test_missing_file():
    with pytest.raises(ConfigError, match='not found'):
        load_config('no_such_task')


def test_a_task_extends_another_and_changes_only_what_it_names(tmp_path, cfg):
    base = (load_config.__globals__['config_dir']() / 'insertion.yaml').read_text()
    _write(tmp_path, base, 'base.yaml')
    path = _write(tmp_path, 'extends: base.yaml\ntask:\n  name: moved\n  scene:\n    hole_yaw_noise: 0.2\n', 'moved.yaml')
    moved = load_config(path)
    assert moved.task.name == 'moved' and moved.task.scene.hole_yaw_noise == 0.2
    assert moved.task.scene.hole_size == cfg.task.scene.hole_size and moved.agent == cfg.agent
    (tmp_path / 'loop.yaml').write_text('extends: loop.yaml\n')
    with pytest.raises(ConfigError, match='extends itself'):
        load_config(tmp_path / 'loop.yaml')
    with pytest.raises(ConfigError, match=r"orphan.yaml: extends 'nothing.yaml', which is not a file"):
        load_config(_write(tmp_path, 'extends: nothing.yaml\n', 'orphan.yaml'))
    # a cut-off task YAML naming a camera YAML that is not there: the error names the task
    with pytest.raises(ConfigError, match=r"cut.yaml: its cameras YAML 'c' is not a file"):
        load_config(_write(tmp_path, 'robot: robot_a1x.yaml\ncameras: c', 'cut.yaml'))


def test_the_benchmark_task_moves_and_turns_the_board_and_uses_rz():
    vision = load_config('insertion_vision')
    assert vision.task.scene.hole_xy_noise == (0.03, 0.03) and vision.task.scene.hole_yaw_noise == 0.25
    assert vision.task.action.active == (True, True, True, False, False, True, False)
    assert vision.task.scene.hole_size - vision.task.scene.peg_size == pytest.approx(0.0025)


def test_robot_yaml_extends_and_tool_checks(tmp_path):
    vision = load_config('insertion_vision')
    assert vision.robot.tool.tcp_offset_m == pytest.approx(0.03735)       # the short-finger gripper
    assert vision.robot.topics == load_config('insertion').robot.topics     # the rest from robot_a1x.yaml
    src = load_config.__globals__['config_dir']()
    task = (src / 'insertion.yaml').read_text().replace('robot: robot_a1x.yaml', 'robot: robot_bad.yaml')
    path = _write(tmp_path, task)
    (tmp_path / 'robot_bad.yaml').write_text(
        'extends: robot_a1x.yaml\nrobot:\n  tool:\n    tcp_offset_m: 0.01\n    finger_root_m: 0.03\n')
    with pytest.raises(ConfigError, match='finger_root_m < tcp_offset_m'):
        load_config(path)
    (tmp_path / 'robot_bad.yaml').write_text(
        'extends: robot_a1x.yaml\nrobot:\n  joint_names: [a, b, c, d, e, e]\n')
    with pytest.raises(ConfigError, match='6 distinct joints'):
        load_config(path)
