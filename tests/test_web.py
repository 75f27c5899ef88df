"""The web UI (``talkinghead ui``) in headless Chromium, driven by Playwright.

Skips cleanly without gradio, playwright or a Chromium binary (Debian: chromium, chromium-driver).
Screenshots for review go to out/screenshots/ (or $TALKINGHEAD_SCREENSHOTS); their paths are printed.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
gr = pytest.importorskip("gradio")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*:FutureWarning",
                                        "ignore:.*(no_silent_downcasting|copy keyword).*")
sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
SHOTS = Path(os.environ.get("TALKINGHEAD_SCREENSHOTS", ROOT / "out" / "screenshots"))
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)", allow_module_level=True)

from talkinghead.errors import InputError  # noqa: E402
from talkinghead.interfaces import web  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    p = SHOTS / name
    page.screenshot(path=str(p), full_page=True)
    print(f"screenshot: {p}")
    return p


@pytest.fixture(scope="module")
def app_url(demo_inputs, tmp_path_factory):
    cache = tmp_path_factory.mktemp("ui")
    (cache / "examples").mkdir()
    for f in ("portrait.png", "driving.mp4"):  # the bundled example, already made by the fixture
        shutil.copy(demo_inputs / f, cache / "examples" / f)
    app, url = web.launch(port=_free_port(), cache_dir=cache, block=False, quiet=True)
    yield url
    app.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app_url)
    pg.wait_for_selector("#run")
    yield pg
    ctx.close()


def _toast_text(page, timeout: float = 30_000) -> str:
    loc = page.locator('[data-testid="toast-body"]').first
    loc.wait_for(state="visible", timeout=timeout)
    page.wait_for_timeout(600)  # let the toast finish sliding in before a screenshot
    return loc.inner_text()


def test_upload_run_result_plays(page, demo_inputs, tmp_path):
    _shot(page, "01_loaded.png")
    page.locator("#portrait-file input[type=file]").set_input_files(str(demo_inputs / "portrait.png"))
    page.locator("#portrait-preview img").wait_for(state="visible")
    page.locator("#driving-video input[type=file]").set_input_files(str(demo_inputs / "driving.mp4"))
    page.locator("#driving-video video").wait_for(state="attached")
    page.locator("#pose input[type=number]").fill("1.5")
    _shot(page, "02_inputs.png")

    page.click("#run")
    try:  # the progress bar ("rendering - 40.0%") while the pipeline runs
        page.wait_for_function("document.querySelector('#result-video').innerText.includes('rendering')",
                               timeout=60_000, polling=100)
        _shot(page, "03a_running.png")
    except sync_api.TimeoutError:
        print("progress bar not caught (render too fast)")
    page.locator("#result-video video").wait_for(state="attached", timeout=120_000)
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')", timeout=30_000)
    status = page.locator("#status").inner_text()
    assert "watermark found" in status and "C2PA" in status, status
    _shot(page, "03_result.png")

    played = page.evaluate("""async () => {
        const v = document.querySelector('#result-video video');
        v.muted = true;
        await v.play();
        await new Promise(r => setTimeout(r, 800));
        return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight, err: v.error ? v.error.code : null};
    }""")
    assert played["err"] is None and played["w"] > 0 and played["t"] > 0.2, played
    _shot(page, "04_playing.png")

    href = page.locator("#result-file a").first.get_attribute("href")
    data = page.request.get(href).body()
    out = tmp_path / "download.mp4"
    out.write_bytes(data)
    from talkinghead.provenance.credentials import read_credentials

    assert read_credentials(out).ok  # the download is the signed file


def test_bad_upload_shows_message(page, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image at all" * 10)
    page.locator("#portrait-file input[type=file]").set_input_files(str(bad))
    text = _toast_text(page)
    _shot(page, "05_bad_upload.png")
    assert "broken.png" in text and "Traceback" not in text, text
    assert str(tmp_path) not in text  # the user's file name, not the server's temp path


def test_bad_driver_shows_message(page, demo_inputs, tmp_path):
    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(os.urandom(4000))
    page.locator("#portrait-file input[type=file]").set_input_files(str(demo_inputs / "portrait.png"))
    page.locator("#portrait-preview img").wait_for(state="visible")
    page.locator("#driving-video input[type=file]").set_input_files(str(bad))
    page.click("#run")
    text = _toast_text(page, timeout=60_000)
    _shot(page, "06_bad_driver.png")
    assert "notavideo.mp4" in text and "Traceback" not in text, text


def test_speech_drivers_switch_controls(page):
    page.get_by_label("Text", exact=True).check()
    if web.speak_available():
        page.locator("#text textarea").wait_for(state="visible")
        page.locator("#text textarea").fill("Hello, I am a portrait.")
    else:
        page.locator("#text-unavailable").wait_for(state="visible")
    page.locator("#blink").wait_for(state="visible")  # speech controls in, video-only ones out
    assert page.locator("#pose").is_hidden() and page.locator("#driving-video").is_hidden()
    _shot(page, "07_text_driver.png")


def test_speak_unavailable_message(monkeypatch, demo_inputs, tmp_path):
    monkeypatch.setattr(web, "speak_available", lambda: False)
    with pytest.raises(InputError, match="not available"):
        web.render(str(demo_inputs / "portrait.png"), "Text", None, None, "hello", "en", 256,
                   1, 1, 1, 1, 17, 1, False, tmp_path)


def test_errors_become_messages():
    @web._guard
    def boom(path):
        raise InputError(path, "not an image or unsupported format")

    with pytest.raises(gr.Error) as e:
        boom("/tmp/gradio/abc123/photo.png")
    assert e.value.message == "photo.png: not an image or unsupported format"


def test_busy_port_and_bad_options_are_one_line_errors(tmp_path, capsys):
    """A port another program holds, a port out of range and a --cache that is a file: one line, exit 2."""
    import socket

    from talkinghead.errors import ConfigError
    from talkinghead.interfaces.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve on 127.0.0.1:{port}: Cannot find empty port"):
            web.launch(port=port, cache_dir=tmp_path / "c", examples=False, block=False, quiet=True)
    with pytest.raises(SystemExit) as ei:
        main(["ui", "--port", "99999"])
    assert ei.value.code == 2 and "a port is at most 65535" in capsys.readouterr().err
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["ui", "--cache", str(f), "--no-examples"]) == 2
    assert "--cache: not a folder" in capsys.readouterr().err
