"""``talkinghead batch``: jobs files, parallel workers, resume, summary, Ray."""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util

import numpy as np
import pytest

from talkinghead.errors import ConfigError, InputError
from talkinghead.pipelines.batch import is_complete, load_jobs, run_batch


def run_cli(argv: list[str]) -> int:
    """The ``batch``/``live``/``ui`` subcommands with the CLI's own error handling."""
    from talkinghead.interfaces import cli
    from talkinghead.interfaces.cli_extra import add_extra

    p = argparse.ArgumentParser(prog="talkinghead")
    p.add_argument("--debug", action="store_true")
    add_extra(p.add_subparsers(dest="command", required=True))
    return cli._run(p.parse_args(argv))


@pytest.fixture(scope="module")
def faceless(tmp_path_factory):
    from talkinghead.io.image import write_image

    p = tmp_path_factory.mktemp("faceless") / "gradient.png"
    x = np.linspace(0, 255, 160, dtype=np.float32)
    write_image(p, np.stack([np.add.outer(x, x) / 2] * 3, -1).astype(np.uint8))
    return p


def test_load_jobs_csv_and_yaml(tmp_path, demo_inputs):
    (tmp_path / "in").mkdir()
    csv = tmp_path / "jobs.csv"
    csv.write_text("source,driving,output,max_frames,pose,size,relative\n"
                   f"{demo_inputs}/portrait.png,{demo_inputs}/driving.mp4,a.mp4,5,1.5,512,false\n"
                   f"{demo_inputs}/portrait.png,{demo_inputs}/driving.mp4,,,,,\n")
    a, b = load_jobs(csv)
    assert a.output == str(tmp_path / "a.mp4") and a.max_frames == 5
    cfg = a.config()
    assert cfg.size == 512 and cfg.strength.pose == 1.5 and cfg.relative is False
    assert b.output == str(tmp_path / "out" / "portrait__driving.mp4") and b.config().size == 256
    yml = tmp_path / "jobs.yaml"
    yml.write_text(f"defaults: {{max_frames: 4, mouth: 2}}\njobs:\n"
                   f"  - {{source: {demo_inputs}/portrait.png, driving: {demo_inputs}/driving.mp4}}\n"
                   f"  - {{source: {demo_inputs}/portrait.png, text: Hello there, voice: de}}\n")
    v, t = load_jobs(yml, out_dir=tmp_path / "o")
    assert v.kind == "animate" and v.config().strength.mouth == 2 and v.max_frames == 4
    assert t.kind == "speak" and t.config().voice == "de" and t.config().mouth == 2
    # a default only one kind of job takes reaches only that kind; a key no job takes blames the defaults
    yml.write_text(f"defaults: {{relative: false, blink_rate: 5, voice: de}}\njobs:\n"
                   f"  - {{source: {demo_inputs}/portrait.png, driving: {demo_inputs}/driving.mp4}}\n"
                   f"  - {{source: {demo_inputs}/portrait.png, text: Hello there}}\n")
    v, t = load_jobs(yml, out_dir=tmp_path / "o")
    assert v.config().relative is False and "voice" not in v.options
    assert t.config().voice == "de" and t.config().blink_rate == 5 and "relative" not in t.options
    yml.write_text(f"defaults: {{colour: red}}\njobs:\n  - {{source: {demo_inputs}/portrait.png, text: Hi}}\n")
    with pytest.raises(ConfigError, match=r"jobs.yaml defaults.*unknown key.*'colour'"):
        load_jobs(yml)


@pytest.mark.parametrize("row, err, match", [
    ("{p},{d},,7", ConfigError, "line 2.*unknown config key.*colour"),
    ("{p},,,", ConfigError, "exactly one driver"),
    ("{p},{d},hello,", ConfigError, "max_frames"),
    ("missing.png,{d},,", InputError, "file not found"),
    ("{t},{d},,", InputError, "line 2: is a directory"),
    ("{p},{d},,lots", ConfigError, r"line 2: MotionStrength.pose: expected a number, got 'lots'"),
    ("{p},{d},true,", ConfigError, "max_frames"),
])
def test_bad_jobs_are_reported_before_rendering(tmp_path, demo_inputs, row, err, match):
    f = tmp_path / "jobs.csv"
    f.write_text("source,driving,max_frames,colour\n" if "7" in row else "source,driving,max_frames,pose\n")
    f.write_text(f.read_text() + row.format(p=demo_inputs / "portrait.png", d=demo_inputs / "driving.mp4",
                                            t=tmp_path) + "\n")
    with pytest.raises(err, match=match):
        load_jobs(f)
    with pytest.raises(InputError, match="is a directory"):  # the jobs file itself (was "file not found")
        load_jobs(tmp_path)


