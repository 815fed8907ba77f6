"""Online augmentation with OpenCV: images and masks get the same random geometric transform."""

import cv2
import numpy as np

from flexunet.config.sections import AugmentorSection

AugmentOptions = AugmentorSection  # the [augmentor] keys are the options


def affine_matrix(size: tuple[int, int], angle: float, scale: float, shear: float) -> np.ndarray:
    """2x3 matrix rotating by `angle` degrees and scaling by `scale` about the centre, then shearing x."""
    h, w = size
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    rotate = np.vstack([cv2.getRotationMatrix2D(centre, angle, scale), [0, 0, 1]])
    shear_m = np.array([[1.0, shear, -shear * centre[1]], [0, 1, 0], [0, 0, 1]])
    return (shear_m @ rotate)[:2]


def elastic_maps(size: tuple[int, int], alpha: float, sigma: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps for a smooth random displacement of up to about alpha pixels."""
    h, w = size
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    peak = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + dx * (alpha / peak), ys + dy * (alpha / peak)


def _rebinarize(mask: np.ndarray, binary: bool) -> np.ndarray:
    return np.where(mask > 127, 255, 0).astype(np.uint8) if binary else mask


def jitter_colour(image: np.ndarray, opts: AugmentOptions, rng: np.random.Generator) -> np.ndarray:
    """Brightness (+-brightness*255), contrast (x 1+-contrast about the mean), hue (+-hue degrees)."""
    out = image.astype(np.float32)
    if opts.brightness > 0:
        out += rng.uniform(-opts.brightness, opts.brightness) * 255.0
    if opts.contrast > 0:
        mean = out.mean(axis=(0, 1), keepdims=True)
        out = (out - mean) * (1.0 + rng.uniform(-opts.contrast, opts.contrast)) + mean
    out = np.clip(out, 0, 255).astype(np.uint8)
    if opts.hue > 0 and out.ndim == 3 and out.shape[2] == 3:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        shift = int(round(rng.uniform(-opts.hue, opts.hue) / 2.0))
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


class Augmentor:
    """Callable (image, mask, rng) -> (image, mask) applying each enabled transform with `probability`.

    With `labels` the mask holds class indices: it is resampled by nearest neighbour, never blended.
    """

    def __init__(self, opts: AugmentOptions, labels: bool = False):
        self.opts = opts
        self.labels = labels

    def __call__(self, image: np.ndarray, mask: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        o = self.opts
        binary = not self.labels and bool(np.isin(mask, (0, 255)).all())
        mask_interpolation = cv2.INTER_NEAREST if self.labels else cv2.INTER_LINEAR
        hit = lambda: rng.random() < o.probability  # noqa: E731
        if o.hflip and hit():
            image, mask = image[:, ::-1], mask[:, ::-1]
        if o.vflip and hit():
            image, mask = image[::-1], mask[::-1]
        angle = float(rng.choice(o.angles)) if o.rotation and o.angles and hit() else 0.0
        scale = float(rng.choice(o.shrinks)) if o.shrinks and hit() else 1.0
        shear = float(rng.choice(o.shears)) if o.shears and hit() else 0.0
        size = image.shape[:2]
        if angle or scale != 1.0 or shear:
            m = affine_matrix(size, angle, scale, shear)
            image = cv2.warpAffine(np.ascontiguousarray(image), m, size[::-1], flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT_101)
            mask = cv2.warpAffine(np.ascontiguousarray(mask), m, size[::-1], flags=mask_interpolation,
                                  borderMode=cv2.BORDER_REFLECT_101)
        if o.deformation and hit():
            mx, my = elastic_maps(size, o.deformation_alpha, o.deformation_sigma, rng)
            image = cv2.remap(np.ascontiguousarray(image), mx, my, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)
            mask = cv2.remap(np.ascontiguousarray(mask), mx, my, mask_interpolation,
                             borderMode=cv2.BORDER_REFLECT_101)
        if (o.brightness or o.contrast or o.hue) and hit():
            image = jitter_colour(image, o, rng)
        if image.ndim == 2:
            image = image[:, :, None]
        return np.ascontiguousarray(image), _rebinarize(np.ascontiguousarray(mask), binary)
