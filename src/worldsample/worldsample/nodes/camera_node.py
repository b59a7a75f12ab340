"""camera node: one RealSense D435i (pyrealsense2), published like realsense-ros.

``/<camera>/color/image_raw`` (rgb8, the device's colour profile as it is) and
``/<camera>/color/camera_info`` (the device's own intrinsics and distortion); with ``depth:=true``
also ``/<camera>/depth/image_rect_raw`` (16UC1, millimetres on a D435i) and its camera_info, and
with ``align_depth:=true`` ``/<camera>/aligned_depth_to_color/image_raw`` (depth reprojected into
the colour camera, the colour intrinsics) and its camera_info; sensor-data QoS,
stamped with the frame's hardware timestamp in host time (core.realsense.StampClock). The
camera is chosen by serial number; ``source`` set to a ``.db3`` file plays a recording instead.
An absent or unplugged camera is an error logged with its reason and retried every
``retry_s``, never a crash: the node keeps running and picks the camera up when it appears.
The policy node crops and resizes the frames to the policy's resolution (core.observation).

Parameters: ``task``; ``camera`` (a name in the task's camera YAML, default ``wrist_camera``:
serial, colour profile); ``serial`` and ``color_profile`` ([w, h, fps]) override the YAML;
``source`` ('' = the device; else a recording), ``repeat`` and ``real_time`` (playback),
``depth``, ``depth_profile`` ([w, h, fps], default [640, 480, 30]), ``align_depth``,
``retry_s``, ``timeout_s``.
"""
from __future__ import annotations

import threading

from rclpy.node import Node
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from ..core.realsense import CameraStream, ColorFrame, DeviceSource, FileSource, StampClock
from .common import SENSOR_QOS, array_to_image, camera_info, declare_config, spin_node


class CameraNode(Node):
    def __init__(self, open_source=None, context=None):
        """``open_source``: a callable returning a core.realsense Source, instead of the one the
        parameters name (an in-process software device)."""
        super().__init__('camera', context=context)
        cfg = declare_config(self)
        self.camera = self.declare_parameter('camera', 'wrist_camera').value
        cam = cfg.camera(self.camera)
        serial = self.declare_parameter('serial', cam.serial).value
        profile = tuple(int(v) for v in self.declare_parameter('color_profile', list(cam.color_profile)).value)
        source = self.declare_parameter('source', '').value
        repeat = bool(self.declare_parameter('repeat', True).value)
        real_time = bool(self.declare_parameter('real_time', True).value)
        self.depth = bool(self.declare_parameter('depth', False).value)
        depth_profile = tuple(int(v) for v in self.declare_parameter('depth_profile', [640, 480, 30]).value)
        align = self.depth and bool(self.declare_parameter('align_depth', False).value)
        retry_s = float(self.declare_parameter('retry_s', 2.0).value)
        timeout_s = float(self.declare_parameter('timeout_s', 1.0).value)
        if len(profile) != 3 or min(profile) <= 0 or len(depth_profile) != 3 or min(depth_profile) <= 0 \
                or retry_s <= 0 or timeout_s <= 0:
            raise ValueError(f'need color_profile and depth_profile [width, height, fps] > 0 and positive '
                             f'retry_s/timeout_s; got {list(profile)}, {list(depth_profile)}, {retry_s}, {timeout_s}')
        if open_source is None:
            if source:
                self.what = f'recording {source}'
                open_source = lambda: FileSource(source, repeat, real_time, align)    # noqa: E731
            else:
                self.what = f'RealSense {serial or "(the only one connected)"} {profile[0]}x{profile[1]}@{profile[2]}'
                open_source = lambda: DeviceSource(serial, profile, depth_profile if self.depth else None,  # noqa: E731
                                                   align)
        else:
            self.what = 'an injected source'
        self.frame_id = f'{self.camera}_color_optical_frame'
        self.stream = CameraStream(open_source, retry_s, timeout_s)
        self.stamps = StampClock()
        self.pub_image = self.create_publisher(Image, f'/{self.camera}/color/image_raw', SENSOR_QOS)
        self.pub_info = self.create_publisher(CameraInfo, f'/{self.camera}/color/camera_info', SENSOR_QOS)
        self.pub_depth = {}           # 'depth' / 'aligned_depth' -> (image, camera_info) publishers
        for key, ns, on in (('depth', 'depth', self.depth), ('aligned_depth', 'aligned_depth_to_color', align)):
            if on:
                image = 'image_rect_raw' if key == 'depth' else 'image_raw'
                self.pub_depth[key] = (self.create_publisher(Image, f'/{self.camera}/{ns}/{image}', SENSOR_QOS),
                                       self.create_publisher(CameraInfo, f'/{self.camera}/{ns}/camera_info', SENSOR_QOS))
        self.published = 0
        self.finished = Future()      # completes with an exception if the reading thread dies
        self.running = True
        self.thread = threading.Thread(target=self._run, name=f'{self.camera}-frames', daemon=True)
        self.thread.start()
        self.get_logger().info(f'camera {self.camera} up: {self.what} -> /{self.camera}/color/image_raw')

    def _run(self) -> None:
        streaming, logged = False, 0
        try:
            while self.running:
                frame = self.stream.read()
                if frame is not None:
                    if not streaming:
                        self.get_logger().info(f'camera {self.camera}: streaming {frame.intrinsics.width}x'
                                               f'{frame.intrinsics.height} from {self.what}')
                    streaming = True
                    self._publish(frame)
                elif self.stream.failures > logged:     # one line per failed attempt, with its reason
                    streaming, logged = False, self.stream.failures
                    self.get_logger().error(f'camera {self.camera}: {self.stream.error}; retrying every '
                                            f'{self.stream.retry_s:g} s (attempt {logged})')
        except Exception as e:    # a bug, not a camera fault: end the node with it
            if not self.finished.done():
                self.finished.set_exception(e)

    def _publish(self, frame: ColorFrame) -> None:
        stamp = Time(nanoseconds=self.stamps(frame.stamp_ms, frame.domain)).to_msg()
        self.pub_image.publish(array_to_image(frame.image, stamp, self.frame_id))
        self.pub_info.publish(camera_info(frame.intrinsics, stamp, self.frame_id))
        for key, (pub_image, pub_info) in self.pub_depth.items():
            depth = getattr(frame, key)
            if depth is None:         # e.g. a recording without depth
                self.get_logger().warning(f'camera {self.camera}: {key} requested but the stream has none',
                                          throttle_duration_sec=30.0)
                continue
            # the aligned depth lives in the colour camera's frame; the raw depth in the depth sensor's
            frame_id = self.frame_id if key == 'aligned_depth' else f'{self.camera}_depth_optical_frame'
            pub_image.publish(array_to_image(depth.image, stamp, frame_id, '16UC1'))
            pub_info.publish(camera_info(depth.intrinsics, stamp, frame_id))
        self.published += 1

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5.0)
        self.stream.close()


def main(args=None):
    spin_node(CameraNode, args)
