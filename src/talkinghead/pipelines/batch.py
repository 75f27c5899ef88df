"""Batch rendering: many (source, driver, options) jobs, in parallel processes or on a Ray cluster.

Jobs file: CSV (a header row) or YAML (a list of jobs, or ``{defaults: {...}, jobs: [...]}``; a
default that only one kind of job takes reaches only that kind).
Columns / keys:

* ``source`` (required), one driver: ``driving`` (video -> animate) or ``audio`` / ``text`` (speak);
* ``output`` (default ``OUT_DIR/<source stem>__<driver stem>.mp4``);
* ``max_frames`` (render only the first N frames);
* any option of :class:`~talkinghead.config.AnimateConfig` (``pose``, ``expression``, ``eyes`` and
  ``mouth`` are the strengths) or :class:`~talkinghead.config.SpeakConfig`; unknown keys are errors.

Relative paths are relative to the jobs file. A job whose output already exists and is complete
(a valid talkinghead C2PA manifest, whose hash covers the whole file, recording this job's
fingerprint: its inputs' contents, text, whole configuration (defaults included) and frame limit) is skipped, so an interrupted
batch resumes where it stopped and a changed job is rendered again. Every job runs the same pipeline as the
CLI; a failing job is reported and the others go on. With ``--ray`` the jobs are Ray tasks (one CPU
each); inputs and outputs must then be on a filesystem every node sees, with talkinghead installed.
"""
from __future__ import annotations

import csv
import functools
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from talkinghead.config import AnimateConfig, SpeakConfig
from talkinghead.errors import ConfigError, InputError, TalkingHeadError
from talkinghead.io.atomic import check_input_file
from talkinghead.provenance.credentials import VIDEO_EXTENSIONS

__all__ = ["Job", "JobResult", "BatchSummary", "load_jobs", "job_fingerprint", "is_complete", "run_job", "run_batch"]

_DRIVERS = ("driving", "audio", "text")
_STRENGTHS = ("pose", "expression", "eyes", "mouth")
_RAW_KEYS = {"source", "output", *_DRIVERS, "voice", "model", "sign_cert", "sign_key"}  # kept as text


@dataclass
class Job:
    """One render: ``kind`` is "animate" (``driving``) or "speak" (``audio`` or ``text``)."""

    name: str
    source: str
    output: str
    driving: str | None = None
    audio: str | None = None
    text: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_frames: int | None = None
    fingerprint: str | None = None  # set by run_batch (job_fingerprint); recorded in the output's manifest

    @property
    def kind(self) -> str:
        return "animate" if self.driving is not None else "speak"

    def config(self) -> AnimateConfig | SpeakConfig:
        if self.kind == "animate":
            opts = dict(self.options)
            strength = {k: opts.pop(k) for k in _STRENGTHS if k in opts}
            if strength:
                opts["strength"] = {**opts.get("strength", {}), **strength}
            return AnimateConfig.from_dict(opts, source=self.name)
        return SpeakConfig.from_dict(self.options, source=self.name)


@dataclass
class JobResult:
    name: str
    output: str
    status: str  # "done" | "skipped" | "failed"
    seconds: float = 0.0
    n_frames: int = 0
    error: str | None = None


@dataclass
class BatchSummary:
    results: list[JobResult]
    seconds: float
    workers: int
    backend: str

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def describe(self) -> str:
        lines = [f"batch: {len(self.results)} jobs: {self.count('done')} rendered, {self.count('skipped')} skipped "
                 f"(already complete), {self.count('failed')} failed in {self.seconds:.1f} s "
                 f"({self.workers} {self.backend} workers)"]
        lines += [f"  failed: {r.name}: {r.error}" for r in self.results if r.status == "failed"]
        return "\n".join(lines)


# -- jobs file ----------------------------------------------------------------------------------
def _cell(key: str, value: Any) -> Any:
    """CSV cells are text: options are parsed as YAML scalars (256 -> int, true -> bool)."""
    if not isinstance(value, str) or key in _RAW_KEYS:
        return value
    return yaml.safe_load(value)


