"""Shows one AnalysisResult: frames and boxes, timeline, per-face evidence, verdicts; drives seek and playback.

Frames come from the evidence file (decoded in the FrameLoader thread, after checking the file's SHA-256 is still
the analysed one) or, until they arrive or when the file has moved or changed, from the thumbnails stored with the
result. Everything else comes from the result itself, so a reopened case looks exactly like a fresh one.
"""

from __future__ import annotations

import statistics

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from core.results import AnalysisResult
from ffd_desktop import imaging
from ffd_desktop import presentation as P
from ffd_desktop.controllers.face_evidence import show_face
from ffd_desktop.controllers.result_summary import fill_header, fill_timeline, fill_verdicts
from ffd_desktop.views.analysis_view import AnalysisView
from ffd_desktop.views.frame_view import BoxItem
from ffd_desktop.workers import FrameLoader


class ResultController(QObject):
    positionChanged = Signal(int)
    framesLoaded = Signal()            # the loader finished (all frames decoded, or it fell back to thumbnails)

    _load = Signal(int, str, str, object, object)

    def __init__(self, view: AnalysisView):
        super().__init__()
        self.view = view
        self.result: AnalysisResult | None = None
        self.case_id = -1
        self.frames: list[P.FrameEntry] = []
        self.position = -1
        self.face_index = -1
        self.colour_by: str = ""                 # "" = highest score over detectors
        self.attention = False
        self.source_state = ""                   # "ok" | "missing" | "changed" | "error" from the loader
        self.frames_loaded = False
        self._decoded: dict[int, bytes] = {}     # frame index -> JPEG of the evidence frame
        self._current_image: tuple[tuple, np.ndarray] | None = None
        self._generation = 0

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

        self.loader_thread = QThread()
        self.loader_thread.setObjectName("ffd-frames")
        self.loader = FrameLoader()
        self.loader.moveToThread(self.loader_thread)
        self._load.connect(self.loader.load)
        self.loader.state.connect(self._on_source_state)
        self.loader.frameReady.connect(self._on_frame)
        self.loader.done.connect(self._on_loader_done)
        self.loader_thread.started.connect(self.loader.started)
        self.loader_thread.start(QThread.Priority.LowPriority)

        player = view.player
        player.positionChanged.connect(self.seek)
        player.stepClicked.connect(self.step)
        player.playClicked.connect(self.toggle_play)
        player.colourByChanged.connect(self._on_colour_by)
        player.attentionToggled.connect(self.set_attention)
        player.canvas.faceClicked.connect(self.select_face)
        view.timeline.seekRequested.connect(self.seek_time)

    # showing a result ----------------------------------------------------------------------------------------

    def show(self, result: AnalysisResult, case_id: int = -1) -> None:
        self.stop()
        self.result, self.case_id = result, case_id
        self.frames = P.frame_entries(result)
        self._decoded.clear()
        self._current_image = None
        self.position, self.face_index = -1, -1
        self.source_state = ""
        self.frames_loaded = False
        generation = self._next_generation()
        fill_header(self.view, result, self.frames, case_id)
        fill_verdicts(self.view, result, case_id)
        # The verdicts are laid out and painted first; the timeline and the frame follow one event-loop turn later.
        # Why: building both at once kept the window from repainting or taking input for 200-300 ms on 2 cores.
        QTimer.singleShot(0, self, lambda: self._show_frames(generation))

    def _show_frames(self, generation: int) -> None:
        if generation != self._generation:   # another result (or none) was shown meanwhile
            return
        fill_timeline(self.view, self.result, self.frames)
        self._fill_colour_choices()
        player = self.view.player
        player.slider.blockSignals(True)
        player.slider.setRange(0, max(len(self.frames) - 1, 0))
        player.slider.blockSignals(False)
        self.timer.setInterval(self._play_interval_ms())
        self.seek(self._most_suspicious_position())
        self._start_loader()

    def clear(self) -> None:
        self.stop()
        self.result, self.frames, self.position = None, [], -1
        self._next_generation()

    def _next_generation(self) -> int:
        """From now on the loader's frames for the result shown before are dropped (and it stops decoding them)."""
        self._generation += 1
        self.loader.generation = self._generation
        return self._generation

    def shutdown(self) -> None:
        self.clear()
        self.loader_thread.quit()
        self.loader_thread.wait(10_000)

    # navigation ----------------------------------------------------------------------------------------------

    @Slot(int)
    def seek(self, position: int) -> None:
        if not self.frames:
            return
        position = min(max(int(position), 0), len(self.frames) - 1)
        previous_identity = self.selected_face.identity if self.selected_face is not None else None
        changed = position != self.position
        self.position = position
        self.face_index = P.pick_face(self.frames[position], previous_identity, self.colour_by or None)
        slider = self.view.player.slider
        if slider.value() != position:
            slider.blockSignals(True)
            slider.setValue(position)
            slider.blockSignals(False)
        self._render()
        if changed:
            self.positionChanged.emit(position)

    @Slot(float)
    def seek_time(self, time_s: float) -> None:
        self.seek(P.nearest_frame(self.frames, time_s))

    @Slot(int)
    def step(self, delta: int) -> None:
        self.stop()
        self.seek(self.position + delta)

    @Slot()
    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.stop()
        elif len(self.frames) > 1:
            if self.position >= len(self.frames) - 1:
                self.seek(0)
            self.timer.start()
            self.view.player.set_playing(True)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def stop(self) -> None:
        self.timer.stop()
        self.view.player.set_playing(False)

    def _tick(self) -> None:
        if self.position >= len(self.frames) - 1:
            self.stop()
            return
        self.seek(self.position + 1)

    @Slot(int)
    def select_face(self, n: int) -> None:
        if self.current_frame is not None and 0 <= n < len(self.current_frame.faces):
            self.face_index = n
            self._render()

    @Slot(bool)
    def set_attention(self, on: bool) -> None:
        self.attention = bool(on)
        for control in (self.view.player.attention_button,):
            if control.isChecked() != self.attention:
                control.blockSignals(True)
                control.setChecked(self.attention)
                control.blockSignals(False)
        self._render()

    def _on_colour_by(self, detector: str) -> None:
        self.colour_by = detector
        self._render()

    @property
    def current_frame(self) -> P.FrameEntry | None:
        return self.frames[self.position] if 0 <= self.position < len(self.frames) else None

    @property
    def selected_face(self) -> P.FaceEntry | None:
        frame = self.current_frame
        return frame.faces[self.face_index] if frame is not None and 0 <= self.face_index < len(frame.faces) else None

    # drawing -------------------------------------------------------------------------------------------------

    def _render(self) -> None:
        frame = self.current_frame
        if frame is None or self.result is None:
            self.view.player.canvas.clear("No face was found in the sampled frames." if self.result else "No frame")
            show_face(self.view, self.result, None, None, None, False)
            return
        image, scale, source = self._frame_image(frame)
        if self.attention:
            maps = self._attention_maps(frame)
            if maps:
                image = imaging.frame_overlay(image, maps, scale)
        boxes = []
        for n, face in enumerate(frame.faces):
            score = face.score(self.colour_by or None)
            x0, y0, x1, y1 = (v * scale for v in face.box)
            label = f"#{face.identity}  {score:.2f}" if score is not None else f"#{face.identity}"
            boxes.append(BoxItem((x0, y0, x1, y1), P.score_colour(score), label, n == self.face_index))
        caption = f"frame {frame.index} · {P.clock(frame.time_s)}" + ("" if source == "evidence" else f" · {source}")
        self.view.player.canvas.set_frame(imaging.to_qimage(image), boxes, caption)
        self.view.player.position_label.setText(
            f"{self.position + 1}/{len(self.frames)} · {P.clock(frame.time_s)} · #{frame.index}")
        self.view.timeline.set_cursor(frame.time_s)
        show_face(self.view, self.result, frame, self.selected_face, self._attention_detector(), self.attention)

    def _frame_image(self, frame: P.FrameEntry) -> tuple[np.ndarray, float, str]:
        """(RGB image, displayed pixels per original pixel, where it came from)."""
        media = (self.result.file or {}).get("media") or {}
        width = float(media.get("width") or 0)
        data, source = self._decoded.get(frame.index), "evidence"
        if data is None:
            data, source = self._thumbnail(frame), "stored thumbnail"
        key = (frame.index, source)
        if self._current_image is not None and self._current_image[0] == key:
            image = self._current_image[1]
        else:
            image = imaging.decode(data)
            if image is None:
                w, h = int(media.get("width") or 640), int(media.get("height") or 360)
                image = imaging.placeholder(min(w, 960), min(h, 540))
                source = "frame image not available"
                width = width or image.shape[1]
            self._current_image = (key, image)
        return image, (image.shape[1] / width) if width else 1.0, source

    def _thumbnail(self, frame: P.FrameEntry) -> bytes | None:
        for face in frame.faces:
            data = self.result.artifacts.get(face.key, {}).get("frame.jpg")
            if data:
                return data
        return None

    def _attention_detector(self) -> str | None:
        names = list(self.result.detectors)
        preferred = [self.colour_by] if self.colour_by else []
        for name in preferred + names:
            suffix = f"{name}.attention.png"
            if any(suffix in items for items in self.result.artifacts.values()):
                return name
        return None

    def _attention_maps(self, frame: P.FrameEntry) -> list:
        detector = self._attention_detector()
        if detector is None:
            return []
        maps = []
        for face in frame.faces:
            items = self.result.artifacts.get(face.key, {})
            attention = imaging.decode(items.get(f"{detector}.attention.png"), grey=True)
            record = face.records.get(detector) or next(iter(face.records.values()))
            matrix = record.extras.get("crop_matrix")
            crop = imaging.decode(items.get("crop.jpg"))
            if attention is None or matrix is None:
                continue
            side = crop.shape[1] if crop is not None else attention.shape[1]
            maps.append((matrix, attention, side))
        return maps

    def _fill_colour_choices(self) -> None:
        combo = self.view.player.colour_by
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("Highest score", "")
        for name in self.result.detectors:
            combo.addItem(P.title(name), name)
        index = combo.findData(self.colour_by)
        if index < 0:
            self.colour_by = ""
            index = 0
        combo.setCurrentIndex(index)
        combo.blockSignals(False)

    def _most_suspicious_position(self) -> int:
        if not self.frames:
            return 0
        scores = [max((f.score() or 0.0) for f in fr.faces) if fr.faces else 0.0 for fr in self.frames]
        return max(range(len(scores)), key=scores.__getitem__)

    def _play_interval_ms(self) -> int:
        gaps = [b.time_s - a.time_s for a, b in zip(self.frames, self.frames[1:], strict=False)]
        return int(min(max(statistics.median(gaps) * 1000 if gaps else 500, 120), 1000))

    # frames from the evidence file ---------------------------------------------------------------------------

    def _start_loader(self) -> None:
        file = self.result.file or {}
        sampling = (self.result.settings or {}).get("sampling") or {"mode": "fps", "value": 1.0}
        wanted = [f.index for f in self.frames]
        if not wanted:
            return
        self._load.emit(self._generation, str(file.get("path", "")), str(file.get("sha256", "")), sampling, wanted)

    @Slot(int, str, str)
    def _on_source_state(self, generation: int, state: str, message: str) -> None:
        if generation != self._generation:
            return
        self.source_state = state
        if message:
            warnings = "\n".join(self.result.warnings)
            self.view.set_notice("\n".join(t for t in (warnings, message) if t))

    @Slot(int, int, object)
    def _on_frame(self, generation: int, index: int, data: bytes) -> None:
        if generation != self._generation:
            return
        self._decoded[index] = bytes(data)
        frame = self.current_frame
        if frame is not None and frame.index == index:
            self._render()

    @Slot(int)
    def _on_loader_done(self, generation: int) -> None:
        if generation == self._generation:
            self.frames_loaded = True
            self.framesLoaded.emit()
