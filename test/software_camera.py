"""A camera without hardware: a pyrealsense2 ``software_device`` with one colour sensor whose
frames the test injects, optionally recorded to a ``.db3`` file by ``rs.recorder`` (the same
playback path a recording of the real D435i takes)."""
import numpy as np
import pyrealsense2 as rs


def intrinsics(width, height):
    i = rs.intrinsics()
    i.width, i.height = width, height
    i.fx, i.fy, i.ppx, i.ppy = 0.9 * width, 0.91 * width, width / 2 + 0.5, height / 2 - 0.25
    i.model, i.coeffs = rs.distortion.inverse_brown_conrady, [0.11, -0.02, 0.001, 0.002, 0.0]
    return i


def pattern(i, width, height):
    """Frame ``i``: a distinct image (a bar whose position and colour depend on i)."""
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = (i * 37) % 256
    img[:, (5 * i) % width, 1] = 255
    img[(3 * i) % height, :, 2] = 200
    return img


class SoftwareCamera:
    """``depth``: also a depth sensor (z16, mm, 15 mm to the side of the colour camera like a
    D435i's), whose frames :meth:`inject_depth` adds (for recordings: played back, the pipeline
    pairs them with the colour frames)."""

    def __init__(self, width=64, height=48, fps=30, fmt=rs.format.rgb8, record_to=None, depth=False):
        self.width, self.height = width, height
        self.device = rs.software_device()
        self.sensor = self.device.add_sensor('Color')
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = rs.stream.color, 0, 0
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = width, height, fps, 3, fmt
        vs.intrinsics = intrinsics(width, height)
        self.profile = self.sensor.add_video_stream(vs).as_video_stream_profile()
        self.depth_sensor = None
        if depth:
            self.depth_sensor = self.device.add_sensor('Depth')
            ds = rs.video_stream()
            ds.type, ds.index, ds.uid = rs.stream.depth, 0, 1
            ds.width, ds.height, ds.fps, ds.bpp, ds.fmt = width, height, fps, 2, rs.format.z16
            ds.intrinsics = intrinsics(width, height)
            self.depth_profile = self.depth_sensor.add_video_stream(ds).as_video_stream_profile()
            self.depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
            extrinsics = rs.extrinsics()
            extrinsics.rotation, extrinsics.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0.015, 0.0, 0.0]
            self.depth_profile.register_extrinsics_to(self.profile, extrinsics)
        self.recorder = rs.recorder(str(record_to), self.device) if record_to else None
        self.queue = rs.frame_queue(8)
        self.sensor.open(self.profile)
        self.sensor.start(self.queue)
        if depth:
            self.depth_queue = rs.frame_queue(8)
            self.depth_sensor.open(self.depth_profile)
            self.depth_sensor.start(self.depth_queue)

    def inject_depth(self, depth_mm, stamp_ms, number):
        f = rs.software_video_frame()
        f.pixels = np.ascontiguousarray(depth_mm, np.uint16)
        f.bpp, f.stride = 2, self.width * 2
        f.timestamp, f.domain, f.frame_number = stamp_ms, rs.timestamp_domain.hardware_clock, number
        f.profile = self.depth_profile
        self.depth_sensor.on_video_frame(f)
        self.depth_queue.wait_for_frame(1000)

    def inject(self, image, stamp_ms, number, domain=rs.timestamp_domain.hardware_clock):
        f = rs.software_video_frame()
        f.pixels = np.ascontiguousarray(image)
        f.bpp, f.stride = 3, self.width * 3
        f.timestamp, f.domain, f.frame_number = stamp_ms, domain, number
        f.profile = self.profile
        self.sensor.on_video_frame(f)

    def close(self):
        for sensor in (self.sensor, self.depth_sensor):
            if sensor is not None:
                sensor.stop()
                sensor.close()
        self.recorder = None     # the recording is written out when the recorder goes
