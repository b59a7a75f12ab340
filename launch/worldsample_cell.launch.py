"""Shared graph of a WorldSample cell; the task launch files include this one.

The node list comes from ``worldsample.graph`` (one definition, also used by
``./ws launch`` where ros2 launch is absent). With ``record:=true`` the rollout topics are
recorded with ``ros2 bag record -s mcap``.
"""
import os
import shutil

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, ExecuteProcess, OpaqueFunction, RegisterEventHandler,
                            SetEnvironmentVariable, TimerAction)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from worldsample.core.config import load_config
from worldsample.dds import dds_environment
from worldsample.graph import ARGUMENTS, build_graph
from worldsample.launch_runner import FINISH_DRAIN_S, RESPAWN_DELAY_S


def _nodes(context):
    args = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    actions = []
    # UDP without shared memory; a simulated cell talks to no other machine unless the user says so
    for name, value in dds_environment(os.environ, local_only=args['backend'] == 'sim').items():
        actions.append(SetEnvironmentVariable(name, value))
    for spec in build_graph(args):
        if spec.executable == 'recorder' and shutil.which('ros2'):
            topics = load_config(spec.parameters['task']).task.recorder_topics
            actions.append(ExecuteProcess(cmd=['ros2', 'bag', 'record', '-s', 'mcap', '-o',
                                               spec.parameters['output'], *topics], output='screen'))
            continue
        # launch_ros respawns after a fixed delay (the pip-only runner doubles it per quick death)
        node = Node(package='worldsample', executable=spec.executable, name=spec.name,
                    parameters=[spec.parameters], output='screen', emulate_tty=True,
                    respawn=spec.respawn, respawn_delay=RESPAWN_DELAY_S if spec.respawn else None)
        actions.append(node)
        if spec.exit_ends_graph:
            # after a moment, so that the recorder takes what it has received (as the pip-only runner)
            actions.append(RegisterEventHandler(OnProcessExit(
                target_action=node, on_exit=[TimerAction(period=FINISH_DRAIN_S, actions=[
                    EmitEvent(event=Shutdown(reason=f'{spec.name} finished'))])])))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc)
         for name, (default, desc) in ARGUMENTS.items()]
        + [OpaqueFunction(function=_nodes)])