def test_outputs_and_ray_address_are_checked_before_rendering(tmp_path, demo_inputs):
    """An output the pipelines cannot write (.avi, a folder) or a malformed --ray address is refused
    when the jobs are loaded, not after the other jobs have rendered."""
    p, d = demo_inputs / "portrait.png", demo_inputs / "driving.mp4"
    f = tmp_path / "jobs.csv"
    (tmp_path / "taken.mp4").mkdir()
    for out, match in (("x.avi", r"unsupported extension '\.avi'"), ("taken.mp4", "is a folder")):
        f.write_text(f"source,driving,output\n{p},{d},ok.mp4\n{p},{d},{out}\n")
        with pytest.raises(ConfigError, match=match):
            load_jobs(f)
    if importlib.util.find_spec("ray") is not None:
        f.write_text(f"source,driving,output,max_frames\n{p},{d},ok.mp4,2\n")
        with pytest.raises(ConfigError, match="not a Ray address"):
            run_batch(load_jobs(f), workers=1, ray_address="garbage")
        assert not (tmp_path / "ok.mp4").exists()
        import socket

        with socket.socket() as s:  # a port where nothing listens: our own error, not Ray's minutes of retries
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"nothing answers at 127.0.0.1:{port}"):
            run_batch(load_jobs(f), workers=1, ray_address=f"127.0.0.1:{port}")
        assert not (tmp_path / "ok.mp4").exists()


