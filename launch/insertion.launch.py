"""Peg-in-hole insertion cell: ros2 launch worldsample insertion.launch.py [backend:=real] [record:=false] ..."""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from worldsample.graph import ARGUMENTS


def generate_launch_description():
    shared = os.path.join(get_package_share_directory('worldsample'), 'launch', 'worldsample_cell.launch.py')
    forwarded = {name: LaunchConfiguration(name, default=default) for name, (default, _) in ARGUMENTS.items()}
    forwarded['task'] = LaunchConfiguration('task', default='insertion')   # task:=<name or YAML> wins
    return LaunchDescription([IncludeLaunchDescription(PythonLaunchDescriptionSource(shared),
                                                       launch_arguments=forwarded.items())])
