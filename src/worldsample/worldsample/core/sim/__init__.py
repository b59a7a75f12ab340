"""MuJoCo simulation of the A1X insertion cell."""
