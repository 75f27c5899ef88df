"""Frozen pretrained speech features for the audio-to-motion network.

Google's *speech_embedding* network (Lin et al. 2020, "Training keyword spotters with limited and
synthesized speech data", arXiv:2002.01322: a stack of small conv blocks pre-trained on a very large
speech corpus to give general-purpose speech embeddings) in the ONNX form that the ``openwakeword==0.4.0``
wheel ships (``openwakeword/resources/models/{melspectrogram,embedding_model}.onnx``; Google released the
model on TFHub under Apache-2.0). Nothing is downloaded: the files come with that pinned package.

We do not use its final 96-d embedding (0.76 s windows, 80 ms stride): the network is convolutional in
time, so the graph is opened up to run on a whole utterance and to output an intermediate layer
(:data:`LAYER`: ``tf.math.maximum_14``, after the 15th of its 20 conv layers; 40 ms stride, 0.4 s
receptive field, 96 channels x 4 bands).
Those features carry phonetic knowledge that our 2.6 minutes of talking clips cannot teach (see
``assets/AUDIO_MODEL.md``); :func:`speech_features` resamples them to the log-mel frame grid (100 Hz).
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from talkinghead.errors import ConfigError

PACKAGE = "openwakeword==0.4.0"
SR = 16000
MEL_HOP_S = 0.01  # the melspectrogram model: 512-sample windows, hop 160, no padding
MEL_CENTRE_S = 256 / SR  # centre of its first frame
# name of the tensor, stride (mel frames), receptive field (mel frames), features (channels x bands)
LAYER = ("model/tf.math.maximum_14/Maximum:0", 4, 40, 384)
N_FEATURES = LAYER[3]
PHASES = 4  # pooling-grid phases averaged (see speech_features)
PAD_S = 0.25  # silence around the samples (more than half the receptive field)


def _model_dir() -> Path:
    spec = importlib.util.find_spec("openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(None, f"the speech model needs the {PACKAGE} package: run `make install` "
                                f"(or pip install --no-deps {PACKAGE})")
    d = Path(list(spec.submodule_search_locations)[0]) / "resources" / "models"
    for f in ("melspectrogram.onnx", "embedding_model.onnx"):
        if not (d / f).is_file():
            raise ConfigError(None, f"{d / f} is missing: reinstall {PACKAGE}")
    return d


@functools.lru_cache(maxsize=1)
def _sessions():
    """(melspectrogram session, opened-up embedding session); built once per process."""
    import onnx
    import onnx.utils
    import onnxruntime as ort
    from onnx import TensorProto, helper

    d = _model_dir()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    prov = ["CPUExecutionProvider"]
    mel = ort.InferenceSession(str(d / "melspectrogram.onnx"), opts, providers=prov)
    m = onnx.load(str(d / "embedding_model.onnx"))
    g = m.graph
    g.input[0].type.tensor_type.shape.dim[1].dim_param = "T"  # any number of frames, not 76
    for n in g.node:  # the fixed-size NHWC -> NCHW reshape becomes a transpose
        if n.op_type == "Reshape" and n.input[0] == g.node[0].output[0]:
            n.op_type = "Transpose"
            del n.input[1]
            n.attribute.append(helper.make_attribute("perm", [0, 3, 1, 2]))
            break
    else:
        raise ConfigError(None, f"unexpected graph in {d / 'embedding_model.onnx'}")
    g.output.append(helper.make_tensor_value_info(LAYER[0], TensorProto.FLOAT, None))
    m = onnx.utils.Extractor(m).extract_model([g.input[0].name], [LAYER[0]])  # only the layers it needs
    return mel, ort.InferenceSession(m.SerializeToString(), opts, providers=prov)


def _spectrogram(samples: np.ndarray) -> np.ndarray:
    """The melspectrogram model's frames (T, 32) of ``samples`` with PAD_S of silence on each side
    (frame ``i`` centred at ``i`` x 10 ms + MEL_CENTRE_S - PAD_S from ``samples[0]``)."""
    mel_s, _ = _sessions()
    pad = int(PAD_S * SR)
    x = np.zeros(max(samples.shape[0] + 2 * pad, 512 + 160 * (LAYER[2] - 1)), np.float32)  # >= one field
    x[pad: pad + samples.shape[0]] = samples
    x *= 32767.0  # the model expects 16-bit sample values
    return mel_s.run(None, {"input": x[None]})[0].reshape(-1, 32) / 10.0 + 2.0  # openWakeWord's scaling


def _layer(spec: np.ndarray, delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Layer output (T', C * F) and the times (s, relative to the samples' start) of its frames, with
    the input delayed by ``delay`` mel frames. A delay of whole 10 ms hops shifts the spectrogram by
    whole frames, so it is the same spectrogram led in by ``delay`` frames of its leading silence."""
    _, emb_s = _sessions()
    spec = np.concatenate([np.repeat(spec[:1], delay, axis=0), spec])  # frame 0 lies wholly in the silence
    out = emb_s.run(None, {"input_1": spec[None, :, :, None].astype(np.float32)})[0][0]  # (C, T', F)
    f = out.transpose(1, 0, 2).reshape(out.shape[1], -1)
    stride, rf = LAYER[1], LAYER[2]
    centre = (np.arange(f.shape[0]) * stride + (rf - 1) / 2 - delay) * MEL_HOP_S + MEL_CENTRE_S - PAD_S
    return f, centre


def _resample(f: np.ndarray, centre: np.ndarray, n_frames: int) -> np.ndarray:
    """Linear interpolation of frames at times ``centre`` onto the 10 ms grid (edges held)."""
    pos = np.clip(np.interp(np.arange(n_frames) * MEL_HOP_S, centre, np.arange(f.shape[0])), 0, f.shape[0] - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, f.shape[0] - 1)
    w = (pos - i0)[:, None].astype(np.float32)
    return (1 - w) * f[i0] + w * f[i1]


def speech_features(samples: np.ndarray, n_frames: int, phases: int = PHASES) -> np.ndarray:
    """(n_frames, N_FEATURES) float32 features of 16 kHz mono ``samples`` on the log-mel grid
    (frame ``i`` at ``i`` x 10 ms, as :func:`talkinghead.drivers.speech_features.log_mel`).

    The layer's 40 ms stride comes from max-pooling, so its output depends on where the pooling grid
    falls; the mean over ``phases`` evenly spaced input delays (whole 10 ms hops: ``phases`` divides
    the stride) removes that dependence. The spectrogram is computed once for all of them."""
    if phases < 1 or LAYER[1] % phases:
        raise ValueError(f"phases must divide the layer's stride ({LAYER[1]} frames), got {phases}")
    spec = _spectrogram(np.asarray(samples, np.float32))
    acc = np.zeros((n_frames, N_FEATURES), np.float32)
    for p in range(phases):
        acc += _resample(*_layer(spec, p * (LAYER[1] // phases)), n_frames)
    return acc / phases
