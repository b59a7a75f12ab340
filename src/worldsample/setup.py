"""ament_python package: the WorldSample core library and its ROS 2 nodes."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'worldsample'

# Nodes and commands; the launch graph (worldsample.graph) refers to nodes by these names.
CONSOLE_SCRIPTS = [
    'sim_node = worldsample.nodes.sim_node:main',
    'a1x_controller = worldsample.nodes.controller_node:main',
    'policy_node = worldsample.nodes.policy_node:main',
    'sim_human = worldsample.nodes.sim_human_node:main',
    'teleop = worldsample.nodes.teleop_node:main',
    'camera = worldsample.nodes.camera_node:main',
    'recorder = worldsample.nodes.recorder_node:main',
    'reward_model = worldsample.nodes.reward_model_node:main',
    'learner = worldsample.nodes.learner_node:main',
    'world_model = worldsample.nodes.world_model_node:main',
    'world_model_trainer = worldsample.nodes.world_model_trainer_node:main',
    'record_demos = worldsample.commands.record_demos:main',
    'demos_from_bag = worldsample.commands.demos_from_bag:main',
    'calibrate_workspace = worldsample.commands.calibrate_workspace:main',
    'train_sim = worldsample.commands.train_sim:main',
    'train_reward = worldsample.commands.train_reward:main',
    'evaluate_sim = worldsample.commands.evaluate_sim:main',
    'train_world_model = worldsample.commands.train_world_model:main',
    'evaluate_world_model = worldsample.commands.evaluate_world_model:main',
    'worldsample_report = worldsample.commands.report:main',
    'prepare_run = worldsample.commands.prepare_run:main',
    'spacemouse_check = worldsample.commands.spacemouse_check:main',
    'keyboard_teleop = worldsample.commands.keyboard_teleop:main',
    'launch_runner = worldsample.launch_runner:main',
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('../../launch/*.launch.py')),
        (f'share/{PACKAGE}/config',
         glob('../../config/*.yaml') + glob('../../config/*.rviz') + glob('../../config/*.xml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='WorldSample developers',
    maintainer_email='dev@worldsample.org',
    description='Real-robot RL with world-model data augmentation (core + ROS 2 nodes).',
    license='Apache-2.0',
    entry_points={'console_scripts': CONSOLE_SCRIPTS},
)
