"""A lip-sync score drawn as one picture (OpenCV, no plotting package): readable at a glance in a preview.

Top: the mean distance at every tested offset (lower = better match; the lowest point is the AV offset, marked in
red, with 0 = in sync marked in grey). Bottom: the framewise confidence over time (higher = more confidently in
sync at that offset; dips show stretches where the mouth does not follow the speech). A title line states the
numbers. Output: uint8 RGB (height, width, 3).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .evaluate import VIDEO_FPS, SyncScore

WIDTH, HEIGHT = 960, 640
_BACKGROUND = (255, 255, 255)
_AXIS = (60, 60, 60)
_GRID = (225, 225, 225)
_LINE = (31, 119, 180)         # blue
_BEST = (214, 39, 40)          # red
_ZERO = (150, 150, 150)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN_LEFT, _MARGIN_RIGHT = 80, 30


def offset_text(av_offset: int) -> str:
    """"+2 frames (+80 ms, audio leads)", "0 frames (in sync)", "-1 frame (-40 ms, audio lags)"."""
    frames = "frame" if abs(av_offset) == 1 else "frames"
    if av_offset == 0:
        return f"0 {frames} (in sync)"
    milliseconds = av_offset * 1000 // VIDEO_FPS
    lead = "audio leads" if av_offset > 0 else "audio lags"
    return f"{av_offset:+d} {frames} ({milliseconds:+d} ms, {lead})"


def summary_line(score: SyncScore) -> str:
    """One line: model, AV offset, confidence (LSE-C), minimum distance (LSE-D)."""
    return (f"{score.model}: AV offset {offset_text(score.av_offset)}, confidence (LSE-C) {score.confidence:.3f}, "
            f"min distance (LSE-D) {score.min_dist:.3f}, {score.num_windows} windows")


def _nice_step(span: float, target_ticks: int = 5) -> float:
    raw = max(span, 1e-9) / target_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    return f"{value:.{decimals}f}"


class _Panel:
    """A plotting area on the canvas with data -> pixel mapping, grid, ticks and labels."""

    def __init__(self, canvas: np.ndarray, top: int, bottom: int, x_range: tuple[float, float],
                 y_values: np.ndarray, title: str, x_label: str):
        self.canvas = canvas
        self.left, self.right = _MARGIN_LEFT, canvas.shape[1] - _MARGIN_RIGHT
        self.top, self.bottom = top, bottom
        self.x_min, self.x_max = x_range
        low, high = float(np.min(y_values)), float(np.max(y_values))
        pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.05)
        self.y_min, self.y_max = low - pad, high + pad
        cv2.putText(canvas, title, (self.left, top - 12), _FONT, 0.6, _AXIS, 1, cv2.LINE_AA)
        self._grid(x_label)

    def point(self, x: float, y: float) -> tuple[int, int]:
        px = self.left + (x - self.x_min) / max(self.x_max - self.x_min, 1e-9) * (self.right - self.left)
        py = self.bottom - (y - self.y_min) / max(self.y_max - self.y_min, 1e-9) * (self.bottom - self.top)
        return int(round(px)), int(round(py))

    def _grid(self, x_label: str) -> None:
        y_step = _nice_step(self.y_max - self.y_min)
        value = math.ceil(self.y_min / y_step) * y_step
        while value <= self.y_max:
            _, py = self.point(self.x_min, value)
            cv2.line(self.canvas, (self.left, py), (self.right, py), _GRID, 1)
            label = _tick_label(value, y_step)
            cv2.putText(self.canvas, label, (self.left - 8 - 9 * len(label), py + 5), _FONT, 0.45, _AXIS, 1,
                        cv2.LINE_AA)
            value += y_step
        x_step = _nice_step(self.x_max - self.x_min, 10)
        value = math.ceil(self.x_min / x_step) * x_step
        while value <= self.x_max + 1e-9:
            px, _ = self.point(value, self.y_min)
            cv2.line(self.canvas, (px, self.top), (px, self.bottom), _GRID, 1)
            label = _tick_label(value, x_step)
            cv2.putText(self.canvas, label, (px - 4 * len(label), self.bottom + 18), _FONT, 0.45, _AXIS, 1,
                        cv2.LINE_AA)
            value += x_step
        cv2.rectangle(self.canvas, (self.left, self.top), (self.right, self.bottom), _AXIS, 1)
        cv2.putText(self.canvas, x_label, (self.right - 9 * len(x_label), self.bottom + 38), _FONT, 0.5, _AXIS, 1,
                    cv2.LINE_AA)

    def vertical(self, x: float, colour: tuple[int, int, int], label: str, row: int = 0) -> None:
        """A dashed vertical line at ``x`` with ``label`` beside it (on its left near the right edge)."""
        px, _ = self.point(x, self.y_min)
        for y in range(self.top, self.bottom, 8):                      # dashed
            cv2.line(self.canvas, (px, y), (px, min(y + 4, self.bottom)), colour, 1)
        label_x = px + 5 if px + 5 + 9 * len(label) < self.right else px - 5 - 9 * len(label)
        cv2.putText(self.canvas, label, (label_x, self.top + 16 + 18 * row), _FONT, 0.45, colour, 1, cv2.LINE_AA)

    def curve(self, xs: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int], dots: bool = False) -> None:
        points = np.array([self.point(x, y) for x, y in zip(xs, ys)], dtype=np.int32)
        cv2.polylines(self.canvas, [points], False, colour, 2, cv2.LINE_AA)
        if dots:
            for point in points:
                cv2.circle(self.canvas, tuple(int(v) for v in point), 3, colour, -1, cv2.LINE_AA)


def plot_score(score: SyncScore, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The score as a picture (see module docstring): uint8 RGB (height, width, 3)."""
    canvas = np.full((height, width, 3), _BACKGROUND, dtype=np.uint8)
    cv2.putText(canvas, f"Lip sync ({score.model}): AV offset {offset_text(score.av_offset)}", (_MARGIN_LEFT, 30),
                _FONT, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    numbers = f"confidence (LSE-C) {score.confidence:.3f}    min distance (LSE-D) {score.min_dist:.3f}"
    cv2.putText(canvas, numbers, (_MARGIN_LEFT, 58), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    if score.offset_doubt() is not None:           # the red best offset below is then nothing to act on
        (numbers_width, _), _ = cv2.getTextSize(numbers, _FONT, 0.6, 1)
        cv2.putText(canvas, "no reliable offset", (_MARGIN_LEFT + numbers_width + 30, 58), _FONT, 0.6, _BEST, 2,
                    cv2.LINE_AA)

    offsets = np.asarray(score.offsets, dtype=np.float64)[::-1]          # ascending: -vshift .. +vshift
    distances = np.asarray(score.offset_dists, dtype=np.float64)[::-1]
    middle = 95 + (height - 95) // 2
    top_panel = _Panel(canvas, 95, middle - 45, (offsets[0], offsets[-1]), distances,
                       "mean distance per offset (lower = better match)", "offset (frames, 40 ms each)")
    top_panel.vertical(0, _ZERO, "0 = in sync")
    top_panel.vertical(score.av_offset, _BEST, f"best: {score.av_offset:+d}", row=1)
    top_panel.curve(offsets, distances, _LINE, dots=True)
    cv2.circle(canvas, top_panel.point(score.av_offset, score.min_dist), 6, _BEST, -1, cv2.LINE_AA)

    confidence = np.asarray(score.frame_confidence, dtype=np.float64)
    seconds = np.arange(len(confidence), dtype=np.float64) / VIDEO_FPS
    bottom_panel = _Panel(canvas, middle + 30, height - 50, (0.0, max(float(seconds[-1]), 1.0 / VIDEO_FPS)),
                          np.append(confidence, 0.0), "confidence over time (higher = more confidently in sync)",
                          "time (s)")
    _, zero_y = bottom_panel.point(0.0, 0.0)
    cv2.line(canvas, (bottom_panel.left, zero_y), (bottom_panel.right, zero_y), _ZERO, 1)
    if len(confidence) > 1:
        bottom_panel.curve(seconds, confidence, _LINE)
    else:
        cv2.circle(canvas, bottom_panel.point(seconds[0], confidence[0]), 3, _LINE, -1)
    return canvas
