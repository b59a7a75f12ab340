"""rosbag2 recording and conversion of bags into training datasets (rosbags, no ROS install)."""
