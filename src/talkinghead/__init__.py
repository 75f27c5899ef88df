"""talkinghead: bring portraits to life.

The Python API::

    from talkinghead import AnimatePipeline, AnimateConfig
    pipe = AnimatePipeline(AnimateConfig(size=256))
    result = pipe("photo.jpg", "clip.mp4", output="out.mp4")

Stages (imports point one way, top to bottom)::

    interfaces -> pipelines -> drivers / render / motion -> face -> io
"""
__version__ = "0.1.0"

from talkinghead.errors import TalkingHeadError, InputError, OutputError  # noqa: E402

__all__ = ["__version__", "TalkingHeadError", "InputError", "OutputError", "AnimatePipeline", "AnimateConfig"]


def __getattr__(name):  # lazy: keep `import talkinghead` cheap (no mediapipe import)
    if name in ("AnimatePipeline", "AnimateResult"):
        from talkinghead.pipelines import animate

        return getattr(animate, name)
    if name == "AnimateConfig":
        from talkinghead.config import AnimateConfig

        return AnimateConfig
    raise AttributeError(name)
