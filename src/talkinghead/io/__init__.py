"""Media I/O: images, videos and audio as numpy arrays, with atomic outputs.

Conventions: images and video frames are uint8 RGB arrays (H, W, 3); audio is float32 in [-1, 1].
Problems with the user's files raise :class:`talkinghead.errors.InputError` /
:class:`talkinghead.errors.OutputError` with a one-line reason.
"""
from talkinghead.io.atomic import atomic_output, check_input_file, check_output_path
from talkinghead.io.audio import read_audio, write_wav
from talkinghead.io.image import (
    MAX_IMAGE_SIDE,
    MIN_IMAGE_SIDE,
    is_image_path,
    read_image,
    write_image,
)
from talkinghead.io.video import VideoInfo, VideoReader, VideoWriter, probe_video, read_video_frames

__all__ = [
    "MAX_IMAGE_SIDE",
    "MIN_IMAGE_SIDE",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "atomic_output",
    "check_input_file",
    "check_output_path",
    "is_image_path",
    "probe_video",
    "read_audio",
    "read_image",
    "read_video_frames",
    "write_image",
    "write_wav",
]
