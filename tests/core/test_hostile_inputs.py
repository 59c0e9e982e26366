"""Small hostile files must not cost gigabytes or end as internal errors (issue 12, items 4 and 8).

Each file is built here from real data, `ffd analyze` runs in a child process as a user runs it, and the child's
own peak RSS is measured (the wrapper's RUSAGE_CHILDREN covers only that one process, not earlier tests' children).
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import require_data
from tests.core.test_media import _patched_stts, write_radiance_hdr

PEAK_LIMIT = 2 << 30
_MEASURE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def ffd_measured(*args, timeout=900) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS in bytes) of `ffd ARGS` in a fresh process."""
    run = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "core.cli", *args],
                         capture_output=True, text=True, timeout=timeout)
    stderr, _, peak_kb = run.stderr.rstrip("\n").rpartition("\n")
    return run.returncode, run.stdout, stderr, int(peak_kb) * 1024


@pytest.fixture(scope="module")
def clip():
    return require_data("ffpp_c23_videos", "real", "004.mp4")


@pytest.mark.parametrize("rate", [["--fps", "0.5"], ["--all-frames"]])
def test_frame_count_patched_to_2e9_stays_small(tiny_model_dir, tmp_path, clip, rate):
    """Was 5.2 GB at --fps 0.5 and a MemoryError (exit 1) at --all-frames: now the 309 real frames are analysed
    and the lie is reported."""
    liar = _patched_stts(clip, tmp_path / "liar.mp4", 2_000_000_000)
    code, out, err, peak = ffd_measured("analyze", str(liar), *rate, "--model", str(tiny_model_dir), "--quiet")
    assert code == 0, err
    assert "claims 2,000,000,000 frames" in out and "309 frames that decode" in out
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**30:.2f} GB"


def test_radiance_hdr_named_jpg_exits_2_without_decoding(tiny_model_dir, tmp_path):
    """9 MB on disk, 12000x12000 decoded (3.2 GB): refused from its header, naming the file."""
    huge = write_radiance_hdr(tmp_path / "holiday.jpg", 12000, 12000)
    code, _, err, peak = ffd_measured("analyze", str(huge), "--model", str(tiny_model_dir), "--quiet")
    assert code == 2 and str(huge) in err and "resolution 12000x12000 exceeds" in err, err
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**30:.2f} GB"


def _faceless_video(path, frames: int, side: int, rng) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (side, side))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    writer.release()


def test_no_face_in_a_truncated_video_says_how_much_did_not_decode(tiny_model_dir, tmp_path):
    """Was "no face found in 2 sampled frames", hiding that the header promised 15,000: both numbers now."""
    plain = tmp_path / "plain.mp4"
    _faceless_video(plain, 50, 96, np.random.default_rng(1))
    assert plain.stat().st_size > 15_000                      # a claim the file size allows
    cut = _patched_stts(plain, tmp_path / "cut.mp4", 15_000)
    code, _, err, _ = ffd_measured("analyze", str(cut), "--model", str(tiny_model_dir), "--quiet")
    assert code == 3, err
    assert str(cut) in err and "only 50 of the 15,000 frames" in err and "14,950 could not" in err


def test_noise_video_gets_no_verdict(tiny_model_dir, tmp_path):
    """64x64 noise: MediaPipe "finds" faces of a few pixels that never repeat; they must not become identities
    with a FAKE verdict. Exit 3, "no reliable face" (or "no face found" where MediaPipe finds none at all)."""
    noise = tmp_path / "noise.mp4"
    _faceless_video(noise, 500, 64, np.random.default_rng(0))
    code, out, err, _ = ffd_measured("analyze", str(noise), "--all-frames", "--model", str(tiny_model_dir),
                                     "--quiet")
    assert code == 3 and "FAKE" not in out, out + err
    assert str(noise) in err and ("no reliable face" in err or "no face found" in err), err
