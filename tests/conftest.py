import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared/data/real not present")
    return SHARED


def _write_mono_audio(path: Path, x, rate: int, codec: str, fmt: str | None = None) -> Path:
    """Encode a float32 mono signal with PyAV (container from ``fmt`` or the file's suffix)."""
    import av

    with av.open(str(path), "w", format=fmt) as c:
        stream = c.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(packet)
    return path


@pytest.fixture(scope="session")
def write_mono_audio():
    """``write_mono_audio(path, x, rate, codec, fmt=None)``: compressed test audio (mp3, aac, opus, ...)."""
    return _write_mono_audio


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory) -> Path:
    """Short bundled demo inputs (portrait.png, driving.mp4) made by scripts/make_demo_inputs.py."""
    d = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_inputs.py"), str(d), "--seconds", "1.6"],
                   check=True, capture_output=True)
    return d
