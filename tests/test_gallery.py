"""The sets shown [issue 36]: ``plots.image_grid`` draws a panel per image, grey or RGB, clipping for display only;
chapters 03 and 05 read the images their runs train on from the cache (``ddlib.gallery``), and say in one line,
without making anything, when a set or a scoring run is not there."""
import matplotlib
import pytest
import torch

from ddlib import gallery, plots
from ddlib.errors import DDLibError

matplotlib.use("Agg")


def panels(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.mark.parametrize("channels", [1, 3])
def test_a_panel_per_image_of_the_chosen_classes_grey_or_rgb(channels):
    x, y = torch.rand(12, channels, 8, 8), torch.arange(4).repeat_interleave(3)     # 4 classes, 3 images each
    fig = plots.image_grid(x, y, ["a", "b", "c", "d"], per_class=2, classes=[0, 2])
    drawn = panels(fig)
    assert len(fig.axes) == len(drawn) == 4                                         # 2 classes x 2 images
    shown = [torch.as_tensor(ax.images[0].get_array().data) for ax in drawn]
    assert shown[0].shape == ((8, 8) if channels == 1 else (8, 8, 3))
    first_of_2 = x[6, 0] if channels == 1 else x[6].permute(1, 2, 0)
    assert torch.allclose(shown[2].float(), first_of_2)                             # row 2: class 2, in set order
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["a", "c"]


def test_pixels_outside_0_1_are_clipped_for_display_only_and_the_title_says_so():
    x = torch.full((2, 1, 4, 4), 0.5)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = -1.0, 2.0
    fig = plots.image_grid(x, torch.tensor([0, 0]), ["a"], per_class=5, title="DM")
    arrays = [ax.images[0].get_array() for ax in panels(fig)]
    assert len(arrays) == 2 and min(a.min() for a in arrays) == 0 and max(a.max() for a in arrays) == 1
    assert float(x.min()) == -1.0 and float(x.max()) == 2.0                         # the set itself is untouched
    title = fig._suptitle.get_text()                                                # wrapped to the width
    assert " ".join(title.split()) == "DM (6.2% of pixels outside [0, 1], clipped)"   # 2 of 32 pixels
    clean = plots.image_grid(x.clamp(0, 1), torch.tensor([0, 0]), ["a"], title="random")
    assert clean._suptitle.get_text() == "random"


def test_a_class_short_of_images_leaves_blank_panels_and_bad_channels_are_one_line():
    fig = plots.image_grid(torch.rand(3, 1, 4, 4), torch.tensor([0, 0, 1]), ["a", "b"], per_class=10)
    assert len(fig.axes) == 4 and len(panels(fig)) == 3                             # the widest row sets the columns
    with pytest.raises(DDLibError, match="1 \\(grey\\) or 3 \\(RGB\\) channels, got \\(2, 2, 4, 4\\)"):
        plots.image_grid(torch.rand(2, 2, 4, 4), torch.tensor([0, 1]), ["a", "b"])


def test_set_grids_draws_one_grid_per_set_of_a_gallery():
    s = gallery.Shown(torch.rand(6, 3, 4, 4), torch.arange(3).repeat_interleave(2), ("a", "b", "c", "d"))
    fig = plots.set_grids(gallery.Gallery({"one": s, "two": s, "three": s}, classes=(0, 1), per_class=2))
    assert len(panels(fig)) == 3 * 2 * 2 and len(fig.subfigs) == 2 * 2               # two to a row
    assert [f._suptitle.get_text() for f in fig.subfigs[:3]] == ["one", "two", "three"]
    with pytest.raises(DDLibError, match="no set to draw: not here"):
        plots.set_grids(gallery.Gallery(note="not here"))
