import pytest

from worldsample.graph import GraphError, build_graph
from worldsample.launch_runner import parse_arguments


def test_default_sim_graph():
    names = [n.name for n in build_graph({})]
    assert names == ['sim', 'a1x_controller', 'sim_human', 'policy', 'recorder']


def test_real_backend_has_no_sim_nodes_and_needs_a_reward_model():
    graph = build_graph({'backend': 'real', 'record': 'false', 'reward_model': 'runs/rm'})
    assert [n.name for n in graph] == ['wrist_camera_node', 'side_camera_node', 'a1x_controller', 'teleop',
                                       'reward_model', 'policy']
    assert [(n.executable, n.parameters['camera'], n.required) for n in graph[:2]] == [
        ('camera', 'wrist_camera', True), ('camera', 'side_camera', True)]
    assert graph[-1].parameters['success_source'] == 'reward_model'
    assert graph[3].parameters['joy_topic'] == '/spacenav/joy'
    # realsense2_camera serving the camera topics instead
    assert 'wrist_camera_node' not in [n.name for n in build_graph({'backend': 'real', 'reward_model': 'rm',
                                                                    'cameras': 'false'})]
    with pytest.raises(GraphError, match='for backend:=real'):
        build_graph({'cameras': 'true'})
    played = build_graph({'backend': 'real', 'reward_model': 'rm', 'camera_recordings': 'runs/rec'})
    assert [n.parameters['source'] for n in played[:2]] == ['runs/rec/wrist_camera.db3', 'runs/rec/side_camera.db3']
    assert graph[0].parameters['source'] == ''
    with pytest.raises(GraphError, match='needs reward_model'):
        build_graph({'backend': 'real'})


def test_teleop_runs_on_the_real_cell_and_on_request_in_sim():
    assert 'teleop' not in [n.name for n in build_graph({})]
    names = [n.name for n in build_graph({'teleop': 'true', 'human': 'false', 'joy_topic': '/joy'})]
    assert names == ['sim', 'a1x_controller', 'teleop', 'policy', 'recorder']
    real = build_graph({'backend': 'real', 'reward_model': 'rm', 'teleop': 'false'})
    assert 'teleop' not in [n.name for n in real]
    with pytest.raises(GraphError, match='true or false'):
        build_graph({'teleop': 'sometimes'})
    hid = build_graph({'backend': 'real', 'reward_model': 'rm', 'teleop_device': 'hid'})
    assert next(n for n in hid if n.name == 'teleop').parameters['device'] == 'hid'
    with pytest.raises(GraphError, match='joy or hid'):
        build_graph({'backend': 'real', 'reward_model': 'rm', 'teleop_device': 'keyboard'})


def test_episodes_end_the_graph():
    policy = next(n for n in build_graph({'episodes': '3'}) if n.name == 'policy')
    assert policy.exit_ends_graph and policy.parameters['episodes'] == 3


def test_the_policy_waits_for_the_recorder_only_when_the_graph_records():
    graph = build_graph({})
    assert graph[-1].name == 'recorder'
    assert next(n for n in graph if n.name == 'policy').parameters['recorder'] == graph[-1].name
    unrecorded = build_graph({'record': 'false'})
    assert 'recorder' not in [n.name for n in unrecorded]
    assert next(n for n in unrecorded if n.name == 'policy').parameters['recorder'] == ''


def test_sac_actor_brings_a_learner_that_is_not_required():
    graph = build_graph({'actor': 'sac', 'demos': 'runs/demos/demos.npz', 'run_dir': 'runs/x', 'seed': '4'})
    assert [n.name for n in graph] == ['sim', 'a1x_controller', 'sim_human', 'policy', 'learner', 'recorder']
    learner = graph[4]
    assert not learner.required and all(n.required for n in graph if n is not learner)
    assert learner.parameters == {'task': 'insertion', 'run_dir': 'runs/x', 'demos': 'runs/demos/demos.npz',
                                  'seed': 4, 'ppl_mode': ''}
    assert build_graph({'actor': 'sac', 'ppl': 'no_q_selection'})[4].parameters['ppl_mode'] == 'no_q_selection'
    assert 'learner' not in [n.name for n in build_graph({'actor': 'sac', 'learner': 'false'})]
    assert 'learner' not in [n.name for n in build_graph({'actor': 'expert'})]


