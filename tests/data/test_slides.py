"""Slides: pyramidal TIFFs written tile by tile and read back lazily, region by region; damaged files; the
synthetic slide and its truth."""

import importlib.util
import json
import shutil
import tracemalloc

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from flexunet.data import slides
from flexunet.data.instances import Cell
from flexunet.data.pyramid import array_tiles, pyramid_shapes, write_pyramid
from flexunet.data.slides import open_slide, thumbnail, tile_has_tissue, tissue_mask
from flexunet.errors import DataError, OutputError
from flexunet.generators.slides import BLANK, SlideTruth, read_truth, truth_path, write_synthetic_slide

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (301, 389, 3)).astype(np.uint8)   # odd sides: edge tiles and odd halves


def _mean2x2(a: np.ndarray) -> np.ndarray:
    """Level 1 as documented: 2x2 means rounded half up, an odd last row/column counted twice."""
    p = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="edge").astype(int)
    return ((p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2] + 2) // 4).astype(np.uint8)


@pytest.fixture(scope="module")
def image_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "image.ome.tif"
    write_pyramid(path, IMAGE.shape[:2], np.uint8, array_tiles(IMAGE, 64), tile=64, kind="image", channels=3,
                  pixel_size_um=0.25)
    return path


def test_pyramid_shapes_halve_rounding_up_until_one_tile():
    assert pyramid_shapes((301, 389), 64) == [(301, 389), (151, 195), (76, 98), (38, 49)]
    assert pyramid_shapes((64, 64), 64) == [(64, 64)]
    assert pyramid_shapes((1000, 10), 256, levels=2) == [(1000, 10), (500, 5)]


def test_image_level0_regions_equal_the_source_and_pad_white_outside(image_tif):
    with open_slide(image_tif) as slide:
        assert slide.levels == [(301, 389), (151, 195), (76, 98), (38, 49)]
        assert slide.channels == 3 and slide.dtype == np.uint8
        np.testing.assert_array_equal(slide.read(0, 0, 0, 301, 389), IMAGE)
        np.testing.assert_array_equal(slide.read(0, 50, 60, 100, 130), IMAGE[50:150, 60:190])
        edge = slide.read(0, 290, 380, 20, 15)           # crosses the bottom-right corner
        np.testing.assert_array_equal(edge[:11, :9], IMAGE[290:, 380:])
        assert (edge[11:] == 255).all() and (edge[:, 9:] == 255).all()
        before = slide.read(0, -3, -2, 5, 4)             # crosses the top-left corner
        np.testing.assert_array_equal(before[3:, 2:], IMAGE[:2, :2])
        assert (before[:3] == 255).all() and (before[:, :2] == 255).all()
        assert (slide.read(0, 400, 400, 8, 8) == 255).all()
        raw = slide.read_raw(0, 299, 0, 4, 2, fill=7)
        np.testing.assert_array_equal(raw[:2], IMAGE[299:, :2])
        assert (raw[2:] == 7).all()


def test_image_level1_is_the_2x2_mean(image_tif, tmp_path):
    block = np.array([[[10], [20]], [[30], [41]]], np.uint8).repeat(3, axis=2)   # sum 101: 25.25 -> 25
    half = np.array([[[1], [2]], [[2], [1]]], np.uint8).repeat(3, axis=2)        # sum 6: 1.5 rounds up to 2
    small = np.concatenate([block, half], axis=1)
    write_pyramid(tmp_path / "s.tif", (2, 4), np.uint8, array_tiles(small, 16), tile=16, kind="image",
                  channels=3, levels=2)
    with open_slide(tmp_path / "s.tif") as slide:
        np.testing.assert_array_equal(slide.read(1, 0, 0, 1, 2)[0, :, 0], [25, 2])
    odd = np.array([[10, 20, 31]], np.uint8)           # 1 x 3: the last row and column are counted twice
    write_pyramid(tmp_path / "odd.tif", (1, 3), np.uint8, [odd], tile=16, kind="image", levels=2)
    with open_slide(tmp_path / "odd.tif") as slide:
        assert slide.levels == [(1, 3), (1, 2)]
        np.testing.assert_array_equal(slide.read_raw(1, 0, 0, 1, 2)[0, :, 0], [15, 31])   # (60 + 2) // 4
    expected = _mean2x2(IMAGE)
    with open_slide(image_tif) as slide:
        np.testing.assert_array_equal(slide.read(1, 0, 0, 151, 195), expected)
        edge = slide.read(1, 140, 100, 20, 100)
        np.testing.assert_array_equal(edge[:11, :95], expected[140:, 100:])
        assert (edge[11:] == 255).all() and (edge[:, 95:] == 255).all()
        np.testing.assert_array_equal(slide.read(2, 0, 0, 76, 98), _mean2x2(expected))


