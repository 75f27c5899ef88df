"""Payload of the invisible watermark: 64 bits (tool, version, random output id, CRC-12),
convolutionally encoded (rate 1/3, K=7) into 210 +-1 symbols and decoded with soft Viterbi."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["N_CODED", "TOOL_IDS", "WatermarkPayload", "new_payload"]

TOOL_IDS = {"talkinghead": 1}
"""Tool name -> 4-bit id carried in the payload (0 = unknown tool)."""
_TOOL_NAMES = {v: k for k, v in TOOL_IDS.items()}

_N_BITS = 64  # tool 4 + version 16 + id 32 + CRC 12
_K = 7  # constraint length of the convolutional code (rate 1/3, generators 171 133 165 octal)
_GENS = (0o171, 0o133, 0o165)
N_CODED = _N_CODED = (_N_BITS + _K - 1) * len(_GENS)  # 210 coded bits, one pattern each
CRC_BITS = _CRC_BITS = 12
_CRC_POLY = 0x80F  # CRC-12 (x^12 + x^11 + x^3 + x^2 + x + 1)
_KEY = 0x7A1C_4E55  # seeds the symbol scrambler


# -- payload -------------------------------------------------------------------------------------


def _crc12(value: int, nbits: int) -> int:
    crc = 0
    for i in range(nbits - 1, -1, -1):
        bit = (value >> i) & 1
        top = (crc >> (_CRC_BITS - 1)) & 1
        crc = ((crc << 1) & ((1 << _CRC_BITS) - 1))
        if top ^ bit:
            crc ^= _CRC_POLY & ((1 << _CRC_BITS) - 1)
    return crc


def _parse_version(version: str) -> tuple[int, int, int]:
    parts = []
    for p in str(version).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit()) or "0"
        parts.append(int(digits[:6]))
    while len(parts) < 3:
        parts.append(0)
    return min(parts[0], 15), min(parts[1], 63), min(parts[2], 63)


@dataclass(frozen=True)
class WatermarkPayload:
    """What the watermark carries: tool, version (major <= 15, minor/patch <= 63, saturating)
    and a random 32-bit id of the output (shown as 8 hex digits)."""

    tool: str
    version: str
    output_id: int

    def __post_init__(self) -> None:
        if not 0 <= int(self.output_id) < 2**32:
            raise ValueError(f"output_id must fit in 32 bits, got {self.output_id}")

    @property
    def id_hex(self) -> str:
        return f"{int(self.output_id):08x}"

    def as_dict(self) -> dict:
        return {"tool": self.tool, "version": self.version, "id": self.id_hex}

    def _value(self) -> int:
        tool = TOOL_IDS.get(self.tool, 0)
        ma, mi, pa = _parse_version(self.version)
        v = (tool << 48) | (ma << 44) | (mi << 38) | (pa << 32) | int(self.output_id)
        return (v << _CRC_BITS) | _crc12(v, _N_BITS - _CRC_BITS)

    def bits(self) -> np.ndarray:
        """The 64 payload bits (uint8, MSB first)."""
        v = self._value()
        return np.array([(v >> (_N_BITS - 1 - i)) & 1 for i in range(_N_BITS)], np.uint8)

    def to_bits(self) -> np.ndarray:
        """The 210 transmitted symbols as +-1 (float32): payload bits, convolutionally encoded
        (rate 1/3, K=7) and whitened by a fixed pseudo-random mask."""
        coded = _conv_encode(self.bits()) ^ _scramble()
        return (1.0 - 2.0 * coded).astype(np.float32)

    @classmethod
    def from_bits(cls, soft: np.ndarray) -> "WatermarkPayload | None":
        """Decode soft symbols (> 0 means 0) with a Viterbi decoder; None if the CRC fails."""
        s = np.asarray(soft, np.float64) * (1.0 - 2.0 * _scramble())
        bits = _viterbi(s)
        v = 0
        for b in bits:
            v = (v << 1) | int(b)
        data, crc = v >> _CRC_BITS, v & ((1 << _CRC_BITS) - 1)
        if _crc12(data, _N_BITS - _CRC_BITS) != crc:
            return None
        tool = _TOOL_NAMES.get((data >> 48) & 0xF, "unknown")
        version = f"{(data >> 44) & 0xF}.{(data >> 38) & 0x3F}.{(data >> 32) & 0x3F}"
        return cls(tool, version, data & 0xFFFFFFFF)


@lru_cache(maxsize=1)
def _scramble() -> np.ndarray:
    return np.random.default_rng(_KEY ^ 0x5C).integers(0, 2, _N_CODED).astype(np.uint8)


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """outputs[state, input] -> (3,) code bits; next_state[state, input]. The state holds the
    last K-1 input bits (newest in the most significant position)."""
    n_states = 1 << (_K - 1)
    out = np.zeros((n_states, 2, len(_GENS)), np.uint8)
    nxt = np.zeros((n_states, 2), np.int64)
    for st in range(n_states):
        for b in (0, 1):
            reg = (b << (_K - 1)) | st  # K bits: input, then the state
            for j, g in enumerate(_GENS):
                out[st, b, j] = bin(reg & g).count("1") & 1
            nxt[st, b] = reg >> 1
    return out, nxt


def _conv_encode(bits: np.ndarray) -> np.ndarray:
    out, nxt = _trellis()
    st = 0
    coded = []
    for b in list(bits) + [0] * (_K - 1):  # zero tail: the decoder ends in state 0
        coded.extend(out[st, b])
        st = nxt[st, b]
    return np.array(coded, np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Soft-decision Viterbi decoding (correlation metric) of :func:`_conv_encode`'s output."""
    out, nxt = _trellis()
    n_states = out.shape[0]
    sym = 1.0 - 2.0 * out.astype(np.float64)  # (S, 2, 3) as +-1
    steps = len(soft) // len(_GENS)
    metric = np.full(n_states, -np.inf)
    metric[0] = 0.0
    src_state = np.repeat(np.arange(n_states), 2)
    src_bit = np.tile([0, 1], n_states)
    dst = nxt.reshape(-1)
    back = np.zeros((steps, n_states), np.int64)  # index into (src_state, bit) pairs
    for t in range(steps):
        r = soft[t * len(_GENS) : (t + 1) * len(_GENS)]
        cand = metric[src_state] + (sym.reshape(-1, len(_GENS)) @ r)
        new = np.full(n_states, -np.inf)
        order = np.argsort(cand, kind="stable")  # larger metrics written last win
        new[dst[order]] = cand[order]
        best_pair = np.zeros(n_states, np.int64)
        best_pair[dst[order]] = order
        metric, back[t] = new, best_pair
    st = 0
    bits = []
    for t in range(steps - 1, -1, -1):
        pair = back[t, st]
        bits.append(src_bit[pair])
        st = src_state[pair]
    return np.array(bits[::-1][:_N_BITS], np.uint8)


def new_payload(tool: str = "talkinghead", version: str | None = None, output_id: int | None = None) -> WatermarkPayload:
    """A payload for one output: ``tool``, ``version`` (default: this package's) and an id (default:
    random)."""
    if version is None:
        from talkinghead import __version__ as version
    return WatermarkPayload(tool, str(version), secrets.randbits(32) if output_id is None else int(output_id))
