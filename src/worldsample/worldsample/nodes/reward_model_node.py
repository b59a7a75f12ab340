"""reward_model node: serves the success classifier as ``/reward_model/score`` (ScoreFrames).

Parameter ``model_dir``: a folder written by ``train_reward`` (encoder, classifier, threshold).
Bad requests get ``ok = false`` and a message; the node keeps serving.
"""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from worldsample_msgs.srv import ScoreFrames

from ..core.reward.classifier import RewardModel
from .common import ImageError, declare_config, image_to_array, spin_node


class RewardModelNode(Node):
    def __init__(self):
        super().__init__('reward_model')
        self.cfg = declare_config(self)
        model_dir = self.declare_parameter('model_dir', 'runs/reward_model').value
        self.model = RewardModel.load(model_dir)
        self.create_service(ScoreFrames, '~/score', self.on_score)
        self.get_logger().info(f'reward model from {model_dir} (threshold {self.model.threshold}) on ~/score')

    def on_score(self, request: ScoreFrames.Request, response: ScoreFrames.Response) -> ScoreFrames.Response:
        response.threshold = float(self.model.threshold)
        if len(request.wrist) != len(request.side) or not request.wrist:
            response.ok = False
            response.message = f'need equal, non-empty wrist/side lists, got {len(request.wrist)}/{len(request.side)}'
            return response
        frames = {}
        try:
            for name, images in (('wrist_camera', request.wrist), ('side_camera', request.side)):
                cam = self.cfg.camera(name)
                frames[name] = np.stack([image_to_array(m, (cam.height, cam.width)) for m in images])
        except ImageError as e:
            response.ok, response.message = False, f'{name}: {e}'
            self.get_logger().warning(f'score request rejected: {response.message}', throttle_duration_sec=2.0)
            return response
        scores = self.model.score(frames)
        response.ok, response.message = True, ''
        response.scores = [float(s) for s in scores]
        response.success = [bool(s >= self.model.threshold) for s in scores]
        return response


def main(args=None):
    spin_node(RewardModelNode, args)


if __name__ == '__main__':
    main()
