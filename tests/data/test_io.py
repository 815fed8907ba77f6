"""read_image / read_mask / list_images: every format to RGB uint8, and one DataError per bad file."""

import numpy as np
import pytest
from PIL import Image

from flexunet.data.io import list_images, read_image, read_mask, write_image
from flexunet.errors import DataError

RGB = np.zeros((6, 5, 3), np.uint8)
RGB[..., 0] = np.arange(5) * 50          # red ramp over x
RGB[..., 1] = (np.arange(6) * 40)[:, None]   # green ramp over y
RGB[..., 2] = 77


@pytest.mark.parametrize("name, fmt", [
    ("a.png", "PNG"), ("a.bmp", "BMP"), ("a.tif", "TIFF"), ("a.tiff", "TIFF"),
    ("A.PNG", "PNG"), ("A.BMP", "BMP"), ("a.Tif", "TIFF"),
])
def test_lossless_rgb_formats_read_exactly(tmp_path, name, fmt):
    Image.fromarray(RGB).save(tmp_path / name, format=fmt)
    got = read_image(tmp_path / name)
    assert got.dtype == np.uint8 and got.shape == (6, 5, 3)
    np.testing.assert_array_equal(got, RGB)


@pytest.mark.parametrize("name", ["a.jpg", "a.jpeg", "A.JPG"])
def test_jpeg_reads_as_rgb_in_rgb_order(tmp_path, name):
    image = np.zeros((16, 16, 3), np.uint8)
    image[..., 0] = 250                  # pure red: a BGR mix-up would show as blue
    Image.fromarray(image).save(tmp_path / name, format="JPEG", quality=95)
    got = read_image(tmp_path / name)
    assert got.shape == (16, 16, 3) and got.dtype == np.uint8
    assert got[..., 0].min() > 230 and got[..., 2].max() < 25


def test_grayscale_becomes_three_equal_channels(tmp_path):
    grey = (np.arange(30).reshape(6, 5) * 8).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    got = read_image(tmp_path / "g.png")
    assert got.shape == (6, 5, 3)
    for c in range(3):
        np.testing.assert_array_equal(got[..., c], grey)
    np.testing.assert_array_equal(read_image(tmp_path / "g.png", channels=1)[..., 0], grey)


def test_rgba_drops_alpha(tmp_path):
    rgba = np.concatenate([RGB, np.full((6, 5, 1), 30, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), RGB)
    four = read_image(tmp_path / "a.png", channels=4)
    assert four.shape == (6, 5, 4) and np.all(four[..., 3] == 30)


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_palette_images_are_expanded(tmp_path, suffix):
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 30] + [0] * (256 * 3 - 12)
    indices = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8)
    img = Image.fromarray(indices, "P")
    img.putpalette(palette)
    img.save(tmp_path / f"p{suffix}")
    assert Image.open(tmp_path / f"p{suffix}").mode == "P"
    got = read_image(tmp_path / f"p{suffix}")
    expected = np.array(palette[:12], np.uint8).reshape(4, 3)[indices]
    np.testing.assert_array_equal(got, expected)


def test_16bit_grayscale_png_is_scaled_to_8_bit(tmp_path):
    values = np.array([[0, 257, 32896], [65535, 12850, 1285]], np.uint16)   # = 255 * [0, 1, 128 ...]
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    got = read_image(tmp_path / "g16.png")
    expected = np.array([[0, 1, 128], [255, 50, 5]], np.uint8)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 3)
    np.testing.assert_array_equal(got[..., 0], expected)
    np.testing.assert_array_equal(got[..., 2], expected)
    np.testing.assert_array_equal(read_mask(tmp_path / "g16.png"), expected)


def _corrupt(tmp_path, kind):
    ok = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    if kind == "zero-byte jpg":
        path = tmp_path / "z.jpg"
        path.write_bytes(b"")
    elif kind == "truncated jpg":
        path = tmp_path / "t.jpg"
        Image.fromarray(ok).save(path, quality=95)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated png":
        path = tmp_path / "t.png"
        Image.fromarray(ok).save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt bmp":
        path = tmp_path / "c.bmp"
        Image.fromarray(ok).save(path)
        data = path.read_bytes()
        path.write_bytes(data[:30] + b"\xff" * 8 + data[38:200])   # bad header fields, short pixels
    elif kind == "text renamed png":
        path = tmp_path / "notes.png"
        path.write_text("this is not an image\n")
    elif kind == "header only png":
        path = tmp_path / "h.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return path