def _read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                               "save it as UTF-8") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            from talkinghead.config import yaml_error_line

            raise InputError(path, f"not valid YAML ({yaml_error_line(e)})") from None
        defaults: dict[str, Any] = {}
        if isinstance(doc, dict):
            defaults, doc = doc.get("defaults") or {}, doc.get("jobs")
            if not isinstance(defaults, dict):
                raise InputError(path, f"defaults: expected a mapping of options, got {defaults!r}")
            unknown = sorted(str(k) for k in defaults if k not in _JOB_KEYS | _option_keys("animate") | _option_keys("speak"))
            if unknown:
                raise ConfigError(f"{path.name} defaults", f"unknown key(s) {', '.join(map(repr, unknown))}")
        if not isinstance(doc, list) or not all(isinstance(d, dict) for d in doc):
            raise InputError(path, "expected a list of jobs (or {defaults: ..., jobs: [...]})")
        # a default for one kind of job (relative: animate; voice: speak) does not reach the other kind
        return [(f"{path.name} job {i + 1}", {**_defaults_for(defaults, d), **d}) for i, d in enumerate(doc)]
    if path.suffix.lower() != ".csv":
        raise InputError(path, "jobs file must be .csv, .yaml or .yml")
    rows = list(csv.DictReader(text.splitlines()))
    out = []
    for i, row in enumerate(rows):
        if None in row:
            raise InputError(path, f"line {i + 2}: more cells than header columns")
        d = {k.strip(): _cell(k.strip(), v.strip()) for k, v in row.items() if k and v is not None and v.strip()}
        out.append((f"{path.name} line {i + 2}", d))
    return out


_JOB_KEYS = {"source", "output", *_DRIVERS, "max_frames"}


def _option_keys(kind: str) -> set[str]:
    """Option keys a job of ``kind`` ("animate" or "speak") takes."""
    import dataclasses

    if kind == "animate":
        return {f.name for f in dataclasses.fields(AnimateConfig)} | set(_STRENGTHS)
    return {f.name for f in dataclasses.fields(SpeakConfig)}


