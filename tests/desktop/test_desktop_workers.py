"""Threads and Qt objects: a one-off task reports on the GUI thread, and garbage (Qt objects in reference cycles
included) is only ever collected on the GUI thread, never on the worker that happened to allocate."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from core.digest import sha256_file
from tests.conftest import require_data


def test_a_task_runs_off_the_gui_thread_and_reports_on_it(ffd_app, qtbot):
    from ffd_desktop.workers import run_task, wait_for_tasks

    clip = require_data("ffpp_c23_videos", "real", "004.mp4")
    gui = threading.get_ident()
    ran_on, replies = [], []

    def job():
        ran_on.append(threading.get_ident())
        return sha256_file(clip)

    run_task(job, lambda digest: replies.append(("done", digest, threading.get_ident())),
             lambda message: replies.append(("error", message, threading.get_ident())))
    run_task(lambda: sha256_file(clip.parent / "no such clip.mp4"),
             lambda value: replies.append(("done", value, threading.get_ident())),
             lambda message: replies.append(("error", message, threading.get_ident())))
    assert wait_for_tasks(30.0)
    qtbot.waitUntil(lambda: len(replies) == 2, timeout=5000)
    assert ran_on and ran_on[0] != gui
    by_kind = {kind: (value, thread) for kind, value, thread in replies}
    assert by_kind["done"] == (sha256_file(clip), gui)
    message, thread = by_kind["error"]
    assert thread == gui and "no such clip.mp4" in message and "Traceback" not in message


def test_garbage_is_collected_on_the_gui_thread_not_on_a_busy_worker(ffd_app, qtbot):
    assert not gc.isenabled()   # create_app hands collection to a GUI-thread timer

    class Knot(QObject):
        def __init__(self):
            super().__init__()
            self.me = self      # a reference cycle: only the cyclic collector frees it

    collected_on = []
    knot = Knot()
    weakref.finalize(knot, lambda: collected_on.append(threading.get_ident()))
    del knot

    def allocate():             # enough container allocations to trigger several automatic collections
        for _ in range(20):
            junk = [[i] for i in range(50_000)]
            del junk

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    assert collected_on == []
    alive = [[i] for i in range(5000)]   # allocations that stay: a collection is now due on the GUI thread's timer
    qtbot.waitUntil(lambda: bool(collected_on), timeout=10_000)
    assert collected_on == [threading.get_ident()] and len(alive) == 5000