@pytest.mark.parametrize("kind, reason", [
    ("zero-byte jpg", "cannot be read (empty file, 0 bytes)"),
    ("truncated jpg", "cannot be read ("),
    ("truncated png", "cannot be read ("),
    ("corrupt bmp", "cannot be read ("),
    ("text renamed png", "cannot be read ("),
    ("header only png", "cannot be read ("),
])
@pytest.mark.parametrize("reader", [read_image, read_mask], ids=["read_image", "read_mask"])
def test_unreadable_files_raise_data_error_naming_the_file(tmp_path, kind, reason, reader):
    path = _corrupt(tmp_path, kind)
    with pytest.raises(DataError) as info:
        reader(path)
    message = str(info.value)
    assert message.startswith(f"image {path}: {reason}"), message
    assert "\n" not in message


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"^image .*nothere\.png: cannot be read"):
        read_image(tmp_path / "nothere.png")


def test_read_mask_keeps_01_values_and_greys(tmp_path):
    labels = np.array([[0, 1, 1], [0, 0, 1]], np.uint8)
    Image.fromarray(labels, "L").save(tmp_path / "m.png")
    got = read_mask(tmp_path / "m.png")
    assert got.dtype == np.uint8 and got.shape == (2, 3)
    np.testing.assert_array_equal(got, labels)
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[0, 0] = 255
    Image.fromarray(colour).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "c.png"), [[255, 0], [0, 0]])
    Image.fromarray(labels.astype(bool)).save(tmp_path / "b.png")        # a 1-bit PNG
    np.testing.assert_array_equal(read_mask(tmp_path / "b.png"), labels * 255)


def test_list_images_filters_and_sorts(tmp_path):
    for name in ("b.jpg", "a.PNG", "c.bmp", "d.TIF", "e.jpeg"):
        Image.fromarray(RGB).save(tmp_path / name, format="PNG" if name.endswith("PNG") else None)
    for name in ("Thumbs.db", "notes.txt", ".DS_Store", "x.jpg.bak"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub.jpg").mkdir()          # a folder with an image-like name
    got = [p.name for p in list_images(tmp_path, "[train] image_datapath in c.config")]
    assert got == ["a.PNG", "b.jpg", "c.bmp", "d.TIF", "e.jpeg"]


@pytest.mark.parametrize("kind, message", [
    ("missing", "W: folder {path} not found"),
    ("empty", "W: no images (.jpg .png .bmp .tif) in {path}"),
    ("only other files", "W: no images (.jpg .png .bmp .tif) in {path}"),
    ("file", "W: expected a folder, found a file at {path}"),
])
def test_list_images_errors(tmp_path, kind, message):
    path = tmp_path / "images"
    if kind == "empty":
        path.mkdir()
    elif kind == "only other files":
        path.mkdir()
        (path / "Thumbs.db").write_bytes(b"\0")
        (path / "readme.txt").write_text("x")
    elif kind == "file":
        path.write_text("x")
    with pytest.raises(DataError) as info:
        list_images(path, "W")
    assert str(info.value) == message.format(path=path)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".jpg"])
def test_write_then_read_round_trip(tmp_path, suffix):
    write_image(tmp_path / f"o{suffix}", RGB)
    got = read_image(tmp_path / f"o{suffix}")
    if suffix == ".jpg":
        assert np.abs(got.astype(int) - RGB).max() < 40
    else:
        np.testing.assert_array_equal(got, RGB)
    mask = np.array([[0, 255], [255, 0]], np.uint8)
    write_image(tmp_path / f"m{suffix}", mask[:, :, None])
    assert read_mask(tmp_path / f"m{suffix}").shape == (2, 2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_real_mini_test_bmps(shared_data):
    files = list_images(shared_data / "mini_test", "mini_test")
    assert len(files) == 15
    for f in files[:3]:
        image = read_image(f)
        width, height = Image.open(f).size
        assert image.dtype == np.uint8 and image.shape == (height, width, 3)