def test_world_model_workers_and_post_training():
    graph = build_graph({'world_model': 'w.safetensors', 'reward_model': 'rm', 'world_model_workers': '2',
                         'world_model_size': 'tiny', 'demos': 'd.npz', 'record': 'false'})
    wm = [n for n in graph if n.executable.startswith('world_model')]
    assert [n.name for n in wm] == ['world_model_0', 'world_model_1', 'world_model_trainer']
    assert [n.parameters.get('seed') for n in wm] == [0, 1, None] and not any(n.required for n in wm)
    assert wm[2].parameters['demos'] == 'd.npz' and all(n.parameters['size'] == 'tiny' for n in wm)
    assert 'world_model_trainer' not in [n.name for n in build_graph(
        {'world_model': 'w', 'reward_model': 'rm', 'post_train': 'false'})]
    with pytest.raises(GraphError, match='needs reward_model'):
        build_graph({'world_model': 'w.safetensors'})
    with pytest.raises(GraphError, match='at least 1'):
        build_graph({'world_model': 'w', 'reward_model': 'rm', 'world_model_workers': '0'})


@pytest.mark.parametrize('args, why', [
    ({'backend': 'gazebo'}, 'backend'), ({'record': 'maybe'}, 'true or false'),
    ({'episodes': 'x'}, 'integer'), ({'actor': 'sac9'}, 'actor'), ({'speed': '1'}, 'unknown launch argument'),
    ({'ppl': 'half'}, 'ppl')])
def test_bad_arguments(args, why):
    with pytest.raises(GraphError, match=why):
        build_graph(args)


def test_a_task_launch_file_defaults_to_its_task_and_an_explicit_task_wins():
    from worldsample.launch_runner import package_paths, task_arguments
    launch_dir = package_paths()[1]
    assert task_arguments('insertion.launch.py', {'record': 'false'}, launch_dir) == {
        'task': 'insertion', 'record': 'false'}
    # an operator's calibrated cell (its workspace box) must not be swapped for the stock task
    assert task_arguments('insertion.launch.py', {'task': 'runs/operator/cell.yaml'}, launch_dir)['task'] == \
        'runs/operator/cell.yaml'
    assert 'task' not in task_arguments('worldsample_cell.launch.py', {}, launch_dir)
    with pytest.raises(GraphError, match='no launch file'):
        task_arguments('peg.launch.py', {}, launch_dir)


def test_runner_argument_parsing():
    assert parse_arguments(['insertion.launch.py', 'record:=false']) == ('insertion.launch.py', {'record': 'false'})
    with pytest.raises(GraphError, match='name:=value'):
        parse_arguments(['insertion.launch.py', 'record=false'])
    with pytest.raises(GraphError, match='usage'):
        parse_arguments([])


def test_the_operators_recording_sessions():
    demos = build_graph({'collect': 'demos', 'episodes': '20', 'bag': 'runs/op/demos'})
    assert [n.name for n in demos] == ['sim', 'a1x_controller', 'teleop', 'policy', 'recorder']
    policy = demos[3]
    assert {k: policy.parameters[k] for k in ('actor', 'success_source', 'collect', 'episodes')} == {
        'actor': 'zero', 'success_source': 'operator', 'collect': 'demos', 'episodes': 20}
    assert build_graph({})[3].parameters['success_source'] == 'sim'
    real = build_graph({'backend': 'real', 'collect': 'labels'})          # no reward model needed: the operator
    assert [n.name for n in real] == ['wrist_camera_node', 'side_camera_node', 'a1x_controller', 'teleop',
                                      'policy', 'recorder']
    assert real[4].parameters['collect'] == 'labels'
    from worldsample.graph import ARGUMENTS
    every = {k: default for k, (default, _) in ARGUMENTS.items()}     # as ros2 launch passes them
    assert build_graph({**every, 'collect': 'labels'})[3].parameters['collect'] == 'labels'
    for bad, match in (({'collect': 'play'}, 'must be one of'), ({'collect': 'demos', 'actor': 'sac'}, 'actor'),
                       ({'collect': 'labels', 'reward_model': 'rm'}, 'reward_model'),
                       ({'collect': 'demos', 'teleop': 'false'}, 'needs the operator'),
                       ({'collect': 'demos', 'record': 'false'}, 'writes its bag')):
        with pytest.raises(GraphError, match=match):
            build_graph(bad)


