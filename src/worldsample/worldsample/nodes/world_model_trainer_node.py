"""world_model_trainer node: asynchronous post-training of the world model on the live rollouts.

Collects the real stream ``/worldsample/transitions`` into episodes (core
training.RolloutEpisodes: the episodes the world_model workers calibrate their labels on are
left out),
trains in a background thread on the demo dataset (``demos``, optional) mixed with the
rollouts (recency-weighted, core.worldmodel.training.mix) and writes the weights atomically to
``weights`` every ``save_every_s``; the world_model workers watching that file pick them up
without a restart. The file records how many updates had rollouts in their data: the workers
generate only once that reaches the warm-up (``train.post_train_warmup``). It starts from the existing weights file when there is one (else from
scratch) and waits for data before training. Runs at CPU niceness ``nice`` (10).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from rclpy.node import Node
from rclpy.task import Future
from worldsample_msgs.msg import Transition

from ..core.worldmodel.model import WorldModel, sized
from ..core.worldmodel.training import RolloutEpisodes, load_episodes, mix, train
from .common import (TRANSITION_QOS, TRANSITION_TOPIC, declare_config, real_step, yield_to_control_loop, spin_node)

LOG_EVERY_S = 30.0


class WorldModelTrainerNode(Node):
    def __init__(self):
        super().__init__('world_model_trainer')
        yield_to_control_loop(self)    # niceness 10, off the control loop's CPU (parameters nice, cpus)
        self.cfg = declare_config(self)
        self.wm_cfg = sized(self.cfg.world_model, self.declare_parameter('size', 'default').value)
        self.weights = Path(self.declare_parameter('weights', 'runs/world_model/world_model.safetensors').value)
        demos = self.declare_parameter('demos', '').value
        device = self.declare_parameter('device', '').value or None
        seed = int(self.declare_parameter('seed', 0).value)
        threads = int(self.declare_parameter('threads', 1).value)   # torch threads; 0 = torch's default (all cores)
        self.save_every = float(self.declare_parameter('save_every_s', 60.0).value)
        max_episodes = int(self.declare_parameter('max_rollout_episodes', 2000).value)
        if threads:
            torch.set_num_threads(threads)
        self.demos = load_episodes(demos, self.wm_cfg) if demos else []
        self.model = (WorldModel.load(self.weights, self.wm_cfg, device) if self.weights.is_file()
                      else WorldModel(self.wm_cfg, seed, device))
        self.rollouts: deque = deque(maxlen=max_episodes)
        self.stream = RolloutEpisodes(self.wm_cfg)    # the workers calibrate labels on the episodes it leaves out
        self.lock = threading.Lock()
        self.rng = np.random.default_rng(seed)
        self.stop = threading.Event()
        self.finished = Future()              # fails if the training thread dies
        self.create_subscription(Transition, TRANSITION_TOPIC, self.on_transition, TRANSITION_QOS)
        self.thread = threading.Thread(target=self._train, name='post-train', daemon=True)
        self.thread.start()
        self.get_logger().info(f'post-training {self.weights} ({self.model.steps} steps so far) on {self.model.device}; '
                               f'{len(self.demos)} demo episodes')

    def on_transition(self, msg: Transition) -> None:
        step = real_step(self, msg, self.cfg)
        done = self.stream.add(*step) if step else []
        if done:
            with self.lock:
                self.rollouts.extend(done)

    def _train(self) -> None:
        try:
            last_save = last_log = time.monotonic()
            seen, losses = -1, []
            while not self.stop.is_set():
                with self.lock:
                    rollouts = list(self.rollouts)
                if not self.demos and not rollouts:
                    self.stop.wait(1.0)
                    continue
                if len(rollouts) != seen:        # the mix changes only when an episode arrives
                    episodes, weights = mix(self.demos, rollouts, self.wm_cfg)
                    seen = len(rollouts)
                losses += train(self.model, episodes, weights, 1, self.rng, rollouts=bool(rollouts))
                now = time.monotonic()
                if now - last_save >= self.save_every:
                    self.model.save(self.weights)
                    last_save = now
                if now - last_log >= LOG_EVERY_S:
                    self.get_logger().info(f'{self.model.steps} steps ({self.model.rollout_steps} with rollouts), '
                                           f'loss {np.mean(losses):.4f}, '
                                           f'{len(rollouts)} rollout episodes')
                    last_log, losses = now, []
        except Exception as e:
            self.get_logger().error(f'post-training stopped: {type(e).__name__}: {e}')
            self.finished.set_exception(RuntimeError(f'post-training failed: {type(e).__name__}: {e}'))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        if not self.finished.done() and self.model.steps:
            self.model.save(self.weights)
            print(f'saved {self.weights} at {self.model.steps} steps', flush=True)


def main(args=None):
    spin_node(WorldModelTrainerNode, args)


if __name__ == '__main__':
    main()
