"""Watermark robustness and cost: candidates x transforms, on generated outputs and real media.

    python benchmarks/bench_watermark.py [--n-gen 50] [--frames 16] [--cache DIR] [--candidates ours,dwtDct,...]

* Generated outputs: the animate pipeline (256 and 512 px face crops) run on portraits x drivers
  of ../shared/data/real (``--frames`` frames each). Each output is watermarked, written as an
  H.264 mp4 by the pipeline's own ``VideoWriter`` (CRF 18) and attacked: re-encoded at CRF 28, 0.5x and 0.75x
  resize (+ CRF 28), 10 % crop (+ CRF 28). One frame per output serves as a still: JPEG q70, 0.5x
  resize, 10 % crop.
* Real, never-generated media: the portraits (as they are, JPEG q70 and 0.5x) and the clips
  (CRF 28 re-encode) must not be detected (false positives).
* Timing: embed per 512x512 frame vs the pipeline's own per-frame time; detection per still /
  per clip.
* Candidates: ``ours`` (talkinghead.provenance.watermark) and, when the package
  ``invisible-watermark`` is installed, its ``dwtDct``, ``dwtDctSvd`` and ``rivaGan`` methods on
  a subset of the stills (32-bit payload; "found" = all bits right).

Uses 2 threads. Generated frames are cached in ``--cache`` (default: a temp dir) so reruns are fast.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

cv2.setNumThreads(2)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"
sys.path.insert(0, str(ROOT / "src"))

from talkinghead.provenance.watermark import (  # noqa: E402
    DEFAULT_SCHEME,
    Watermarker,
    detect_watermark,
    new_payload,
)


# -- transforms ------------------------------------------------------------------------------------


def jpeg(a: np.ndarray, q: int = 70) -> np.ndarray:
    b = io.BytesIO()
    Image.fromarray(a).save(b, format="JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))


def half(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    return cv2.resize(a, (max(2, w // 2), max(2, h // 2)), interpolation=cv2.INTER_AREA)


def three_quarter(a: np.ndarray) -> np.ndarray:
    """0.75x: not one of the detector's fixed candidate scales (1x, 0.5x)."""
    h, w = a.shape[:2]
    return cv2.resize(a, (max(2, round(w * 0.75)), max(2, round(h * 0.75))), interpolation=cv2.INTER_AREA)


def crop10(a: np.ndarray, seed: int = 0) -> np.ndarray:
    """Remove 10 % of the width and of the height, split unevenly between the sides."""
    h, w = a.shape[:2]
    rng = np.random.default_rng(seed)
    cy, cx = int(round(h * 0.1)), int(round(w * 0.1))
    top, left = int(rng.integers(1, cy)), int(rng.integers(1, cx))
    return a[top : h - (cy - top), left : w - (cx - left)]


def encode_mp4(frames: list[np.ndarray], path: Path, crf: int, fps: int = 25, preset: str = "medium") -> None:
    h, w = frames[0].shape[:2]
    h, w = h - h % 2, w - w % 2
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": str(crf), "preset": preset}
        s.codec_context.thread_count = 2
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def decode_mp4(path: Path, max_frames: int | None = None) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        st.thread_count = 2
        for f in c.decode(st):
            out.append(f.to_ndarray(format="rgb24"))
            if max_frames and len(out) >= max_frames:
                break
    return out


def video_attacks(frames: list[np.ndarray], tmp: Path, seed: int) -> dict[str, list[np.ndarray]]:
    """Output written by the pipeline's own writer (CRF 18, its RGB -> yuv420p conversion), then each
    attack re-encodes at CRF 28."""
    from talkinghead.io.video_writer import VideoWriter

    src = tmp / "out.mp4"
    h, w = frames[0].shape[:2]
    with VideoWriter(src, 25, (w, h), crf=18) as writer:
        for f in frames:
            writer.write(f)
    dec = decode_mp4(src)
    res = {}
    for name, f in (("crf28", lambda a: a), ("half+crf28", half), ("0.75x+crf28", three_quarter),
                    ("crop10+crf28", lambda a: crop10(a, seed))):
        p = tmp / f"{name}.mp4"
        encode_mp4([f(a) for a in dec], p, 28)
        res[name] = decode_mp4(p)
    return res


