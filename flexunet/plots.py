"""PNG pictures with matplotlib's Figure API (no pyplot, no global backend): curves, grids, histograms."""

import io
import math
import os

import numpy as np
from matplotlib.figure import Figure

from flexunet.data.io import write_image
from flexunet.fsutil import atomic_write_bytes


def _figure(figsize: tuple[float, float], rows: int | None = None, cols: int | None = None):
    """A Figure and one Axes, or a (rows, cols) array of them when rows and cols are given."""
    fig = Figure(figsize=figsize)
    if rows is None:
        return fig, fig.subplots()
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Figure, path: str | os.PathLike) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def plot_curves(path: str | os.PathLike, epochs: list[int], series: dict[str, list[float]],
                title: str) -> None:
    """One line per series against the epoch number."""
    fig, ax = _figure((7, 4.5))
    for name, values in series.items():
        ax.plot(epochs[: len(values)], values, marker="o", markersize=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (0, 255, 0),
            alpha: float = 0.45) -> np.ndarray:
    """The image with mask pixels (> 127) tinted in `colour`, and the mask outline drawn solid."""
    import cv2

    rgb = np.ascontiguousarray(_as_rgb(image))
    inside = mask > 127
    tinted = cv2.addWeighted(rgb, 1 - alpha, np.full_like(rgb, colour), alpha, 0)
    out = np.where(inside[..., None], tinted, rgb)
    contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 1)
    return out


OVERLAY_MIN_SIDE = 512
LABEL_COLOURS = ((0, 190, 255), (255, 40, 40), (255, 200, 0), (180, 0, 255))  # cytoplasm, nucleus, ...


def label_overlay(image: np.ndarray, labels: np.ndarray, num_classes: int, alpha: float = 0.4) -> np.ndarray:
    """The image with each foreground class tinted and outlined: the nucleus (the last class) red, the
    cytoplasm of three classes cyan."""
    import cv2

    out = np.ascontiguousarray(_as_rgb(image)).copy()
    colours = LABEL_COLOURS[1:] if num_classes == 2 else LABEL_COLOURS
    for k in range(1, num_classes):
        colour = colours[(k - 1) % len(colours)]
        inside = labels == k
        tinted = cv2.addWeighted(out, 1 - alpha, np.full_like(out, colour), alpha, 0)
        out = np.where(inside[..., None], tinted, out)
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, colour, 1)
    return out


