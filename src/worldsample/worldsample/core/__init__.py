"""ROS-free core library: everything here imports numpy/mujoco/jax/torch only, never rclpy."""
