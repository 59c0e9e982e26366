"""Faces: detect every face in a frame, follow identities across sampled frames, cut eye-levelled crops,
and map crop-space results back onto the frame. Pure engine code: numpy / OpenCV / MediaPipe, never Qt.

MediaPipe-backed classes (``FaceDetector``, ``FaceMesher``) are not thread-safe: one instance per thread.
"""

from core.faces.align import (
    AlignedFace,
    align_crop,
    crop_matrix,
    invert_matrix,
    invert_points,
    paste_heatmap,
    transform_points,
)
from core.faces.detect import KEYPOINT_NAMES, FaceDetection, FaceDetector, box_iou, nms
from core.faces.mesh import FaceMesher, face_hull_mask
from core.faces.track import FaceTracker, Track

__all__ = [
    "KEYPOINT_NAMES",
    "AlignedFace",
    "FaceDetection",
    "FaceDetector",
    "FaceMesher",
    "FaceTracker",
    "Track",
    "align_crop",
    "box_iou",
    "crop_matrix",
    "face_hull_mask",
    "invert_matrix",
    "invert_points",
    "nms",
    "paste_heatmap",
    "transform_points",
]
