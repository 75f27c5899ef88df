"""Image and landmark metrics for self-reenactment (all on uint8 RGB frames of equal size)."""
from __future__ import annotations

import cv2
import numpy as np


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute error in [0, 1] intensity units."""
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))) / 255.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) on the luma channel, 11x11 Gaussian window, sigma 1.5."""
    def luma(x):
        return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float64) if x.ndim == 3 else x.astype(np.float64)

    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s[5:-5, 5:-5].mean())


def akd(pred: np.ndarray, true: np.ndarray, interocular: float) -> float:
    """Average keypoint distance as a fraction of the inter-ocular distance of ``true``."""
    return float(np.mean(np.linalg.norm(pred[:, :2] - true[:, :2], axis=1)) / max(interocular, 1e-6))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def nan_mean(values) -> float:
    """Mean of the values that are not NaN; NaN when there are none (numpy's nanmean warns then)."""
    v = [float(x) for x in values if not np.isnan(x)]
    return float(np.mean(v)) if v else float("nan")