def test_batch_renders_resumes_and_reports_failures(tmp_path, demo_inputs, faceless, capsys):
    jobs = tmp_path / "jobs.csv"
    p, d = demo_inputs / "portrait.png", demo_inputs / "driving.mp4"
    jobs.write_text("source,driving,output,max_frames,mode,pose\n"
                    f"{p},{d},a.mp4,6,face,1\n{p},{d},b.mp4,6,face,2\n{faceless},{d},c.mp4,6,face,1\n")
    assert run_cli(["batch", str(jobs), "--workers", "2", "--quiet"]) == 1  # one job fails
    out = capsys.readouterr().out
    assert "3 jobs: 2 rendered, 0 skipped (already complete), 1 failed" in out
    assert "gradient.png: no face found" in out
    assert is_complete(tmp_path / "a.mp4") and is_complete(tmp_path / "b.mp4")
    assert not (tmp_path / "c.mp4").exists()

    # resume: complete outputs are skipped; a damaged one is rendered again
    data = (tmp_path / "b.mp4").read_bytes()
    (tmp_path / "b.mp4").write_bytes(data[: len(data) // 2])
    assert not is_complete(tmp_path / "b.mp4")
    s = run_batch(load_jobs(jobs)[:2], workers=1)
    assert [r.status for r in s.results] == ["skipped", "done"] and s.ok
    assert is_complete(tmp_path / "b.mp4")
    assert run_cli(["batch", str(jobs), "--quiet", "--workers", "1"]) == 1
    assert "2 skipped" in capsys.readouterr().out

    # a whole, decodable video that is not ours (no talkinghead credentials) is not taken as done
    import shutil

    shutil.copy(d, tmp_path / "a.mp4")
    assert not is_complete(tmp_path / "a.mp4")
    s = run_batch(load_jobs(jobs)[:1], workers=1)
    assert [r.status for r in s.results] == ["done"] and is_complete(tmp_path / "a.mp4")

    # the manifest records the job: a changed option or input renders again, the same job is skipped
    from talkinghead.pipelines.batch import job_fingerprint

    a = load_jobs(jobs)[0]
    assert is_complete(tmp_path / "a.mp4", job_fingerprint(a))
    jobs.write_text(jobs.read_text().replace("a.mp4,6,face,1", "a.mp4,6,face,1.5"))
    a2 = load_jobs(jobs)[0]
    assert job_fingerprint(a2) != job_fingerprint(a) and not is_complete(tmp_path / "a.mp4", job_fingerprint(a2))
    # the whole configuration counts, defaults included: setting an option to its default is the same
    # job, and a job that leaves it unset is rendered again when the default changes
    from talkinghead.config import AnimateConfig

    default = AnimateConfig().resolution
    explicit = dataclasses.replace(a2, options={**a2.options, "resolution": default})
    assert job_fingerprint(explicit) == job_fingerprint(a2)
    assert job_fingerprint(dataclasses.replace(a2, options={**a2.options, "resolution": 0})) != job_fingerprint(a2)
    s = run_batch(load_jobs(jobs)[:2], workers=1)
    assert [r.status for r in s.results] == ["done", "skipped"]
    assert is_complete(tmp_path / "a.mp4", job_fingerprint(a2))
    shutil.copy(p, tmp_path / "p2.png")
    jobs.write_text(jobs.read_text().replace(f"{p},{d},b.mp4", f"{tmp_path / 'p2.png'},{d},b.mp4"))
    b = load_jobs(jobs)[1]
    assert is_complete(tmp_path / "b.mp4", job_fingerprint(b))  # same bytes: still done
    (tmp_path / "p2.png").write_bytes((tmp_path / "p2.png").read_bytes() + b"\0")  # a changed photo
    assert not is_complete(tmp_path / "b.mp4", job_fingerprint(b))


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_batch_on_a_local_ray_instance(tmp_path, demo_inputs):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"defaults: {{source: {demo_inputs}/portrait.png, driving: {demo_inputs}/driving.mp4, "
                    "max_frames: 5}\njobs:\n  - {output: r1.mp4}\n  - {output: r2.mp4, mouth: 2}\n")
    s = run_batch(load_jobs(jobs), workers=2, ray_address="local")  # ray.init() on this machine
    assert s.backend == "ray" and s.ok and [r.status for r in s.results] == ["done", "done"], s.describe()
    assert all(r.n_frames == 5 for r in s.results)
    assert is_complete(tmp_path / "r1.mp4") and is_complete(tmp_path / "r2.mp4")


def test_jobs_file_encodings_and_outputs_that_are_inputs(tmp_path, demo_inputs):
    p, d = demo_inputs / "portrait.png", demo_inputs / "driving.mp4"
    bom = tmp_path / "excel.csv"  # Excel's "CSV UTF-8" starts with a byte-order mark
    bom.write_bytes("\ufeffsource,driving\n".encode() + f"{p},{d}\n".encode())
    assert load_jobs(bom)[0].source == str(p)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"source,driving\n" + f"{p},{d}".encode() + b"\xff\n")
    with pytest.raises(InputError, match="not UTF-8 text"):
        load_jobs(latin)

    def refused(name: str, text: str, error: type, match: str) -> None:
        (tmp_path / name).write_text(text)
        with pytest.raises(error, match=match):
            load_jobs(tmp_path / name)

    refused("own.csv", f"source,driving,output\n{p},{d},{d}\n", ConfigError, "line 2: output .* is its own input")
    (tmp_path / "a.mp4").write_bytes(d.read_bytes())  # chain.csv: job 1 would overwrite the photo job 2 reads
    refused("chain.csv", f"source,driving,output\n{p},{d},{tmp_path / 'a.mp4'}\n{tmp_path / 'a.mp4'},{d},{tmp_path / 'b.mp4'}\n",
            ConfigError, "line 2: output .* is an input of chain.csv line 3")
    refused("j.yaml", f"- {{source: {p}, driving: {d}, output: [a, b]}}\n", ConfigError, "output: expected a path")
    refused("j.yaml", "defaults: [1]\njobs: []\n", InputError, "defaults: expected a mapping")


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng not installed")
def test_ctrl_c_stops_the_batch_cleanly(tmp_path, demo_inputs):
    """Ctrl-C while one worker renders a long job and the other waits for work: exit 130, one line
    ("interrupted", no traceback from the idle worker), no half-written output, no process left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    p = demo_inputs / "portrait.png"
    long_text = " ".join(["This sentence is here to make one job take a long time to render."] * 12)
    (tmp_path / "jobs.csv").write_text(f'source,text,output\n{p},"{long_text}",a.mp4\n{p},Hi.,b.mp4\n{p},Yes.,c.mp4\n')
    proc = subprocess.Popen([sys.executable, "-m", "talkinghead.interfaces.cli", "batch", str(tmp_path / "jobs.csv"),
                             "--workers", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        t0 = time.time()
        while not (is_complete(tmp_path / "b.mp4") and is_complete(tmp_path / "c.mp4")):
            assert proc.poll() is None and time.time() - t0 < 120, "the short jobs did not finish"
            time.sleep(0.2)
        time.sleep(1.0)  # one worker now idle, the other inside the long job
        assert proc.poll() is None, "the long job finished before the interrupt"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "interrupted" in err, err
    assert not (tmp_path / "a.mp4").exists() and not list(tmp_path.glob(".a.mp4*"))
