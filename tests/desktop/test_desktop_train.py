"""The Train tab, on real faces (FFHQ / StyleGAN, already aligned) with the fast config: HAMLET-FFD on the tiny
random backbone, 24 files per label, 2 epochs.

One training runs per module (about 20 s on 2 cores) while the GUI thread's stalls are measured; the tests below
read the same window in order: data summary, curves, results, "Use this model" + an analysis with it, then Cancel
(and Resume) of a longer run, a stage-1 backbone run that offers its backbone for the next stage, and a training
that fails on data without faces.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import TINY_ARCH
from tests.desktop.conftest import ScriptedPrompts, StallMeter, make_controller

SCREENSHOT = Path("/tmp/ffd_train_tab.png")
TRAIN_TIMEOUT_MS = 240_000


def run_to_end(bot, training, button, timeout: int = TRAIN_TIMEOUT_MS) -> list:
    """Click Start/Resume and wait until the training ends; returns [(signal name, args...)] of how it ended."""
    ends: list = []
    training.trainingFinished.connect(lambda *a: ends.append(("finished", *a)))
    training.trainingFailed.connect(lambda *a: ends.append(("failed", *a)))
    training.trainingCancelled.connect(lambda *a: ends.append(("cancelled", *a)))
    with bot.waitSignal(training.busyChanged, timeout=timeout, check_params_cb=lambda busy: not busy):
        button.click()
        assert training.busy
    for signal in (training.trainingFinished, training.trainingFailed, training.trainingCancelled):
        signal.disconnect()
    return ends


def fast_form(view, epochs: int) -> None:
    view.set_detector("hamlet")
    view.backbone.setText(TINY_ARCH)
    view.random_backbone.setChecked(True)
    view.epochs.setValue(epochs)
    view.batch_size.setValue(16)
    view.max_files.setValue(24)
    view.sbi_copies.setValue(0)
    view.patience.setValue(100)
    view.aligned.setChecked(True)


@pytest.fixture(scope="module")
def trained(request, qapp, tiny_model_dir, tmp_path_factory):
    """Choose the data with the folder button, fill in the fast config, Start, and wait for the finished run."""
    from ffd_desktop.app import create_app, load_engine_libraries, load_training_libraries
    from tests.conftest import require_data

    create_app()
    load_engine_libraries()      # as main() does before it shows the window
    load_training_libraries()    # as the first Start does (on the GUI thread, before the worker runs)
    data = require_data("ffhq_stylegan")
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("desktop-train")
    mp.setenv("FFD_DATA_DIR", str(root / "data"))    # one face cache for every run of this module
    bot = QtBot(request)
    prompts = ScriptedPrompts()
    prompts.folder = str(data)
    controller = make_controller(root, tiny_model_dir, prompts)
    window, training, view = controller.window, controller.training, controller.window.train
    bot.waitExposed(window)
    window.tabs.setCurrentWidget(view)
    with bot.waitSignal(training.dataScanned, timeout=30_000):
        view.data_folder_button.click()
    initial_backbone = view.backbone.text()
    fast_form(view, epochs=2)
    run_dir = view.run_path.text()

    stages: list[str] = []
    meter = StallMeter()
    meter.start()
    started = time.perf_counter()

    def record(_run_dir: str) -> None:     # the worker exists once Start has loaded the training libraries
        training.worker.progress.connect(lambda p: stages.append(p["stage"]))
        training.trainingStarted.disconnect(record)

    training.trainingStarted.connect(record)
    ends = run_to_end(bot, training, view.start_button)
    elapsed = time.perf_counter() - started
    bot.wait(500)
    meter.stop()
    print(f"\n[desktop] training {elapsed:.1f} s, worst GUI stall {meter.max_gap_s * 1000:.0f} ms over "
          f"{meter.ticks} ticks (gaps > 50 ms: {meter.gaps})")
    yield type("Trained", (), dict(controller=controller, window=window, training=training, view=view, bot=bot,
                                   data=data, root=root, run_dir=run_dir, finished=ends[0][1:], stages=stages,
                                   stall_s=meter.max_gap_s, prompts=prompts, model_dir=tiny_model_dir,
                                   initial_backbone=initial_backbone))
    window.close()
    mp.undo()


def test_start_runs_a_training_to_the_end(trained):
    assert len(trained.finished) == 2, f"the training did not finish: {trained.finished}"


def test_choosing_the_folder_shows_the_sample_counts(trained):
    from core.training.dataset import scan_folder

    samples = scan_folder(trained.data)
    real = sum(s.label == 0 for s in samples)
    fake = len(samples) - real
    text = trained.view.data_summary.text()
    assert trained.prompts.asked[0][0] == "open_folder"
    assert trained.view.data_path.text() == str(trained.data)
    assert f"<b>{real:,}</b> real" in text and f"<b>{fake:,}</b> fake" in text
    assert f"{len(samples):,}" in text and "photos" in text


def test_backbone_is_prefilled_from_the_model_in_use(trained):
    assert trained.initial_backbone == f"{TINY_ARCH}@{trained.model_dir / 'backbone.safetensors'}"


def test_a_folder_without_real_and_fake_is_explained(trained, tmp_path):
    training, view = trained.training, trained.view
    with trained.bot.waitSignal(training.dataScanned, timeout=10_000) as scanned:
        training.set_data(str(tmp_path))
    assert "no real/ and no fake/" in scanned.args[0] and "Traceback" not in scanned.args[0]
    with trained.bot.waitSignal(training.dataScanned, timeout=30_000):
        training.set_data(str(trained.data))
    assert "real" in view.data_summary.text() and "cannot be used" not in view.data_summary.text()


def test_training_completes_with_live_curves(trained):
    run_dir, summary = trained.finished
    training, view = trained.training, trained.view
    assert run_dir == trained.run_dir and Path(run_dir).is_relative_to(trained.root / "data" / "runs")
    assert summary["epochs_run"] == 2
    assert {"preparing", "training", "validating", "testing", "done"} <= set(trained.stages)
    loss_x, loss_y = view.loss_curve.getData()
    auc_x, auc_y = view.auc_curve.getData()
    assert len(loss_x) >= 2 and all(y > 0 for y in loss_y)
    assert list(auc_x) == [1.0, 2.0]
    history = json.loads((Path(run_dir) / "history.json").read_text())
    assert list(auc_y) == pytest.approx([h["val_auc"] for h in history])
    assert not training.busy and view.start_button.isEnabled() and not view.cancel_button.isEnabled()
    assert view.stage_label.text().startswith("Finished")
    assert view.run_path.text() != run_dir        # the next Start gets a fresh run folder
    assert (Path(run_dir) / "trainer_state.json").is_file()


def test_gui_thread_never_stalls_during_training(trained):
    assert trained.stall_s < 0.200, f"GUI event loop stalled {trained.stall_s * 1000:.0f} ms"


def test_results_show_the_test_metrics_of_the_model_card(trained):
    from core.models import read_bundle

    run_dir = trained.finished[0]
    test = read_bundle(run_dir).card["metrics"]["test"]
    table = trained.view.metrics_table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, table.columnCount())]
            for r in range(table.rowCount())}
    frame, video = test["frame"], test["video"]
    assert rows["Frame (face)"][:4] == [f"{frame[k]:.3f}" for k in ("auc", "ap", "eer", "acc@thr")]
    assert rows["Video / photo"][0] == f"{video['auc']:.3f}"
    assert not trained.view.roc.pixmap().isNull()
    assert trained.view.use_model_button.isEnabled()
    assert not trained.view.next_stage_button.isVisible()     # only after a stage-1 (clip) run


def test_screenshot_of_the_train_tab(trained):
    window = trained.window
    window.banner.dismiss()
    window.tabs.setCurrentWidget(trained.view)
    trained.bot.wait(50)
    image = window.grab()
    assert not image.isNull() and image.save(str(SCREENSHOT))


def test_use_this_model_switches_the_analysis_model(trained):
    from core.models import default_model_dir, read_bundle
    from tests.conftest import require_data

    controller, window, bot = trained.controller, trained.window, trained.bot
    run_dir = trained.finished[0]
    bundle = read_bundle(run_dir)
    assert bundle.name != controller.model_choice.bundle.name
    with bot.waitSignal(trained.training.modelChosen, timeout=5000):
        trained.view.use_model_button.click()
    assert window.model_label.text().startswith(f"Model: {bundle.name}")
    assert default_model_dir() == Path(run_dir).resolve()
    assert controller.model_choice.path == Path(run_dir)
    assert trained.view.use_model_button.text() == "In use for analyses"
    assert not trained.view.use_model_button.isEnabled()

    photo = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0]
    with bot.waitSignal(controller.analysis.analysisFinished, timeout=120_000) as finished:
        controller.open_files([str(photo)])
    result, _case = finished.args
    assert set(result.detectors) == {"hamlet"}     # the run holds HAMLET only: the analysis runs what it has
    assert result.detectors["hamlet"].model["name"] == bundle.name
    assert window.model_label.text().startswith(f"Model: {bundle.name}")


def test_cancel_stops_within_seconds_and_keeps_a_usable_run(trained):
    from core.models import load_model, read_bundle

    training, view, bot, window = trained.training, trained.view, trained.bot, trained.window
    window.tabs.setCurrentWidget(view)
    fast_form(view, epochs=20)
    run_dir = view.run_path.text()
    meter = StallMeter()
    meter.start()
    with bot.waitSignal(training.trainingStarted, timeout=5000):
        view.start_button.click()
    bot.waitUntil(lambda: len(training.auc_xs) >= 2, timeout=TRAIN_TIMEOUT_MS)   # epochs done and saved
    started = time.perf_counter()
    with bot.waitSignal(training.trainingCancelled, timeout=30_000):
        view.cancel_button.click()
        assert "Cancelling" in view.stage_label.text() and not view.cancel_button.isEnabled()
    latency = time.perf_counter() - started
    meter.stop()
    print(f"\n[desktop] training cancel took {latency * 1000:.0f} ms; worst GUI stall during that run "
          f"{meter.max_gap_s * 1000:.0f} ms over {meter.ticks} ticks (gaps > 50 ms: {meter.gaps}, cancel at "
          f"{started - meter.started:.2f} s)")
    assert latency < 5.0
    assert meter.max_gap_s < 0.200, f"GUI event loop stalled {meter.max_gap_s * 1000:.0f} ms"
    state = json.loads((Path(run_dir) / "trainer_state.json").read_text())
    assert 2 <= state["epoch"] < 20
    assert f"epoch {state['epoch']} of 20 is saved" in view.stage_label.text()
    assert "last completed epoch is saved" in view.detail_label.text()
    model = load_model(read_bundle(run_dir), ["hamlet"])        # the run folder is a usable model already
    assert "hamlet" in model.detectors
    assert view.resume_button.isEnabled() and view.start_button.isEnabled()
    assert view.use_model_button.isEnabled()                     # its best epoch so far

    # Resume continues after the saved epoch, for one more epoch, then tests the best one
    saved = state["epoch"]
    view.epochs.setValue(saved + 1)
    ends = run_to_end(bot, training, view.resume_button)
    assert ends[0][:2] == ("finished", run_dir), ends
    # it went on with the run's own backbone (the file holding its random initialisation), not a fresh one
    assert view.backbone.text() == f"{TINY_ARCH}@{Path(run_dir) / 'backbone.safetensors'}"
    epochs = [h["epoch"] for h in json.loads((Path(run_dir) / "history.json").read_text())]
    assert epochs == list(range(1, saved + 2))
    assert list(view.auc_curve.getData()[0]) == [float(e) for e in epochs]

    # choosing that run folder again later: its settings come back, Resume is offered, its results are shown
    training.new_run_folder()
    fast_form(view, epochs=7)
    assert not view.resume_button.isEnabled()
    trained.prompts.folder = run_dir
    view.run_button.click()
    assert view.run_path.text() == run_dir and view.resume_button.isEnabled()
    assert view.epochs.value() == saved + 1 and "finished HAMLET-FFD run" in view.run_note.text()
    assert training.result_dir == run_dir and view.metrics_table.rowCount() == 2


def test_stage_one_backbone_run_offers_its_backbone_for_the_next_stage(trained):
    training, view, bot = trained.training, trained.view, trained.bot
    with bot.waitSignal(training.dataScanned, timeout=30_000):
        training.set_data(str(trained.data))
    fast_form(view, epochs=1)
    view.set_detector("clip")
    ends = run_to_end(bot, training, view.start_button)
    assert ends[0][0] == "finished", ends
    run_dir = ends[0][1]
    weights = Path(run_dir) / "trained_backbone.safetensors"
    assert weights.is_file()
    assert view.next_stage_button.isVisible() and "Stage 1 done" in view.detail_label.text()
    assert not view.use_model_button.isEnabled()      # no HAMLET-FFD / MFCLIP detector to analyse with
    view.next_stage_button.click()
    assert view.backbone.text() == f"{TINY_ARCH}@{weights}"
    assert view.detector.currentData() == "hamlet" and not view.random_backbone.isChecked()
    assert view.run_path.text() != run_dir


def test_training_on_data_without_faces_fails_plainly(trained, tmp_path):
    import cv2
    import numpy as np

    training, view, window = trained.training, trained.view, trained.window
    for label in ("real", "fake"):
        (tmp_path / label).mkdir()
        for n in range(4):
            cv2.imwrite(str(tmp_path / label / f"{n}.png"), np.full((96, 96, 3), 40 * n + 20, np.uint8))
    with trained.bot.waitSignal(training.dataScanned, timeout=10_000):
        training.set_data(str(tmp_path))
    fast_form(view, epochs=1)
    view.aligned.setChecked(False)           # face detection finds nothing in flat grey images
    ends = run_to_end(trained.bot, training, view.start_button, timeout=120_000)
    assert ends[0][0] == "failed", ends
    message = ends[0][1]
    assert "Traceback" not in message and "internal error" not in message
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert "could not run" in window.banner.text()
    assert not training.busy and view.start_button.isEnabled()
