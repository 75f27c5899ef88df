"""Media I/O: images, videos and audio as numpy arrays, with atomic outputs.

Conventions: images and video frames are uint8 RGB arrays (H, W, 3); audio is float32 in [-1, 1].
Problems with the user's files raise :class:`talkinghead.errors.InputError` /
:class:`talkinghead.errors.OutputError` with a one-line reason.

Names are imported lazily, so ``talkinghead.io.atomic`` works where PyAV is not installed (a bare
GPU training machine).
"""
import importlib

_WHERE = {
    "atomic_output": "atomic", "check_input_file": "atomic", "check_output_path": "atomic",
    "read_audio": "audio", "write_wav": "audio",
    "MAX_IMAGE_SIDE": "image", "MIN_IMAGE_SIDE": "image", "is_image_path": "image", "read_image": "image",
    "write_image": "image",
    "VideoInfo": "video", "VideoReader": "video", "VideoWriter": "video_writer", "probe_video": "video",
    "read_video_frames": "video",
}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"talkinghead.io.{_WHERE[name]}"), name)
    raise AttributeError(name)
