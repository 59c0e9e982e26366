"""User mistakes and damaged files give their documented exit code and a message naming the file, never a traceback
or "internal error" (issue 12 items 2 and 6). Each test runs `ffd` as a user does: a real subprocess on real files."""

from __future__ import annotations

import os

from tests.core.test_cli import ffd


def assert_user_error(run, code: int, *names: str) -> None:
    assert run.returncode == code, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    for name in names:
        assert name in run.stderr, (name, run.stderr)


# ---------------------------------------------------------------------------------------------- case store (item 2)

def test_damaged_case_store_exit_5_then_move_aside(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    junk = os.urandom(32 * 1024)
    (data / "cases.sqlite3").write_bytes(junk)
    env = {"FFD_DATA_DIR": str(data)}
    run = ffd("cases", "list", env_extra=env)
    assert_user_error(run, 5, str(data / "cases.sqlite3"), "damaged", "ffd cases move-aside")

    run = ffd("cases", "move-aside", env_extra=env)
    assert run.returncode == 0, run.stderr
    moved = [p for p in data.iterdir() if p.name.startswith("cases.sqlite3.damaged-")]
    assert len(moved) == 1 and moved[0].read_bytes() == junk and str(moved[0]) in run.stdout
    run = ffd("cases", "list", env_extra=env)
    assert run.returncode == 0 and "0 saved analyses" in run.stdout, run.stderr
    run = ffd("cases", "move-aside", env_extra=env)          # a healthy store is never moved
    assert run.returncode == 0 and "left in place" in run.stdout
    assert len([p for p in data.iterdir() if ".damaged-" in p.name]) == 1