# -- samples ---------------------------------------------------------------------------------------


def unmarked_render(pipe, source: Path, driving: Path, n_frames: int) -> list[np.ndarray]:
    """The animate pipeline's frames *before* its provenance step. Its outputs are watermarked
    already (every output is), and a second mark on top shares the same sync pattern, which
    inflates the score and mixes two payloads; the candidates must mark clean renders."""
    from talkinghead.drivers.video import track_driver
    from talkinghead.pipelines.source import prepare_source

    src = prepare_source(source, pipe.config, log=lambda *a, **k: None)
    track = track_driver(driving, face_index=None, max_frames=n_frames)
    frames = []
    for frame, _ in pipe._render(src, track, driving, False):
        frames.append(frame)
        if len(frames) >= min(n_frames, len(track.motions)):
            break
    return frames


def generated(n: int, n_frames: int, cache: Path) -> tuple[list[tuple[str, list[np.ndarray]]], list[float]]:
    """n pipeline outputs (alternating 256/512 crops) as lists of frames; per-frame times at 512."""
    portraits = sorted((SHARED / "portraits").iterdir())
    drivers = sorted((SHARED / "videos").iterdir())
    out, t512 = [], []
    pipe = {}
    for i in range(n):
        size = 256 if i % 2 == 0 else 512
        src, drv = portraits[(i * 5) % len(portraits)], drivers[(i * 7) % len(drivers)]
        name = f"{src.stem}+{drv.stem}@{size}"
        f = cache / f"gen3_{i:03d}_{size}_{n_frames}.npz"
        if f.exists():
            frames = list(np.load(f)["frames"])
        else:
            from talkinghead.config import AnimateConfig
            from talkinghead.pipelines.animate import AnimatePipeline

            if size not in pipe:
                pipe[size] = AnimatePipeline(AnimateConfig(size=size))
            t = time.perf_counter()
            try:
                frames = unmarked_render(pipe[size], src, drv, n_frames)
            except Exception as e:  # noqa: BLE001 - e.g. no face: take the next pair
                print(f"  skip {name}: {e}", file=sys.stderr)
                continue
            dt = time.perf_counter() - t
            if size == 512:
                t512.append(dt / max(1, len(frames)))
            np.savez_compressed(f, frames=np.stack(frames))
        out.append((name, frames))
    return out, t512


def real_stills(max_side: int = 1024) -> list[tuple[str, np.ndarray]]:
    from talkinghead.io.image import read_image

    out = []
    for p in sorted((SHARED / "portraits").iterdir()):
        a = read_image(p)
        s = min(1.0, max_side / max(a.shape[:2]))
        if s < 1:
            a = cv2.resize(a, (int(a.shape[1] * s), int(a.shape[0] * s)), interpolation=cv2.INTER_AREA)
        out.append((p.stem, a))
    return out


def real_clips(n_frames: int) -> list[tuple[str, list[np.ndarray]]]:
    out = []
    for p in sorted((SHARED / "videos").iterdir()):
        try:
            out.append((p.stem, decode_mp4(p, n_frames)))
        except Exception as e:  # noqa: BLE001
            print(f"  skip {p.name}: {e}", file=sys.stderr)
    return out


# -- candidates ------------------------------------------------------------------------------------


class Ours:
    name = "ours"

    def __init__(self, scheme=DEFAULT_SCHEME):
        self.scheme = scheme

    def embed_many(self, frames):
        payload = new_payload()
        wm = Watermarker(payload, self.scheme)
        return [wm.embed(f) for f in frames], payload.as_dict()

    def detect(self, frames, payload):
        r = detect_watermark(frames, self.scheme)
        return r.found, (r.payload == payload if payload is not None else r.payload is None), r.score


