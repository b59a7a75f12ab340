"""Thin rclpy nodes: parameters and messages in, core calls out."""
