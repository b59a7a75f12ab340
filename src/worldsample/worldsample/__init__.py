"""WorldSample: real-robot RL with world-model data augmentation."""
