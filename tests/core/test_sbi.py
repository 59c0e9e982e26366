"""Self-blended pseudo-fakes (core.training.sbi) on real FFHQ faces, read in place."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import NoFaceError
from core.faces import FaceMesher, face_hull_mask
from core.training import sbi
from core.training.sbi import face_landmarks, hull_points, self_blend
from tests.conftest import require_data

FAR = 40  # px at 256: shift (<= 8) + scale (<= 7) + elastic (<= 4) + dilation (<= 8) + blur radius (<= 12)
NEAR = 10


@pytest.fixture(scope="module")
def faces():
    """Six real 256 px FFHQ faces with their face-mesh landmarks."""
    files = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:6]
    out = []
    with FaceMesher(max_faces=1) as mesher:
        for f in files:
            rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
            landmarks = face_landmarks(rgb, mesher)
            assert landmarks is not None, f
            out.append((rgb, landmarks))
    return out


def test_pseudo_fakes_change_only_the_face(faces):
    for i, (face, landmarks) in enumerate(faces):
        hull = face_hull_mask(face.shape, landmarks) > 0
        dist = cv2.distanceTransform((~hull).astype(np.uint8), cv2.DIST_L2, 5)  # px outside the face hull
        assert (dist > FAR).mean() > 0.2  # the "outside" checked below is a real part of the image
        for seed in range(4):
            fake, mask = self_blend(face, landmarks, np.random.default_rng(100 * i + seed))
            assert fake.shape == face.shape and fake.dtype == np.uint8
            assert mask.shape == face.shape[:2] and mask.dtype == np.float32
            assert mask.min() >= 0.0 and 0.2 <= mask.max() <= 1.0
            # Identical wherever the blend mask is zero, in particular everywhere far from the face.
            assert np.array_equal(fake[mask == 0], face[mask == 0])
            assert np.array_equal(fake[dist > FAR], face[dist > FAR])
            assert (fake[hull] != face[hull]).any(axis=-1).mean() > 0.2  # and really altered on the face
            # The mask lies on the face: its centroid inside the hull, >= 90 % of its mass within 10 px of it.
            ys, xs = np.indices(mask.shape)
            cy, cx = (mask * ys).sum() / mask.sum(), (mask * xs).sum() / mask.sum()
            assert hull[int(round(cy)), int(round(cx))]
            assert (mask * (dist <= NEAR)).sum() / mask.sum() >= 0.9


def test_deterministic_per_seed(faces):
    face, landmarks = faces[0]
    a = self_blend(face, landmarks, np.random.default_rng(5))
    b = self_blend(face, landmarks, np.random.default_rng(5))
    c = self_blend(face, landmarks, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(self_blend(face, landmarks, 5)[0], a[0])  # an int seed means the same generator


def test_landmarks_found_by_the_mesh_when_not_given(faces):
    face, landmarks = faces[1]
    fake, mask = self_blend(face, None, np.random.default_rng(0))
    expected, _ = self_blend(face, landmarks, np.random.default_rng(0))
    assert np.array_equal(fake, expected)


def test_label_and_method():
    assert sbi.LABEL == 1 and sbi.METHOD == "sbi"


def test_no_face_is_a_clear_error():
    wall = np.full((256, 256, 3), 128, np.uint8)
    wall[:, :128] = 60
    with pytest.raises(NoFaceError, match="no face"):
        self_blend(wall, None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8"):
        self_blend(wall.astype(np.float32), None, 0)


def test_hull_without_forehead_stops_at_the_brows(faces):
    _, landmarks = faces[2]
    full, lower = hull_points(landmarks), hull_points(landmarks, no_forehead=True)
    assert len(full) == 468 and 100 < len(lower) < 468
    brows = landmarks[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1].mean()
    assert full[:, 1].min() < brows - 10 and lower[:, 1].min() >= brows - 10  # eye-levelled crop: y is "down"


def test_a_third_of_blends_are_sharper_than_their_face(faces):
    """The paper's frequency jitter draws downscaling or sharpening, one each half of the time. With blur as a third
    choice (this module's earlier deviation) the pasted face was the blurrier one in three blends of four (here 68 of
    92), which teaches "blurry = fake": a cue that reverses on a sharp unseen swap (FaceSwap)."""
    sharper = blurrier = 0
    for i, (face, landmarks) in enumerate(faces):
        inner = face_hull_mask(face.shape, landmarks) > 0
        grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
        for seed in range(16):
            fake, mask = self_blend(face, landmarks, np.random.default_rng(1000 * i + seed))
            core = inner & (mask >= 0.9 * mask.max())   # where the source was pasted at full strength
            ratio = (cv2.Laplacian(cv2.cvtColor(fake, cv2.COLOR_RGB2GRAY), cv2.CV_32F)[core].var()
                     / cv2.Laplacian(grey, cv2.CV_32F)[core].var())
            sharper += ratio > 1.2
            blurrier += ratio < 1 / 1.2
    assert sharper + blurrier >= 80
    assert sharper / (sharper + blurrier) >= 0.33, (sharper, blurrier)


def test_a_misspelt_frequency_jitter_is_refused():
    with pytest.raises(ValueError, match="sharpn"):
        sbi.SBIConfig(frequency=("downscale", "sharpn"))
