"""One motion representation for every driver (video, audio, text, procedural)."""
from talkinghead.motion.types import Motion

__all__ = ["Motion"]
