"""Neural renderers (implement :class:`talkinghead.render.base.Renderer`).

* ``NeuralRenderer()`` / ``NeuralRenderer(kind="refiner")``: the geometric warp renderer, then the
  trained warp refiner (:mod:`talkinghead.models.refiner`) repairs its output. The refiner runs
  at its own resolution (128 px for the bundled weights); its correction ``m * r`` is upsampled
  and added to the full-resolution warp, so the warp's detail is kept.
* ``load_person(dir)``: a few-shot talking-head generator (:mod:`talkinghead.models.fewshot`)
  personalised by ``talkinghead finetune``; it draws the face from the target landmarks alone,
  and the face is blended into the warp render inside the face oval (:func:`blend_face`).
* ``NeuralRenderer(kind="fewshot", model_dir=...)``: the meta-learnt few-shot model with K = 1:
  the source crop is embedded in ``prepare`` (no fine-tuning).

Inputs follow the Renderer protocol: (S, S, 3) uint8 RGB crops, (478, 2) landmarks in crop px.
Weights load through :func:`talkinghead.models.modeling.load_model` (safetensors, no pickle).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from talkinghead.config import NEURAL_ASSETS
from talkinghead.errors import InputError
from talkinghead.render.base import MouthSource


def default_refiner_dir() -> Path:
    """The bundled refiner weights (``assets/neural/refiner``)."""
    return NEURAL_ASSETS / "refiner"


def default_fewshot_dir() -> Path:
    """The bundled meta-learnt few-shot model (``assets/neural/fewshot``: embedder, generator, discriminator)."""
    return NEURAL_ASSETS / "fewshot"


def _scale_points(points: np.ndarray, src: int, dst: int) -> np.ndarray:
    return (np.asarray(points, np.float32)[:, :2] + 0.5) * (dst / src) - 0.5


def _resize(img: np.ndarray, n: int) -> np.ndarray:
    if img.shape[0] == n:
        return img
    return cv2.resize(img, (n, n), interpolation=cv2.INTER_AREA if img.shape[0] > n else cv2.INTER_LINEAR)


class NeuralRenderer:
    """``prepare(crop, points)`` once, then ``render(target, mouth, scene)`` per frame.

    ``kind``: "refiner" (warp + refiner; ``model_dir`` defaults to the bundled weights) or "fewshot"
    (``model_dir`` holds ``embedder/`` and ``generator/``, or pass ``generator=`` a personalised one).
    ``threads``: torch CPU threads (None: leave torch's setting).
    """

    def __init__(self, kind: str = "refiner", model_dir: str | os.PathLike | None = None, generator=None,
                 device: str = "cpu", threads: int | None = None, warp=None):
        import torch

        from talkinghead.models.modeling import load_model

        if kind not in ("refiner", "fewshot"):
            raise ValueError(f"kind must be 'refiner' or 'fewshot', got {kind!r}")
        if threads:
            torch.set_num_threads(threads)
        self.kind, self.device, self.torch = kind, torch.device(device), torch
        self.embedder = None
        if kind == "refiner":
            from talkinghead.render.warp import WarpRenderer

            d = Path(model_dir) if model_dir is not None else default_refiner_dir()
            self.net = load_model(d).to(self.device).eval()
            self.n = self.net.config.size
            self.warp = warp or WarpRenderer()
        else:
            if generator is None:
                if model_dir is None:
                    raise InputError(None, "the few-shot renderer needs a model folder (or a person folder)")
                generator = load_model(Path(model_dir) / "generator")
                if not generator.config.person:
                    self.embedder = load_model(Path(model_dir) / "embedder").to(self.device).eval()
            self.net = generator.to(self.device).eval()
            self.n = self.net.config.image_size
            from talkinghead.render.warp import WarpRenderer

            # the generated face is blended into the warp render inside the face oval: hair,
            # clothes and background stay the photo's own (the generator's are its weakest part)
            self.warp = warp or WarpRenderer()
        self._e = None

    # -- Renderer protocol ----------------------------------------------------------------------------
    def prepare(self, image: np.ndarray, points: np.ndarray) -> None:
        if image.ndim != 3 or image.shape[0] != image.shape[1] or image.dtype != np.uint8:
            raise ValueError(f"expected a square (S, S, 3) uint8 crop, got {image.shape} {image.dtype}")
        from talkinghead.models.blocks import landmark_image, to_tensor

        self.size = image.shape[0]
        pts = np.asarray(points, np.float32)[:, :2]
        n = self.n
        small_pts = _scale_points(pts, self.size, n)
        self.warp.prepare(image, pts)  # both kinds build on the warp render
        if self.kind == "refiner":
            self._src = to_tensor(_resize(image, n)).to(self.device)
            self._lm_src = to_tensor(landmark_image(small_pts, n)).to(self.device)
        elif self.embedder is not None:  # K = 1: embed the source crop (no fine-tuning)
            with self.torch.inference_mode():
                x = to_tensor(_resize(image, n)).to(self.device)
                y = to_tensor(landmark_image(small_pts, n)).to(self.device)
                self._e = self.embedder.embed(x, y)

    def render(self, target: np.ndarray, mouth: MouthSource | None = None,
               scene: np.ndarray | None = None) -> np.ndarray:
        from talkinghead.models.blocks import landmark_image, to_tensor

        torch = self.torch
        tgt = np.asarray(target, np.float32)[:, :2]
        lm = to_tensor(landmark_image(_scale_points(tgt, self.size, self.n), self.n)).to(self.device)
        if self.kind == "refiner":
            return self.refine(self.warp.render(tgt, mouth, scene), tgt, lm)
        with torch.inference_mode():
            out = self.net(lm, self._e) if self._e is not None else self.net(lm)
        img = (out[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_CUBIC) if self.n != self.size else img
        return blend_face(self.warp.render(target, mouth, scene), img, tgt)


    def correction(self, warped: np.ndarray, target: np.ndarray, lm=None, raw: bool = False) -> np.ndarray:
        """The refiner's (n, n, 3) correction in [-1, 1] of a warp-rendered crop ``warped`` (S, S, 3)
        for ``target`` landmarks; ``raw``: before the config's output_scale / shrink."""
        from talkinghead.models.blocks import landmark_image, to_tensor

        if lm is None:
            lm = to_tensor(landmark_image(_scale_points(target, self.size, self.n), self.n)).to(self.device)
        with self.torch.inference_mode():
            w_small = to_tensor(_resize(warped, self.n)).to(self.device)
            out = self.net(w_small, self._src, lm, self._lm_src)["raw_delta" if raw else "delta"][0]
        return out.permute(1, 2, 0).float().cpu().numpy()

    def refine(self, warped: np.ndarray, target: np.ndarray, lm=None) -> np.ndarray:
        """The refined crop: ``warped`` (S, S, 3) plus the refiner's correction."""
        return add_correction(warped, self.correction(warped, target, lm))


def add_correction(warped: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``warped`` (S, S, 3) uint8 + a correction (n, n, 3) in [-1, 1], upsampled bilinearly to S when
    n < S (the warp keeps its full-resolution detail)."""
    S = warped.shape[0]
    if delta.shape[0] != S:
        delta = cv2.resize(delta, (warped.shape[1], S), interpolation=cv2.INTER_LINEAR)
    return np.clip(warped.astype(np.float32) + 255.0 * delta + 0.5, 0, 255).astype(np.uint8)


def blend_face(base: np.ndarray, face: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``face`` inside the (slightly shrunk, feathered) face oval of ``points``, ``base`` outside;
    the face's colour statistics are matched to ``base`` inside the oval first."""
    from talkinghead.face.topology import FACE_OVAL

    S = base.shape[0]
    oval = np.asarray(points, np.float32)[FACE_OVAL, :2]
    c = oval.mean(axis=0)
    m = np.zeros((S, S), np.float32)
    cv2.fillPoly(m, [np.round(c + 0.92 * (oval - c)).astype(np.int32)], 1.0, cv2.LINE_AA)
    k = max(3, int(S * 0.04) | 1)
    m = cv2.GaussianBlur(m, (0, 0), k / 2)[..., None]
    inside = m[..., 0] > 0.5
    f, b = face.astype(np.float32), base.astype(np.float32)
    if inside.sum() > 16:
        fm, fs = f[inside].mean(0), f[inside].std(0) + 1e-3
        bm, bs = b[inside].mean(0), b[inside].std(0) + 1e-3
        f = (f - fm) * (bs / fs) + bm
    return np.clip(b * (1 - m) + f * m + 0.5, 0, 255).astype(np.uint8)


PERSON_KEYS = frozenset({"kind", "k", "finetune_steps", "image_size", "base_model", "sources", "source_sha256",
                         "wall_s", "final"})  # what train.loop.finetune writes into person.json


def load_person(directory: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> NeuralRenderer:
    """The renderer of a person folder written by ``talkinghead finetune`` (``person.json`` + ``generator/``)."""
    from talkinghead.models.modeling import load_model

    d = Path(directory)
    meta_path = d / "person.json"
    if not meta_path.is_file():
        raise InputError(d, "not a person folder (no person.json; make one with `talkinghead finetune`)")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as e:
        raise InputError(meta_path, f"unreadable ({e})") from None
    if not isinstance(meta, dict) or meta.get("kind") != "fewshot":
        raise InputError(meta_path, f"unknown person kind {meta.get('kind') if isinstance(meta, dict) else meta!r}")
    unknown = sorted(set(meta) - PERSON_KEYS)
    if unknown:  # strict like every config: a typo or a foreign file is not silently ignored
        raise InputError(meta_path, f"unknown key(s): {', '.join(unknown)}")
    for k in ("k", "image_size", "finetune_steps"):
        if k in meta and (isinstance(meta[k], bool) or not isinstance(meta[k], int)):
            raise InputError(meta_path, f"{k}: expected a whole number, got {meta[k]!r}")
    gen = load_model(d / "generator")
    if not getattr(gen.config, "person", False):
        raise InputError(d / "generator", "not a personalised generator")
    r = NeuralRenderer("fewshot", generator=gen, device=device, threads=threads)
    r.person = meta
    return r