def test_label_pyramid_takes_every_2nd_pixel_in_subifds_of_the_tile_size(tmp_path):
    labels = RNG.integers(0, 70000, (512, 384)).astype(np.uint32)
    path = write_pyramid(tmp_path / "labels.ome.tif", labels.shape, np.uint32, array_tiles(labels, 64), tile=64,
                         pixel_size_um=0.5, description="cells of slide A")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and tif.is_ome and len(tif.pages) == 1
        assert len(tif.pages[0].subifds) == 3
        series = tif.series[0]
        assert [level.shape for level in series.levels] == [(512, 384), (256, 192), (128, 96), (64, 48)]
        for level in series.levels:
            page = level.keyframe
            assert (page.tilelength, page.tilewidth, page.compression) == (64, 64, 8)
        assert series.levels[1].keyframe.get_resolution("micrometer") == pytest.approx((1.0, 1.0))
        assert "cells of slide A" in tif.ome_metadata
    with open_slide(path) as slide:
        assert slide.dtype == np.uint32 and slide.channels == 1
        assert slide.pixel_size_um == pytest.approx(0.5)
        assert slide.downsamples == [1, 2, 4, 8]
        assert [slide.level_pixel_size(k) for k in range(4)] == pytest.approx([0.5, 1, 2, 4])
        assert (slide.level_for(0.5), slide.level_for(1.05), slide.level_for(0.9), slide.level_for(100)) == (0, 1, 0, 3)
        assert slide.level_for(0.1) == 0
        for k, (h, w) in enumerate(slide.levels):
            np.testing.assert_array_equal(slide.read_raw(k, 0, 0, h, w)[:, :, 0], labels[::2 ** k, ::2 ** k])


def test_two_plane_labels_read_back_per_plane(tmp_path):
    planes = RNG.integers(0, 300, (2, 200, 130)).astype(np.uint16)
    path = write_pyramid(tmp_path / "cells_nuclei.ome.tif", (200, 130), np.uint16, array_tiles(planes, 64, planes=2),
                         tile=64, planes=2, plane_names=["cells", "nuclei"])
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        assert series.axes == "CYX" and [lv.shape for lv in series.levels] == [(2, 200, 130), (2, 100, 65),
                                                                                (2, 50, 33)]
        assert 'Name="nuclei"' in tif.ome_metadata
    with open_slide(path) as slide:
        assert slide.channels == 2
        for k in range(3):
            got = slide.read_raw(k, 0, 0, *slide.levels[k])
            np.testing.assert_array_equal(np.moveaxis(got, -1, 0), planes[:, ::2 ** k, ::2 ** k])


def test_writer_refuses_wrong_tiles_and_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match=r"expected 4 tiles \(2 rows x 2 columns\), got 3"):
        write_pyramid(tmp_path / "a.tif", (100, 100), np.uint8, (np.zeros((64, 64), np.uint8) for _ in range(3)),
                      tile=64)
    with pytest.raises(ValueError, match=r"tile \(row 0, column 0\): expected dtype uint16, got uint8"):
        write_pyramid(tmp_path / "a.tif", (10, 10), np.uint16, [np.zeros((10, 10), np.uint8)], tile=16)
    with pytest.raises(ValueError, match=r"expected a tile of shape \(10, 10, 3\), got \(16, 16\)"):
        write_pyramid(tmp_path / "a.tif", (10, 10), np.uint8, [np.zeros((16, 16), np.uint8)], tile=16,
                      kind="image", channels=3)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="writing"):
        write_pyramid(tmp_path / "file" / "a.tif", (10, 10), np.uint8, [np.zeros((10, 10), np.uint8)], tile=16)