class InvisibleWM:
    def __init__(self, method: str):
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.name = method
        self.method = method
        self._E, self._D = WatermarkEncoder, WatermarkDecoder
        if method == "rivaGan":
            WatermarkEncoder.loadModel()
            WatermarkDecoder.loadModel()

    def embed_many(self, frames):
        bits = list(np.random.default_rng().integers(0, 2, 32))
        enc = self._E()
        enc.set_watermark("bits", bits)
        out = []
        for f in frames:
            bgr = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
            out.append(cv2.cvtColor(enc.encode(bgr, self.method), cv2.COLOR_BGR2RGB))
        return out, bits

    def detect(self, frames, payload):
        dec = self._D("bits", 32)
        f = frames[len(frames) // 2] if isinstance(frames, list) else frames
        try:
            got = dec.decode(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), self.method)
        except Exception:  # noqa: BLE001 - e.g. "image too small" after a 0.5x resize
            return False, False, 0.0
        acc = float(np.mean(np.array(got, int) == np.array(payload, int))) if payload is not None else 0.0
        return acc == 1.0, acc == 1.0, acc


# -- main ------------------------------------------------------------------------------------------


def pct(xs: list[bool]) -> str:
    return f"{100.0 * sum(xs) / max(1, len(xs)):5.1f}% ({sum(xs)}/{len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-gen", type=int, default=50)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--candidates", default="ours,dwtDct,dwtDctSvd,rivaGan")
    ap.add_argument("--n-other", type=int, default=12, help="stills for invisible-watermark methods")
    ap.add_argument("--no-video", action="store_true")
    a = ap.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} not present", file=sys.stderr)
        return 2
    cache = a.cache or Path(tempfile.gettempdir()) / "th_bench_wm"
    cache.mkdir(parents=True, exist_ok=True)

    print(f"generating {a.n_gen} outputs ({a.frames} frames each; cache {cache}) ...", flush=True)
    gen, t512 = generated(a.n_gen, a.frames, cache)
    sizes = sorted({f[0].shape[:2] for _, f in gen})
    print(f"  {len(gen)} outputs, sizes {sizes[0]}..{sizes[-1]}")
    clean_hits = [name for name, frames in gen if detect_watermark(frames).found]
    print(f"  unmarked renders read as marked: {len(clean_hits)}/{len(gen)} {clean_hits}")

    cands = []
    for c in a.candidates.split(","):
        c = c.strip()
        if c == "ours":
            cands.append(Ours())
        else:
            try:
                cands.append(InvisibleWM(c))
            except Exception as e:  # noqa: BLE001
                print(f"  candidate {c} unavailable: {e}", file=sys.stderr)

    rows = []
    still_attacks = {"clean": lambda a: a, "jpeg70": jpeg, "half": half, "0.75x": three_quarter, "crop10": crop10}
    for cand in cands:
        n = len(gen) if cand.name == "ours" else min(a.n_other, len(gen))
        found = {k: [] for k in still_attacks}
        exact = {k: [] for k in still_attacks}
        t_emb, t_det, psnr = [], [], []
        for i, (name, frames) in enumerate(gen[:n]):
            still = frames[len(frames) // 2]
            if cand.name != "ours" and min(still.shape[:2]) < 256:
                still = cv2.resize(still, None, fx=256 / min(still.shape[:2]), fy=256 / min(still.shape[:2]))
            t = time.perf_counter()
            (marked,), payload = cand.embed_many([still])
            t_emb.append(time.perf_counter() - t)
            psnr.append(cv2.PSNR(still, marked))
            for k, f in still_attacks.items():
                x = f(marked) if k != "crop10" else crop10(marked, i)
                t = time.perf_counter()
                ok, ex, _ = cand.detect(x, payload)
                t_det.append(time.perf_counter() - t)
                found[k].append(ok)
                exact[k].append(ex)
        for k in still_attacks:
            rows.append((cand.name, "still", k, pct(found[k]), pct(exact[k]),
                         f"{statistics.median(t_emb) * 1e3:.1f}", f"{statistics.median(t_det) * 1e3:.0f}",
                         f"{statistics.mean(psnr):.1f} (min {min(psnr):.1f})"))
    # video, ours only
    ours = next((c for c in cands if c.name == "ours"), None)
    if ours is not None and not a.no_video:
        vf = {}
        vx = {}
        tdet = []
        with tempfile.TemporaryDirectory() as td:
            for i, (name, frames) in enumerate(gen):
                marked, payload = ours.embed_many(frames)
                for k, dec in video_attacks(marked, Path(td), i).items():
                    t = time.perf_counter()
                    ok, ex, z = ours.detect(dec, payload)
                    tdet.append(time.perf_counter() - t)
                    vf.setdefault(k, []).append(ok)
                    vx.setdefault(k, []).append(ex)
                    if not ok:
                        print(f"  MISS video {name} {k} z={z:.1f}")
        for k in vf:
            rows.append(("ours", "video", k, pct(vf[k]), pct(vx[k]), "", f"{statistics.median(tdet) * 1e3:.0f}", ""))

    # false positives on real media (ours)
    if ours is not None:
        stills = real_stills()
        fp_s = {"as is": [], "jpeg70": [], "half": [], "0.75x": []}
        zs = []
        for name, im in stills:
            for k, f in (("as is", lambda x: x), ("jpeg70", jpeg), ("half", half), ("0.75x", three_quarter)):
                r = detect_watermark(f(im))
                fp_s[k].append(r.found)
                zs.append(r.score)
                if r.found:
                    print(f"  FALSE POSITIVE still {name} {k} z={r.score:.1f}")
        for k, v in fp_s.items():
            rows.append(("ours", "real still", k, pct(v), "-", "", "", ""))
        clips = real_clips(a.frames)
        fp_c = {"as is": [], "crf28": []}
        with tempfile.TemporaryDirectory() as td:
            for name, frames in clips:
                for k in fp_c:
                    fr = frames
                    if k == "crf28":
                        p = Path(td) / "r.mp4"
                        encode_mp4(frames, p, 28)
                        fr = decode_mp4(p)
                    r = detect_watermark(fr)
                    fp_c[k].append(r.found)
                    zs.append(r.score)
                    if r.found:
                        print(f"  FALSE POSITIVE clip {name} {k} z={r.score:.1f}")
        for k, v in fp_c.items():
            rows.append(("ours", "real clip", k, pct(v), "-", "", "", ""))
        print(f"real media: sync score max {max(zs):.2f}, mean {statistics.mean(zs):.2f} "
              f"(thresholds {DEFAULT_SCHEME.z_with_crc} with CRC, {DEFAULT_SCHEME.z_alone} alone)")

    # embed cost at 512 px vs pipeline per-frame time
    wm = Watermarker(new_payload())
    im = cv2.resize(gen[0][1][0], (512, 512))
    wm.embed(im)
    ts = []
    for _ in range(60):
        t = time.perf_counter()
        wm.embed(im)
        ts.append(time.perf_counter() - t)
    emb = statistics.median(ts) * 1e3
    pipe = statistics.median(t512) * 1e3 if t512 else float("nan")

    hdr = ("candidate", "media", "transform", "found (marked) / FP (real)", "payload exact", "embed ms", "detect ms", "PSNR dB")
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    print()
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
    for r in rows:
        print("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r)))
    print()
    print(f"embed at 512x512: {emb:.2f} ms/frame (median of 60, 2 threads); pipeline at 512: "
          f"{pipe:.1f} ms/frame -> watermark = {100 * emb / pipe:.1f}% of the pipeline's per-frame time"
          if t512 else f"embed at 512x512: {emb:.2f} ms/frame (pipeline time not measured: frames were cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
