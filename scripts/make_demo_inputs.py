"""Make the bundled demo inputs (nothing from ../shared, nothing downloaded).

* portrait.png: matplotlib's bundled public-domain photo of Grace Hopper (US Navy), restyled as a
  painting with OpenCV's edge-preserving stylisation.
* driving.mp4: a talking-head driving clip made by this project: the unstyled photo animated with
  procedural head sway, blinks and a mouth that follows espeak-ng speech (when espeak-ng is
  installed; otherwise a syllable-like rhythm), rendered by our own warp renderer.

Usage: python scripts/make_demo_inputs.py OUT_DIR [--seconds 6]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from matplotlib import cbook

from talkinghead.config import AnimateConfig
from talkinghead.drivers.procedural import blink_curve, compose, head_sway
from talkinghead.face.crop import paste_back
from talkinghead.io.audio import read_audio
from talkinghead.io.image import read_image, write_image
from talkinghead.io.video_writer import VideoWriter
from talkinghead.motion.extract import motion_from_landmarks
from talkinghead.motion.transfer import MotionTransfer
from talkinghead.pipelines.source import prepare_source
from talkinghead.render.warp import WarpRenderer

TEXT = ("Hello! I am a portrait, brought to life by talking head. "
        "I can turn my head, blink, and move my lips while I speak.")
FPS = 25


def speech(out_wav: str) -> str | None:
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", out_wav, TEXT], check=True, capture_output=True)
    return out_wav


def mouth_envelope(wav: str | None, n: int) -> np.ndarray:
    """Mouth opening (0..1) per video frame from the speech's RMS energy (or a syllable rhythm)."""
    if wav is None:
        t = np.arange(n) / FPS
        return np.clip(0.5 + 0.5 * np.sin(2 * np.pi * 3.5 * t), 0, 1) * (np.sin(2 * np.pi * 0.25 * t) > -0.3)
    x, sr = read_audio(wav, sr=16000)
    hop = sr // FPS
    x = np.pad(x, (0, max(0, n * hop - len(x))))
    rms = np.array([np.sqrt(np.mean(x[i * hop:(i + 1) * hop] ** 2) + 1e-12) for i in range(n)])
    db = 20 * np.log10(rms + 1e-6)
    env = np.clip((db - (db.max() - 35)) / 30, 0, 1)
    return np.convolve(env, np.ones(3) / 3, mode="same") * 0.8


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seconds", type=float, default=None, help="clip length (default: the speech's)")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    photo = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    rgb = read_image(photo)
    painting = cv2.stylization(np.ascontiguousarray(rgb[:, :, ::-1]), sigma_s=40, sigma_r=0.35)[:, :, ::-1]
    write_image(os.path.join(a.out_dir, "portrait.png"), painting)

    with tempfile.TemporaryDirectory() as td:
        photo_png = os.path.join(td, "photo.png")
        write_image(photo_png, rgb)
        wav = speech(os.path.join(td, "speech.wav"))
        dur = a.seconds or (len(read_audio(wav)[0]) / 16000 + 0.4 if wav else 6.0)
        n = int(dur * FPS)
        src = prepare_source(photo_png, AnimateConfig(size=256, mode="face"))
        base = motion_from_landmarks(src.points.astype(np.float64))
        transfer = MotionTransfer(src.points)
        transfer.set_reference(base)
        renderer = WarpRenderer()
        renderer.prepare(src.crop, src.points[:, :2])
        rng = np.random.default_rng(7)
        sway, blinks, mouth = head_sway(n, FPS, 7.0, rng), blink_curve(n, FPS, rng=rng), mouth_envelope(wav, n)
        H, W = src.canvas.shape[:2]
        out = os.path.join(a.out_dir, "driving.mp4")
        with VideoWriter(out, fps=FPS, size=(W, H), audio_from=wav) as w:
            for i in range(n):
                target = transfer(compose(base, sway[i], float(mouth[i]), float(blinks[i])))[:, :2]
                w.write(paste_back(src.canvas, renderer.render(target), src.crop_tf))
    print(f"demo inputs in {a.out_dir}: portrait.png, driving.mp4 ({n} frames, audio: {'espeak-ng' if wav else 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