def test_other_tiffs_read_lazily(tmp_path):
    grey16 = (np.arange(90 * 70).reshape(90, 70) * 9).astype(np.uint16)     # max 56691 > 255: 16-bit range
    tifffile.imwrite(tmp_path / "ome.ome.tif", grey16, tile=(32, 32), compression="zlib",
                     metadata={"axes": "YX", "PhysicalSizeX": 250, "PhysicalSizeXUnit": "nm"})
    Image.fromarray(IMAGE).save(tmp_path / "strips.tif")                     # plain, uncompressed, not tiled
    tifffile.imwrite(tmp_path / "zstrips.tif", IMAGE, photometric="rgb", compression="zlib", rowsperstrip=16,
                     resolution=(25400 / 0.5, 25400 / 0.5), resolutionunit="INCH")
    rgba = np.concatenate([IMAGE, np.full(IMAGE.shape[:2] + (1,), 9, np.uint8)], axis=2)
    tifffile.imwrite(tmp_path / "big.tif", rgba, bigtiff=True, tile=(64, 64), photometric="rgb",
                     extrasamples=["unassalpha"])
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:                  # levels as reduced pages
        tif.write(IMAGE, tile=(64, 64), photometric="rgb", metadata=None)
        tif.write(IMAGE[::2, ::2], tile=(64, 64), photometric="rgb", subfiletype=1, metadata=None)
    with open_slide(tmp_path / "ome.ome.tif") as slide:
        assert slide.pixel_size_um == pytest.approx(0.25)
        got = slide.read(0, 10, 20, 30, 30)
        expected = (grey16[10:40, 20:50] * (255 / 65535) + 0.5).astype(np.uint8)
        assert got.shape == (30, 30, 3) and (got == expected[:, :, None]).all()
    with open_slide(tmp_path / "strips.tif") as slide:
        assert isinstance(slide._arrays[0], np.memmap) and slide.pixel_size_um is None
        np.testing.assert_array_equal(slide.read(0, 100, 50, 40, 40), IMAGE[100:140, 50:90])
    with open_slide(tmp_path / "zstrips.tif") as slide:
        assert slide._arrays[0].chunks[0] == 16 and slide.pixel_size_um == pytest.approx(0.5)
        np.testing.assert_array_equal(slide.read(0, 100, 50, 40, 40), IMAGE[100:140, 50:90])
    with open_slide(tmp_path / "big.tif") as slide:
        assert slide._tif.is_bigtiff and slide.channels == 4
        np.testing.assert_array_equal(slide.read(0, 60, 60, 70, 70), IMAGE[60:130, 60:130])
    with open_slide(tmp_path / "pages.tif") as slide:
        assert slide.levels == [(301, 389), (151, 195)]
        np.testing.assert_array_equal(slide.read(1, 0, 0, 151, 195), IMAGE[::2, ::2])
    Image.fromarray(IMAGE).save(tmp_path / "plain.png")
    with open_slide(tmp_path / "plain.png") as slide:
        np.testing.assert_array_equal(slide.read(0, 300, 0, 2, 389)[0], IMAGE[300])


def test_thumbnail_and_tissue_mask_skip_the_background(tmp_path):
    canvas = np.full((1000, 800, 3), 238, np.uint8)
    canvas[100:200, 600:700] = (180, 120, 170)            # one stained cell cluster, top right
    write_pyramid(tmp_path / "t.tif", (1000, 800), np.uint8, array_tiles(canvas, 128), tile=128, kind="image",
                  channels=3)
    with open_slide(tmp_path / "t.tif") as slide:
        thumb = thumbnail(slide, max_side=250)
        assert thumb.shape == (250, 200, 3)                # from level 2 (250 x 200), the coarsest big enough
        assert thumbnail(slide, max_side=100).shape == (100, 80, 3)
    mask = tissue_mask(thumb)
    assert mask[25:50, 150:175].all() and mask.sum() < 30 * 30
    assert tissue_mask(np.full((50, 50, 3), 238, np.uint8)).sum() == 0
    assert tile_has_tissue(mask, 4.0, 128, 512, 128, 128)
    assert not tile_has_tissue(mask, 4.0, 512, 0, 128, 128)


