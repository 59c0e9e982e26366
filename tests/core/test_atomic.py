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


def test_disk_full_names_the_target_and_keeps_the_old_file(tmp_path):
    import errno

    from core.errors import OutputError

    target = tmp_path / "out.json"
    atomic_write_text(target, "old")
    with pytest.raises(OutputError, match="disk is full") as caught, atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")     # what a write on a full disk raises
    assert str(target) in str(caught.value) and caught.value.exit_code == 2
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_unwritable_places_are_output_errors_naming_the_target(tmp_path):
    from core.atomic import check_writable
    from core.errors import OutputError

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for target, phrase in ((a_file / "out.pdf", "not a folder"), (tmp_path, "is a folder")):
        with pytest.raises(OutputError, match=phrase) as caught:
            check_writable(target)
        assert str(target) in str(caught.value)
    with pytest.raises(OutputError, match="cannot write") as caught:
        atomic_write_text(a_file / "sub" / "out.json", "{}")
    assert "out.json" in str(caught.value)
    check_writable(tmp_path / "new" / "deeper" / "out.json")        # missing folders are fine: created on writing
    check_writable(os.devnull)
