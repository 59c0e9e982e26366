import os

import pytest

from core.atomic import atomic_path, atomic_write_text


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(tmp_path) == ["out.json"]  # no temporary left behind


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_new_files_get_umask_permissions_not_private_temp_ones(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "report.json"
    atomic_write_text(target, "{}")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_special_file_target_is_written_through_not_replaced(tmp_path):
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    atomic_write_text(fifo, "result")   # e.g. `ffd analyze --json /dev/stdout`
    reader.join(timeout=10)
    assert received == ["result"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)   # still the pipe: renaming over it would have replaced it
    assert sorted(os.listdir(tmp_path)) == ["pipe"]