def test_thumbnail_of_a_single_level_reads_it_in_bands(tmp_path, monkeypatch):
    smooth = np.zeros((301, 389, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 250, 301)[:, None]
    smooth[..., 1] = np.linspace(0, 250, 389)[None, :]
    Image.fromarray(smooth).save(tmp_path / "strips.tif")
    monkeypatch.setattr(slides, "THUMBNAIL_BAND_BYTES", 40 * 389 * 3)    # bands of about 13 thumbnail rows
    with open_slide(tmp_path / "strips.tif") as slide:
        thumb = thumbnail(slide, max_side=130)
    whole = cv2.resize(smooth, (130, 101), interpolation=cv2.INTER_AREA)
    assert thumb.shape == (101, 130, 3)
    assert np.abs(thumb.astype(int) - whole).max() <= 1


def test_an_image_within_one_tile_has_one_level(tmp_path):
    path = write_pyramid(tmp_path / "one.tif", (40, 50), np.uint8, [IMAGE[:40, :50]], tile=64, kind="image",
                         channels=3)
    with tifffile.TiffFile(path) as tif:
        assert not tif.pages[0].subifds and [lv.shape for lv in tif.series[0].levels] == [(40, 50, 3)]
    with open_slide(path) as slide:
        np.testing.assert_array_equal(slide.read(0, 0, 0, 40, 50), IMAGE[:40, :50])


def _pattern_tiles(size: int, tile: int):
    rows, cols = np.mgrid[0:tile, 0:tile]
    for top in range(0, size, tile):
        for left in range(0, size, tile):
            t = np.empty((tile, tile, 3), np.uint8)
            t[..., 0], t[..., 1], t[..., 2] = (rows + top) % 251, (cols + left) % 253, (top + left) // tile % 256
            yield t


def test_writing_and_reading_a_4096_rgb_slide_keeps_memory_small(tmp_path):
    size, tile = 4096, 256                               # 48 MB decoded
    tracemalloc.start()
    try:
        write_pyramid(tmp_path / "big.tif", (size, size), np.uint8, _pattern_tiles(size, tile), tile=tile,
                      kind="image", channels=3)
        write_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with open_slide(tmp_path / "big.tif") as slide:
            for top in range(0, size, 1024):
                for left in range(0, size, 1024):
                    region = slide.read(0, top, left, 1024, 1024)
                    assert region[5, 7, 0] == (top + 5) % 251 and region[5, 7, 1] == (left + 7) % 253
            corner = slide.read(1, 2040, 2040, 16, 16)
        read_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert write_peak < 16 * 2 ** 20, f"writer peak {write_peak / 2 ** 20:.1f} MB"
    assert read_peak < 24 * 2 ** 20, f"reader peak {read_peak / 2 ** 20:.1f} MB"   # one 1024^2 region is 3 MB
    assert (corner[8:, 8:] == 255).all() and (corner[:8, :8] != 255).any()


def _damage(path, offset: int, count: int = 16) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        data = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_damaged_and_wrong_files_raise_one_line_data_errors(image_tif, tmp_path):
    data = image_tif.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.tif: truncated: level 0 plane 0 tile \d+ ends at byte \d+, past the "
                                        rf"end of the file \({len(data) // 2} bytes\)") as info:
        open_slide(cut)
    _one_line(info)
    cut.write_bytes(data[:len(data) - 10])                # the OME-XML and SubIFDs are written last
    with pytest.raises(DataError, match=r"cut\.tif: cannot be read as a TIFF .*truncated or damaged"):
        open_slide(cut)
    cut.write_bytes(data[:20])
    with pytest.raises(DataError, match=r"cut\.tif: cannot be read as a TIFF"):
        open_slide(cut)

    bad = tmp_path / "bad.tif"
    shutil.copy(image_tif, bad)
    with tifffile.TiffFile(bad) as tif:
        page = tif.pages[0]
        offset, count = page.dataoffsets[8], page.databytecounts[8]   # tile 8: row 1, column 1 of 2 x 7
    _damage(bad, offset + count // 2)
    with open_slide(bad) as slide:
        np.testing.assert_array_equal(slide.read(0, 0, 0, 64, 64), IMAGE[:64, :64])   # other tiles still read
        with pytest.raises(DataError, match=r"bad\.tif: level 0 tile at row 1, column 1 \(pixels y 64\.\.128, "
                                            r"x 64\.\.128\) cannot be decoded") as info:
            slide.read(0, 0, 0, 200, 200)
        _one_line(info)

    text = tmp_path / "notes.tif"
    text.write_text("these are my notes\n")
    with pytest.raises(DataError, match=r"notes\.tif: expected a TIFF file, found text starting 'these are my no"):
        open_slide(text)
    png = tmp_path / "really_png.tif"
    Image.fromarray(IMAGE).save(png, format="PNG")
    with pytest.raises(DataError, match=r"really_png\.tif: expected a TIFF file, found a PNG image"):
        open_slide(png)
    with pytest.raises(DataError, match=r"missing\.tif: file not found"):
        open_slide(tmp_path / "missing.tif")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.tif: cannot be read \(empty file, 0 bytes\)"):
        open_slide(tmp_path / "empty.tif")
    with open_slide(image_tif) as slide, pytest.raises(DataError, match=r"level 4 requested, expected 0\.\.3"):
        slide.read(4, 0, 0, 1, 1)


def test_a_codec_that_is_not_installed_is_named(tmp_path):
    if importlib.util.find_spec("imagecodecs") is not None:
        pytest.skip("imagecodecs is installed, so LZW decodes")
    path = tmp_path / "lzw.tif"
    tifffile.imwrite(path, IMAGE[:64, :64], tile=(32, 32), photometric="rgb")
    with tifffile.TiffFile(path) as tif:
        tag_offset = tif.pages[0].tags["Compression"].valueoffset
    with open(path, "r+b") as handle:                     # relabel the raw tiles as LZW
        handle.seek(tag_offset)
        handle.write((5).to_bytes(2, "little"))
    with pytest.raises(DataError, match=r"lzw\.tif: level 0 is stored with .*LZW.*requires the 'imagecodecs' "
                                        r"package.*pip install imagecodecs"):
        open_slide(path)


def _disc_drawer(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[Cell]]:
    """A 64-pixel field of 1 to 4 discs (cell radius 6, nucleus radius 2) that do not touch; one always at
    (41, 41), so the fields cut at the slide's edge (44 pixels left of 64) cut it."""
    image = np.full((size, size, 3), 210, np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    cells = []
    spots = [(10, 10), (10, 41), (41, 10)]
    centres = [spots[i] for i in sorted(rng.choice(3, int(rng.integers(0, 4)), replace=False))] + [(41, 41)]
    for i, (cy, cx) in enumerate(centres, start=1):
        cell = (yy - cy) ** 2 + (xx - cx) ** 2 <= 36
        nucleus = (yy - cy) ** 2 + (xx - cx) ** 2 <= 4
        image[cell] = (150, 110, 160)
        image[nucleus] = (60, 40, 90)
        box = (cy - 6, cx - 6, cy + 7, cx + 7)
        cells.append(Cell(i, box, cell[box[0]:box[2], box[1]:box[3]], nucleus[box[0]:box[2], box[1]:box[3]]))
    return image, cells


def test_synthetic_slide_truth_blank_fields_and_cells(tmp_path):
    path = tmp_path / "synthetic.ome.tif"
    truth = write_synthetic_slide(path, 300, 64, seed=3, draw=_disc_drawer, blank_fraction=0.2, tile=128)
    assert truth_path(path) == tmp_path / "synthetic.cells.json"
    assert read_truth(path) == truth and SlideTruth.from_json(truth.to_json()) == truth
    assert json.loads(truth_path(path).read_text())["grid"] == [5, 5]
    assert truth.grid == (5, 5) and len(truth.blank) == 5 and len(set(truth.blank)) == 5
    assert write_synthetic_slide(tmp_path / "again.tif", 300, 64, seed=3, draw=_disc_drawer, tile=128) == truth
    drawn = {cell.field for cell in truth.cells}
    assert drawn.isdisjoint(truth.blank) and len(drawn) == 25 - 5
    with open_slide(path) as slide:
        assert slide.levels == [(300, 300), (150, 150), (75, 75)]
        image = slide.read(0, 0, 0, 300, 300)
        mask = tissue_mask(thumbnail(slide, max_side=150))
    for row, col in truth.blank:
        top, left, bottom, right = truth.field_box(row, col)
        assert (image[top:bottom, left:right] == BLANK).all()
        assert not tile_has_tissue(mask, 2.0, top + 2, left + 2, bottom - top - 4, right - left - 4)
    cut = 0
    for cell in truth.cells:
        top, left, bottom, right = cell.box
        f_top, f_left, f_bottom, f_right = truth.field_box(*cell.field)
        assert f_top <= top < bottom <= f_bottom and f_left <= left < right <= f_right
        cut += (bottom - top, right - left) != (13, 13)
        if cell.nucleus_centroid is not None:
            y, x = cell.nucleus_centroid
            assert tuple(image[round(y), round(x)]) == (60, 40, 90)
    assert cut > 0                                        # some cells were cut at the slide's edge
    bad = tmp_path / "bad.cells.json"
    bad.write_text("{}")
    with pytest.raises(DataError, match=r"bad\.cells\.json: expected a synthetic slide's cells record"):
        read_truth(bad)