def cell_colour(cell_id: int) -> tuple[int, int, int]:
    """A bright colour of its own for each cell id (golden-angle hues)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((cell_id * 0.618034) % 1.0, 0.85, 1.0)
    return int(255 * r), int(255 * g), int(255 * b)


def cell_overlay(image: np.ndarray, cells, labels: dict[int, str] | None = None) -> np.ndarray:
    """The image with each cell (flexunet.data.instances.Cell) outlined in its own colour, its nucleus
    outlined thinly in the same colour, and `labels[cell id]` (e.g. its N/C ratio) written at its nucleus.
    An image under OVERLAY_MIN_SIDE pixels a side is enlarged (nearest neighbour, by a whole factor, at most
    4) so that the labels can be read."""
    import cv2

    rgb = _as_rgb(image)
    factor = int(min(4, max(1, math.ceil(OVERLAY_MIN_SIDE / max(1, min(rgb.shape[:2]))))))
    out = np.ascontiguousarray(cv2.resize(rgb, (rgb.shape[1] * factor, rgb.shape[0] * factor),
                                          interpolation=cv2.INTER_NEAREST) if factor > 1 else rgb).copy()
    scale = max(0.6, min(out.shape[:2]) / 700)
    for c in cells:
        top, left = c.box[0] * factor, c.box[1] * factor
        colour = cell_colour(c.id)
        for mask, width in ((c.cell, max(1, round(2 * scale))), (c.nucleus, 1)):
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            contours = [k * factor + factor // 2 for k in contours]
            cv2.drawContours(out, contours, -1, colour, width, offset=(left, top))
        text = (labels or {}).get(c.id)
        if text and c.nucleus.any():
            ys, xs = np.nonzero(c.nucleus)
            at = (int(left + xs.mean() * factor + 6 * scale), int(top + ys.mean() * factor - 6 * scale))
            cv2.putText(out, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, 1, cv2.LINE_AA)
    return out


def image_grid(path: str | os.PathLike, rows: list[list[np.ndarray]], row_titles: list[str],
               col_titles: list[str] | None = None, title: str | None = None) -> None:
    """A grid of images: one list per row (e.g. images over masks, or input | truth | prediction)."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = _figure((2.0 * n_cols, 2.0 * n_rows + 0.4), n_rows, n_cols)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row):
                img = row[c]
                ax.imshow(img if img.ndim == 3 and img.shape[2] == 3 else np.squeeze(img),
                          cmap=None if img.ndim == 3 and img.shape[2] == 3 else "gray", vmin=0, vmax=255)
            if c == 0:
                ax.text(-0.06, 0.5, row_titles[r], rotation=90, fontsize=8, ha="right", va="center",
                        transform=ax.transAxes)
            if col_titles and r == 0 and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize=8)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """An RGB image scaled to fit a side x side square (aspect kept), centred on white."""
    import cv2

    rgb = _as_rgb(image if image.ndim == 3 else image[:, :, None])
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    small = cv2.resize(np.ascontiguousarray(rgb), (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    out = np.full((side, side, 3), 255, np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def tile_grid(path: str | os.PathLike, rows: list[list[np.ndarray]], row_titles: list[str],
              col_titles: list[str] | None = None, side: int = 160) -> None:
    """A grid of images drawn with OpenCV (milliseconds, where image_grid's matplotlib takes a second): one
    list per row, each image fitted into a side x side square, row titles on the left, column titles on top."""
    import cv2

    label_w, head, gap = 110, 22 if col_titles else 4, 4
    n_cols = max(len(r) for r in rows)
    canvas = np.full((head + len(rows) * (side + gap), label_w + n_cols * (side + gap), 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for c, title in enumerate(col_titles or []):
        cv2.putText(canvas, title[:20], (label_w + c * (side + gap) + 2, 15), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for r, row in enumerate(rows):
        top = head + r * (side + gap)
        cv2.putText(canvas, row_titles[r][:16], (4, top + side // 2), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for c, image in enumerate(row):
            left = label_w + c * (side + gap)
            canvas[top:top + side, left:left + side] = _fit(image, side)
    write_image(path, canvas, durable=True)


def histogram(path: str | os.PathLike, values: list[float], xlabel: str, title: str) -> None:
    fig, ax = _figure((6, 4))
    ax.hist(values, bins=20, range=(0, 1), color="#4477aa", edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.set_title(title)
    _save(fig, path)


def bar_chart(path: str | os.PathLike, labels: list[str], values: list[float], ylabel: str,
              title: str) -> None:
    fig, ax = _figure((max(5, 0.8 * len(labels)), 4))
    ax.bar(range(len(labels)), values, color="#4477aa")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _save(fig, path)


def bland_altman(path: str | os.PathLike, true: np.ndarray, pred: np.ndarray, what: str) -> None:
    """Bland-Altman plot of a measure: the difference (prediction - truth) against the mean of the two,
    with the mean difference (bias) and the 95 % limits of agreement (bias +- 1.96 SD)."""
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    mean, diff = (true + pred) / 2, pred - true
    fig, ax = _figure((6, 4))
    ax.scatter(mean, diff, s=10, color="#4477aa", alpha=0.7)
    if len(diff):
        bias, spread = float(diff.mean()), 1.96 * float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
        for value, style in ((bias, "-"), (bias - spread, "--"), (bias + spread, "--")):
            ax.axhline(value, color="#cc6677", linestyle=style, linewidth=1)
        ax.set_title(f"{what}: bias {bias:.3g}, 95 % limits {bias - spread:.3g} to {bias + spread:.3g}", fontsize=9)
    ax.set_xlabel(f"mean of truth and prediction ({what})")
    ax.set_ylabel("prediction - truth")
    ax.grid(alpha=0.3)
    _save(fig, path)