def _defaults_for(defaults: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """The defaults that apply to ``job``: all but the options only the other kind of job takes."""
    given = [k for k in _DRIVERS if job.get(k) is not None or (k not in job and defaults.get(k) is not None)]
    if len(given) != 1:  # no driver or several: _job reports it
        return defaults
    kind = "animate" if given[0] == "driving" else "speak"
    own = _JOB_KEYS | _option_keys(kind)
    return {k: v for k, v in defaults.items() if k in own}


def _resolve(base: Path, p: Any) -> str:
    q = Path(os.path.expanduser(str(p)))
    return str(q if q.is_absolute() else base / q)


def _job(name: str, d: dict[str, Any], base: Path, out_dir: Path) -> Job:
    d = dict(d)
    if d.get("source") is None:
        raise ConfigError(name, "no 'source'")
    for k in ("source", "output", *_DRIVERS):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise ConfigError(name, f"{k}: expected a path{' or text' if k == 'text' else ''}, got {d[k]!r}")
    given = [k for k in _DRIVERS if d.get(k) is not None]
    if len(given) != 1:
        raise ConfigError(name, "give exactly one driver: 'driving' (video), 'audio' or 'text'")
    source = _resolve(base, d.pop("source"))
    driving = _resolve(base, d.pop("driving")) if "driving" in d else None
    audio = _resolve(base, d.pop("audio")) if "audio" in d else None
    text = str(d.pop("text")) if "text" in d else None
    mf = d.pop("max_frames", None)
    if mf is not None and (isinstance(mf, bool) or not isinstance(mf, int) or mf < 1):
        raise ConfigError(name, f"max_frames must be a positive integer, got {mf!r}")
    stem = Path(driving or audio).stem if text is None else "text"
    output = _resolve(base, d.pop("output")) if "output" in d else str(out_dir / f"{Path(source).stem}__{stem}.mp4")
    job = Job(name, source, output, driving, audio, text, d, mf)
    job.config()  # validate the options now, not in a worker
    if Path(output).suffix.lower() not in VIDEO_EXTENSIONS:  # not after the other jobs have rendered
        raise ConfigError(name, f"output {output}: unsupported extension '{Path(output).suffix}' "
                                f"(use {' or '.join(sorted(VIDEO_EXTENSIONS))})")
    if Path(output).is_dir():
        raise ConfigError(name, f"output {output} is a folder; give a file name")
    for f in (source, driving, audio):
        if f is not None and not Path(f).is_file():
            raise InputError(f, f"{name}: {'is a directory' if Path(f).is_dir() else 'file not found'}")
    return job


def load_jobs(path: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Job]:
    """Parse and validate a jobs file (CSV or YAML); raises ConfigError / InputError with the job's line."""
    p = check_input_file(path)  # "file not found", "is a directory", ...
    base = p.resolve().parent
    out = Path(out_dir) if out_dir is not None else base / "out"
    jobs = [_job(name, d, base, out) for name, d in _read_rows(p)]
    if not jobs:
        raise InputError(p, "no jobs")
    seen: dict[str, str] = {}
    for j in jobs:
        key = os.path.realpath(j.output)
        if key in seen:
            raise ConfigError(j.name, f"same output as {seen[key]}: {j.output}")
        seen[key] = j.name
    inputs = {os.path.realpath(x): j.name for j in jobs for x in (j.source, j.driving, j.audio) if x is not None}
    for j in jobs:  # a render must never replace a file that a job reads
        other = inputs.get(os.path.realpath(j.output))
        if other is not None:
            where = "its own input" if other == j.name else f"an input of {other}"
            raise ConfigError(j.name, f"output {j.output} is {where}; choose another output path")
    return jobs


# -- one job ------------------------------------------------------------------------------------
def job_fingerprint(job: Job) -> str:
    """What the job renders from: its kind, the contents of its input files, its text, its whole
    configuration (the options it sets and the defaults of those it does not, so a changed default
    also renders again) and frame limit (sha256). Any change means the output is rendered again on
    resume."""
    import hashlib
    import json

    try:
        options: Any = job.config().to_dict()
    except TalkingHeadError:  # a job that cannot run: it fails when run, whatever its fingerprint
        options = job.options
    what = {"kind": job.kind, "text": job.text, "options": options, "max_frames": job.max_frames,
            "inputs": [_content_hash(f) if f is not None else None for f in (job.source, job.driving, job.audio)]}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _content_hash(path: str) -> str | None:
    """sha256 of a file, read once per process for as long as its size and mtime stay the same (many
    jobs share one driver video or portrait)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _hash_of(os.path.realpath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _hash_of(path: str, size: int, mtime_ns: int) -> str | None:
    from talkinghead.io.atomic import file_sha256

    return file_sha256(path)


def is_complete(path: str | os.PathLike, fingerprint: str | None = None) -> bool:
    """True when ``path`` is a finished talkinghead output: a valid C2PA manifest (its hash covers the
    whole file, so a cut-off file fails) whose claim generator is talkinghead, and, given a job's
    ``fingerprint``, made by that same job (the manifest records it). Every output is signed, so
    anything else at the path (a damaged file, another program's video, an output of the job before
    its inputs or options changed) is rendered again."""
    from talkinghead.provenance.credentials import read_credentials

    p = Path(os.fspath(path))
    if not p.is_file() or p.stat().st_size == 0:
        return False
    try:
        c = read_credentials(p)
    except (TalkingHeadError, OSError, ValueError):
        return False
    if not (c.ok and str(c.summary.get("generator", "")).startswith("talkinghead")):
        return False
    return fingerprint is None or (c.summary.get("generation") or {}).get("batch_job") == fingerprint


def _limit_threads() -> None:
    """Each worker process uses one thread: ``workers`` processes = ``workers`` cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2

    cv2.setNumThreads(1)  # torch (speak) reads OMP_NUM_THREADS when it is first imported


def run_job(job: Job) -> JobResult:
    """Render one job (in whichever process calls it); user errors become a "failed" result."""
    from talkinghead.pipelines.provenance import generation_record

    t0 = time.perf_counter()
    try:
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        cfg = job.config()
        if cfg.workers is None:  # the batch already runs one job per core: no render workers of its own
            cfg = cfg.replace(workers=0)
        with generation_record({"batch_job": job.fingerprint or job_fingerprint(job)}):
            return _render(job, cfg, t0)
    except TalkingHeadError as e:
        return JobResult(job.name, job.output, "failed", time.perf_counter() - t0, error=str(e))
    except Exception as e:  # noqa: BLE001 - a bug in one job must not stop the batch
        return JobResult(job.name, job.output, "failed", time.perf_counter() - t0,
                         error=f"internal error: {type(e).__name__}: {e}")


def _render(job: Job, cfg, t0: float) -> JobResult:
    if job.kind == "animate":
        from talkinghead.pipelines.animate import AnimatePipeline

        res = AnimatePipeline(cfg, notify=lambda *a, **k: None)(job.source, job.driving, job.output,
                                                                max_frames=job.max_frames)
    else:
        try:
            from talkinghead.pipelines.speak import SpeakPipeline
        except ImportError:
            raise ConfigError(job.name, "audio/text jobs need the speak pipeline, not available here") from None
        res = SpeakPipeline(cfg, notify=lambda *a, **k: None)(
            job.source, audio=job.audio, text=job.text, output=job.output, max_frames=job.max_frames)
    return JobResult(job.name, job.output, "done", time.perf_counter() - t0, res.n_frames)


_STOP = False  # set in a worker process once it was interrupted: queued jobs then return at once
_BUSY = False  # a worker process is inside a job (an interrupt then stops that job)


def _init_worker() -> None:
    import signal

    def stop(signum, frame):
        global _STOP
        _STOP = True
        if _BUSY:  # stop the job (its temp files go); an idle worker just exits when the pool shuts
            raise KeyboardInterrupt  # down (raising while it waits for work printed a traceback)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _worker(job: Job) -> JobResult:
    global _BUSY
    if _STOP:
        return JobResult(job.name, job.output, "failed", error="interrupted")
    _limit_threads()
    _BUSY = True
    try:
        return run_job(job)
    finally:
        _BUSY = False


# -- many jobs ----------------------------------------------------------------------------------
def _run_processes(jobs: list[Job], workers: int, done: Callable[[JobResult], None]) -> None:
    import multiprocessing as mp

    if workers == 1:
        for j in jobs:
            done(_worker(j))
        return
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)
    try:
        pending = {ex.submit(_worker, j) for j in jobs}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                done(f.result())
    except BaseException:  # Ctrl-C / SIGTERM: running jobs stop (their temp files go), queued ones are dropped
        import signal

        for proc in list(getattr(ex, "_processes", {}).values()):  # Ctrl-C reached them already; SIGTERM did not
            try:
                os.kill(proc.pid, signal.SIGINT)
            except (OSError, AttributeError):
                pass
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _ray_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of host:port (port 1-65535), optionally with a scheme such as ray://; else None."""
    import re

    m = re.fullmatch(r"(?:[a-z]+://)?\[?([A-Za-z0-9._:-]+?)\]?:(\d{1,5})", address)
    return (m.group(1), int(m.group(2))) if m is not None and 0 < int(m.group(2)) < 65536 else None


