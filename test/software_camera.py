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
    def __init__(self, width=64, height=48, fps=30, fmt=rs.format.rgb8, record_to=None):
        self.width, self.height = width, height
        self.device = rs.software_device()
        self.sensor = self.device.add_sensor('Color')
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = rs.stream.color, 0, 0
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = width, height, fps, 3, fmt
        vs.intrinsics = intrinsics(width, height)
        self.profile = self.sensor.add_video_stream(vs).as_video_stream_profile()
        self.recorder = rs.recorder(str(record_to), self.device) if record_to else None
        self.queue = rs.frame_queue(8)
        self.sensor.open(self.profile)
        self.sensor.start(self.queue)

    def inject(self, image, stamp_ms, number, domain=rs.timestamp_domain.hardware_clock):
        f = rs.software_video_frame()
        f.pixels = np.ascontiguousarray(image)
        f.bpp, f.stride = 3, self.width * 3
        f.timestamp, f.domain, f.frame_number = stamp_ms, domain, number
        f.profile = self.profile
        self.sensor.on_video_frame(f)

    def close(self):
        self.sensor.stop()
        self.sensor.close()
        self.recorder = None     # the recording is written out when the recorder goes
