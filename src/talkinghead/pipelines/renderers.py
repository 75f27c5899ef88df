"""Choosing the renderer of a pipeline: ``renderer = "warp" | "neural"`` and ``person = folder``.

* ``warp`` (default): the geometric warp renderer (:class:`talkinghead.render.warp.WarpRenderer`).
* ``neural``: the warp renderer followed by the trained warp refiner (bundled weights,
  :class:`talkinghead.render.neural.NeuralRenderer`).
* ``person``: a folder written by ``talkinghead finetune`` (few-shot talking-head generator
  personalised from K photos, Zakharov et al. 2019); it draws the face from the target landmarks.
"""
from __future__ import annotations

from pathlib import Path

from talkinghead.errors import ConfigError, InputError

RENDERERS = ("warp", "neural")


def make_renderer(renderer: str = "warp", person: str | None = None):
    """A fresh renderer object for one pipeline run (raises InputError/ConfigError on a bad choice)."""
    if person is not None:
        from talkinghead.render.neural import load_person

        if not Path(person).is_dir():
            raise InputError(person, "person folder not found (make one with `talkinghead finetune`)")
        return load_person(person)
    if renderer == "warp":
        from talkinghead.render.warp import WarpRenderer

        return WarpRenderer()
    if renderer == "neural":
        from talkinghead.render.neural import NeuralRenderer

        return NeuralRenderer("refiner")
    raise ConfigError(None, f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}")


def person_notice(renderer, source) -> str | None:
    """A notice when ``source`` is not one of the photos the person folder was fine-tuned on: the
    face drawn is the fine-tuned person's, whoever is in ``source``. None when it is one of them, or
    when the folder does not say (no ``source_sha256`` and no ``sources`` in person.json)."""
    meta = getattr(renderer, "person", None)
    if not isinstance(meta, dict):
        return None
    hashes = meta.get("source_sha256") or []
    if hashes:
        from talkinghead.io.atomic import file_sha256

        if file_sha256(source) in hashes:
            return None
    else:
        names = {Path(str(p)).name for p in meta.get("sources") or []}
        if not names or Path(source).name in names:
            return None
    n = meta.get("k", len(hashes) or len(meta.get("sources") or []))
    return (f"note: {source} is not one of the {n} photo(s) this person folder was fine-tuned on; "
            "the face drawn is the fine-tuned person's")


def renderer_for(config):
    """The renderer a pipeline config asks for, or None for the default warp renderer (which the
    render loop creates itself)."""
    if config.renderer == "warp" and config.person is None:
        return None
    return make_renderer(config.renderer, config.person)