def _looks_like_ray_address(address: str) -> bool:
    """host:port (port 1-65535), optionally with a scheme such as ray://, or 'auto'."""
    return address == "auto" or _ray_host_port(address) is not None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A quick TCP connect to a host:port address: Ray itself retries an address where nothing
    answers for many minutes before it gives up."""
    import socket

    hp = _ray_host_port(address)
    if hp is None:  # "auto": Ray finds the cluster itself
        return
    try:
        socket.create_connection(hp, timeout=timeout).close()
    except OSError as e:
        raise ConfigError(None, f"--ray {address}: nothing answers at {hp[0]}:{hp[1]} "
                                f"({e.strerror or type(e).__name__}); is the cluster running?") from None


def _run_ray(jobs: list[Job], address: str, workers: int, done: Callable[[JobResult], None]) -> int:
    """Ray tasks (one CPU each) on the cluster at ``address`` ("local" starts one here)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(None, "--ray needs the 'ray' package (pip install ray)") from None
    if address != "local" and not _looks_like_ray_address(address):
        raise ConfigError(None, f"--ray: {address!r} is not a Ray address (use 'local', host:port or ray://host:port)")
    if address != "local":
        _check_reachable(address)
    started = not ray.is_initialized()
    if started:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address == "local":
            kw.update(num_cpus=workers, object_store_memory=128 * 2**20)
        else:
            kw["address"] = address
        try:
            ray.init(**kw)
        except (ConnectionError, TimeoutError, RuntimeError) as e:
            raise ConfigError(None, f"--ray {address}: cannot connect to a Ray cluster there "
                                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_worker)
        refs = {task.remote(j): j for j in jobs}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for r in ready:
                job = refs.pop(r)
                try:
                    done(ray.get(r))
                except Exception as e:  # noqa: BLE001 - a lost worker, not the job's fault
                    done(JobResult(job.name, job.output, "failed", error=f"ray: {type(e).__name__}: {e}"))
        return int(ray.cluster_resources().get("CPU", workers))
    finally:
        if started:
            ray.shutdown()


def run_batch(jobs: Iterable[Job], workers: int = 2, ray_address: str | None = None, resume: bool = True,
              progress: Callable[[JobResult], None] | None = None) -> BatchSummary:
    """Run ``jobs`` (skipping complete outputs when ``resume``); returns the summary, in job order."""
    jobs = list(jobs)
    if workers < 1:
        raise ConfigError(None, f"workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    results: dict[str, JobResult] = {}

    def done(r: JobResult) -> None:
        results[r.name] = r
        if progress is not None:
            progress(r)

    todo = []
    for j in jobs:
        j.fingerprint = j.fingerprint or job_fingerprint(j)
        if resume and is_complete(j.output, j.fingerprint):
            done(JobResult(j.name, j.output, "skipped"))
        else:
            todo.append(j)
    backend, n = "process", workers
    if todo and ray_address:
        backend, n = "ray", _run_ray(todo, ray_address, workers, done)
    elif todo:
        n = min(workers, len(todo))  # no idle processes to start
        _run_processes(todo, n, done)
    return BatchSummary([results[j.name] for j in jobs], time.perf_counter() - t0, n, backend)


def print_progress(r: JobResult, stream=None) -> None:
    stream = stream or sys.stderr
    extra = f"{r.n_frames} frames in {r.seconds:.1f} s" if r.status == "done" else (r.error or "")
    print(f"[{r.status}] {r.name} -> {r.output} {extra}".rstrip(), file=stream, flush=True)

