"""Index sets of mediapipe's 478-point face mesh (468 face points + 2 x 5 iris points).

Convention: "left"/"right" are the *subject's* left/right (mediapipe's naming), so the subject's
left eye appears on the right of an unmirrored image. Loops are ordered polygons.
"""
from __future__ import annotations

import numpy as np

N_LANDMARKS = 478
N_FACE = 468

OUTER_LIPS = [0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267]
INNER_LIPS = [13, 82, 81, 80, 191, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312]
LEFT_EYE = [249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466, 263]
RIGHT_EYE = [7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163]
LEFT_IRIS = [473, 474, 475, 476, 477]  # centre first
RIGHT_IRIS = [468, 469, 470, 471, 472]  # centre first
FACE_OVAL = [10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152,
             377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338]
LEFT_BROW = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
RIGHT_BROW = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107]

# Eye corners and lids (vertical pairs used for openness).
LEFT_EYE_CORNERS = (362, 263)
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_LIDS = ((386, 374), (385, 380), (387, 373))  # (upper, lower)
RIGHT_EYE_LIDS = ((159, 145), (158, 153), (160, 144))
MOUTH_CORNERS = (61, 291)
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))  # (upper, lower) of the inner lip contour
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

# Points that move little with expression: used for rigid pose fitting.
RIGID = [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2,  # mid-line forehead -> nose
         33, 133, 362, 263,  # eye corners
         127, 234, 93, 356, 454, 323,  # temples / cheek sides near ears
         109, 67, 103, 338, 297, 332, 54, 284, 21, 251, 162, 389,  # upper face oval
         98, 327, 129, 358, 45, 275, 220, 440]  # nose wings


def eye_centers(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) eye centres as the mean of each eye's corner pair; ``points`` is (478, D)."""
    left = points[list(LEFT_EYE_CORNERS)].mean(axis=0)
    right = points[list(RIGHT_EYE_CORNERS)].mean(axis=0)
    return left, right


def interocular(points: np.ndarray) -> float:
    """Distance between the eye centres (2-D, first two coordinates), the scale unit for AKD."""
    left, right = eye_centers(points[:, :2])
    return float(np.linalg.norm(left - right))