def test_dry_run_scales_the_controllers_commands_to_zero():
    assert build_graph({})[1].parameters['command_scale'] == 1.0
    assert build_graph({'dry_run': 'true'})[1].parameters['command_scale'] == 0.0
    with pytest.raises(GraphError, match='true or false'):
        build_graph({'dry_run': 'maybe'})


def test_a_calibrated_task_yaml_names_the_default_bag_by_its_stem():
    recorder = build_graph({'task': 'runs/operator/cell.yaml'})[-1]
    assert recorder.parameters['output'].startswith('runs/bags/cell_')


def test_restartable_nodes_are_respawned_and_the_cell_is_not():
    from worldsample.graph import NodeSpec
    from worldsample.launch_runner import respawn_delay
    graph = build_graph({'actor': 'sac', 'reward_model': 'rm', 'world_model': 'wm.safetensors',
                         'world_model_workers': '2'})
    respawned = sorted(n.name for n in graph if n.respawn)
    assert respawned == ['learner', 'reward_model', 'world_model_0', 'world_model_1', 'world_model_trainer']
    assert all(n.required for n in graph if n.name in ('sim', 'a1x_controller', 'policy'))
    with pytest.raises(ValueError, match='cannot be required'):
        NodeSpec('x', 'x', respawn=True)
    assert [respawn_delay(k) for k in (1, 2, 3, 4, 6, 9)] == [1.0, 2.0, 4.0, 8.0, 30.0, 30.0]


def test_background_cpus_leave_the_lowest_cpu_to_the_control_loop():
    from worldsample.nodes.common import background_cpus
    assert background_cpus('auto', {0, 1}) == {1} and background_cpus('auto', {2, 3, 5}) == {3, 5}
    assert background_cpus('auto', {0}) == {0}                      # one CPU: nothing to keep free
    assert background_cpus('', {0, 1}) == {0, 1} and background_cpus('1,3', {0, 1, 2, 3}) == {1, 3}
    for bad in ('x', '7', ','):
        with pytest.raises(ValueError, match='cpus'):
            background_cpus(bad, {0, 1})


def test_dds_profiles_keep_a_simulated_cell_on_loopback_udp_and_leave_a_users_choice_alone():
    from worldsample.core.config import config_dir
    from worldsample.dds import dds_environment
    ours = str(config_dir() / 'fastdds.xml')
    local = str(config_dir() / 'fastdds_localhost.xml')
    assert dds_environment({}, local_only=True) == {'FASTDDS_DEFAULT_PROFILES_FILE': local}
    assert dds_environment({'FASTDDS_DEFAULT_PROFILES_FILE': ours}, local_only=True) == {'FASTDDS_DEFAULT_PROFILES_FILE': local}
    assert dds_environment({'FASTDDS_DEFAULT_PROFILES_FILE': ours}, local_only=False) == {'FASTDDS_DEFAULT_PROFILES_FILE': ours}
    assert dds_environment({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SUBNET'}, local_only=True) == {}
    assert dds_environment({'FASTDDS_DEFAULT_PROFILES_FILE': '/etc/mine.xml'}, local_only=True) == {}
    for name in ('fastdds.xml', 'fastdds_localhost.xml'):     # neither lets Fast DDS add shared memory
        text = (config_dir() / name).read_text()
        assert '<useBuiltinTransports>false</useBuiltinTransports>' in text and '<type>SHM</type>' not in text
