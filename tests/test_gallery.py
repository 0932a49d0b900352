"""The sets shown [issue 36]: ``plots.image_grid`` draws a panel per image, grey or RGB, clipping for display only;
chapters 03 and 05 read the images their runs train on from the cache (``ddlib.gallery``), and say in one line,
without making anything, when a set or a scoring run is not there."""
import shutil

import matplotlib
import pytest
import torch

from ddlib import data, distill, gallery, plots, runner, scores, teacher as teachers
from ddlib.errors import DDLibError
from ddlib.findings import cad_prune, hard_labels
from ddlib.profile import Profile
from ddlib.sweeps import sweep

from conftest import REPO, clear_ddlib_caches

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
    fig = plots.image_grid(torch.rand(3, 1, 4, 4), torch.tensor([0, 0, 1]), ["a", "b"], per_class=10, columns=5)
    assert len(fig.axes) == 10 and len(panels(fig)) == 3                            # lined up with a wider grid
    with pytest.raises(DDLibError, match="1 \\(grey\\) or 3 \\(RGB\\) channels, got \\(2, 2, 4, 4\\)"):
        plots.image_grid(torch.rand(2, 2, 4, 4), torch.tensor([0, 1]), ["a", "b"])


def test_set_grids_draws_one_grid_per_set_of_a_gallery():
    s = gallery.Shown(torch.rand(6, 3, 4, 4), torch.arange(3).repeat_interleave(2), ("a", "b", "c", "d"))
    fig = plots.set_grids(gallery.Gallery({"one": s, "two": s, "three": s}, classes=(0, 1), per_class=2))
    assert len(panels(fig)) == 3 * 2 * 2 and len(fig.subfigs) == 2 * 2               # two to a row
    assert [f._suptitle.get_text() for f in fig.subfigs[:3]] == ["one", "two", "three"]
    with pytest.raises(DDLibError, match="no set to draw: not here"):
        plots.set_grids(gallery.Gallery(note="not here"))


# --- the chapters' sets, read from the cache ------------------------------------------------------------------

PROFILE = dict(profile="grids", seeds=[0], budgets=[160], selectors=["random", "herding", "ccs"],
               methods=["dm", "rded"], dd_arms=["HL"], cad_budgets=[160, 320], cad_grid=[{"which": "hardest"}])
CHOSEN = {(160, 2): {"which": "hardest"}, (320, 2): {"which": "easiest"}}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The tiny profile's runs the grids show, trained once into a cache and store of their own."""
    root = tmp_path_factory.mktemp("grids")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DDLIB_CACHE", str(root / "cache"))
        mp.setenv("DDLIB_RESULTS", str(root / "results"))
        clear_ddlib_caches()
        p = Profile.load("tiny").override(**PROFILE)
        shown = {**hard_labels.shown_configs(p, 1.0), **cad_prune.kept_configs(p, CHOSEN)}
        sweep(list(shown.values()), progress=False, store=p.store)
        yield dict(root=root, p=p)
    clear_ddlib_caches()


def trains_on(cfg, shown):
    """``shown`` is exactly what ``cfg``'s student trains on: the same images, normalised, and labels."""
    x, y, *_ = runner.training_inputs(cfg)
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    return torch.allclose(data.normalize(shown.images, splits), x) and torch.equal(shown.labels, y)


def test_chapter_03_shows_each_selector_and_methods_images_as_its_runs_train_on_them(made):
    p = made["p"]
    g = hard_labels.set_images(p, 1.0)
    assert not g.note and list(g.sets) == ["random", "herding", "ccs", "DM", "RDED"]
    configs = hard_labels.shown_configs(p, 1.0)
    assert {c.key() for c in configs.values()} <= {c.key() for c in hard_labels.main_configs(p, 1.0)}
    for title, cfg in configs.items():
        assert (cfg.ipc, cfg.regime, cfg.seed) == (2, "hl", 0)                        # tiny runs no IPC 10
        assert trains_on(cfg, g.sets[title]), title
    assert g.sets["DM"].images.shape == (20, 1, 8, 8) and g.sets["DM"].class_names == tuple(map(str, range(10)))


def test_chapter_05_shows_the_images_cad_prune_keeps_at_each_budget(made):
    p = made["p"]
    g = cad_prune.kept_images(p, CHOSEN)
    assert not g.note and list(g.sets) == ["budget 160 (which=hardest)", "budget 320 (which=easiest)"]
    for title, cfg in cad_prune.kept_configs(p, CHOSEN).items():
        assert cfg.select == "cad" and trains_on(cfg, g.sets[title]), title


@pytest.fixture
def refuse_to_make(monkeypatch):
    """Distilling, training a teacher or making a scoring run fails the test."""
    def refuse(*a, **k):
        raise AssertionError("made an input")
    for module, name in ((distill, "distill"), (teachers, "_train"), (scores, "record_dynamics_on")):
        monkeypatch.setattr(module, name, refuse)


def copy_cache_without(made, monkeypatch, tmp_path, *folders):
    """A copy of the module's cache without ``folders`` (kind/key), in use for the test."""
    cache = tmp_path / "cache"
    shutil.copytree(made["root"] / "cache", cache)
    for f in folders:
        shutil.rmtree(cache / f)
    monkeypatch.setenv("DDLIB_CACHE", str(cache))
    clear_ddlib_caches()
    return cache


def test_a_set_not_in_the_cache_is_a_one_line_note_and_nothing_is_made(made, monkeypatch, tmp_path, refuse_to_make):
    p = made["p"]
    dm = hard_labels.shown_configs(p, 1.0)["DM"]
    key = dm.key_fields()["synset"]
    copy_cache_without(made, monkeypatch, tmp_path, f"synsets/{key}")
    g = hard_labels.set_images(p, 1.0)
    assert not g.sets and "\n" not in g.note
    assert g.note.startswith(f"*Not drawn: DM's set {key} is not in the cache (a fresh `make book` restores")
    clear_ddlib_caches()


def test_a_scoring_run_or_teacher_not_in_the_cache_is_a_one_line_note(made, monkeypatch, tmp_path, refuse_to_make):
    p = made["p"]
    cad = cad_prune.kept_configs(p, CHOSEN)["budget 320 (which=easiest)"]
    (kind, key), = gallery.reads(cad, p.store)
    teacher = gallery.reads(hard_labels.shown_configs(p, 1.0)["herding"])[0]
    copy_cache_without(made, monkeypatch, tmp_path, f"{kind}/{key}", "/".join(teacher))
    g = cad_prune.kept_images(p, CHOSEN)
    assert not g.sets and g.note.startswith(f"*Not drawn: budget 320 (which=easiest)'s scoring run {key} is not in")
    assert hard_labels.set_images(p, 1.0).note.startswith(f"*Not drawn: herding's teacher {teacher[1]} is not in")
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path / "no-results"))               # no record names its run
    assert "(which names its scoring run) is not in the store" in cad_prune.kept_images(p, CHOSEN).note
    clear_ddlib_caches()
