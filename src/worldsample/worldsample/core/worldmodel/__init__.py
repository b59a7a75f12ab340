"""Action-conditioned video world model and counterfactual generation (ROS-free)."""
