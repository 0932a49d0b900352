"""Batched, seeded augmentation: shapes, determinism, and each family against its definition."""
import pytest
import torch

from ddlib import augment
from ddlib.errors import DDLibError

ALL = {**augment.FAMILY_OPS, "dsa": augment.dsa, "crop_flip": augment.crop_flip}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def batch(b=16, c=3, h=12, w=12, seed=0, dtype=torch.float32):
    return torch.rand(b, c, h, w, generator=gen(seed)).to(dtype) + 0.5     # strictly positive pixels


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_family_keeps_shape_and_dtype(name):
    for shape in [(16, 3, 12, 12), (5, 1, 8, 8), (4, 1, 28, 28), (3, 3, 32, 32)]:
        x = batch(*shape)
        out = ALL[name](x, gen(0))
        assert out.shape == x.shape and out.dtype == torch.float32
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_family_keeps_a_double_batch_double(name):
    # the module takes "a float batch"; the geometric families build their affine matrices in float32
    x = batch(4, 3, 12, 12, dtype=torch.float64)
    out = ALL[name](x, gen(0))
    assert out.shape == x.shape and out.dtype == torch.float64


@pytest.mark.parametrize("name", sorted(ALL))
def test_same_seed_same_output_other_seed_other_output(name):
    x = batch(b=32)
    a, b = ALL[name](x, gen(7)), ALL[name](x, gen(7))
    assert torch.equal(a, b)
    # some seed among a few changes the output (dsa may draw the same family, flip may keep every image)
    assert any(not torch.equal(a, ALL[name](x, gen(s))) for s in range(8, 12))
    assert torch.equal(x, batch(b=32))                # no in-place change of the input


def test_translate_moves_a_pixel_by_an_integer_shift_within_range():
    b, side = 400, 16
    x = torch.zeros(b, 2, side, side)
    x[:, :, 8, 8] = 1.0
    out = augment.translate(x, gen(0))
    reach = round(side * augment.DSA["crop"])           # 2 pixels
    shifts = set()
    for i in range(b):
        pos = torch.nonzero(out[i, 0] == 1.0)
        assert len(pos) == 1                              # one bright pixel, moved whole (integer shift)
        assert out[i, 0].sum() == 1.0                     # zero fill elsewhere, no interpolation
        assert torch.equal(out[i, 0], out[i, 1])          # the same shift for every channel
        dy, dx = int(pos[0, 0]) - 8, int(pos[0, 1]) - 8
        assert abs(dy) <= reach and abs(dx) <= reach
        shifts.add((dy, dx))
    assert shifts == {(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)}


def test_translate_fills_with_zeros_at_the_border():
    x = torch.ones(200, 1, 8, 8)
    out = augment.translate(x, gen(1))
    for o in out[:, 0]:
        rows, cols = (o == 1).any(1), (o == 1).any(0)
        # a shifted all-ones image is a block of ones of (8-|dy|) x (8-|dx|); the rest is zero
        assert o.sum() == rows.sum() * cols.sum()
        assert rows.sum() >= 7 and cols.sum() >= 7


def test_flip_gives_the_input_or_its_mirror_per_sample():
    x = batch(b=64)
    out = augment.flip(x, gen(0))
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, x)]
    assert all(k or m for k, m in zip(kept, mirrored))
    assert any(kept) and any(mirrored)


@pytest.mark.parametrize("side", [8, 28, 32])
def test_cutout_zeroes_a_square_of_half_the_side(side):
    b = 300
    x = torch.ones(b, 2, side, side)
    out = augment.cutout(x, gen(0))
    size = int(side * augment.DSA["cutout"] + 0.5)
    full = 0
    for o in out:
        assert torch.equal(o[0], o[1])                       # same square in every channel
        zero = o[0] == 0
        assert ((o[0] == 0) | (o[0] == 1)).all()             # untouched outside the square
        rows, cols = torch.nonzero(zero.any(1)).flatten(), torch.nonzero(zero.any(0)).flatten()
        if len(rows) == 0:
            continue
        # the zeros form one axis-aligned rectangle (the square, clipped at the border) ...
        assert zero.sum() == len(rows) * len(cols)
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)
        # ... never larger than the cutout size, and exactly that size when it lies inside the image
        assert len(rows) <= size and len(cols) <= size, f"cut {len(rows)}x{len(cols)}, expected {size}x{size}"
        full += (len(rows) == size and len(cols) == size)
    assert full > 0


def _replayed_dsa(x, seed):
    """dsa by hand: draw the family index from the generator, then apply that family with the same generator."""
    g = gen(seed)
    k = int(torch.randint(len(augment.DSA_FAMILIES), (1,), generator=g))
    family = augment.DSA_FAMILIES[k]
    return family, augment.FAMILY_OPS[family](x, g)


def test_dsa_applies_exactly_one_family_per_batch():
    x = batch(b=16)
    chosen = set()
    for seed in range(40):
        out = augment.dsa(x, gen(seed))
        family, expected = _replayed_dsa(x, seed)
        assert torch.equal(out, expected), family
        chosen.add(family)
        # and it is not a composition: the other families' outputs from the same generator state differ
        matches = []
        for other in augment.DSA_FAMILIES:
            g = gen(seed)
            torch.randint(len(augment.DSA_FAMILIES), (1,), generator=g)
            if torch.equal(augment.FAMILY_OPS[other](x, g), out):
                matches.append(other)
        assert matches == [family]
    assert chosen == set(augment.DSA_FAMILIES)        # every family is reachable


def test_dsa_uses_one_family_for_the_whole_batch():
    # flip a batch of one asymmetric image: if the batch got the flip family, each sample is the image or its
    # mirror; if it got cutout, every sample has zeros; never a mix of families across samples.
    img = torch.arange(1, 65, dtype=torch.float32).view(1, 1, 8, 8)
    x = img.repeat(32, 1, 1, 1)
    for seed in range(30):
        family, _ = _replayed_dsa(x, seed)
        out = augment.dsa(x, gen(seed))
        is_flip = [torch.equal(o, img[0]) or torch.equal(o, img[0].flip(2)) for o in out]
        has_zero = [(o == 0).any().item() for o in out]
        if family == "flip":
            assert all(is_flip)
        elif family == "cutout":
            assert all(has_zero) and not any(torch.equal(o, img[0].flip(2)) for o in out)


def test_color_changes_brightness_and_contrast_per_sample():
    x = batch(b=8, c=1)
    out = augment.color(x, gen(0))
    shifts = (out - x).mean(dim=(1, 2, 3))
    assert len(set(round(v, 6) for v in shifts.tolist())) == 8   # per-sample parameters


def test_named_augmentations():
    x = batch()
    assert augment.get("none")(x, gen(0)) is x
    g1, g2 = gen(3), gen(3)
    assert torch.equal(augment.get("crop_flip")(x, g1), augment.flip(augment.translate(x, g2), g2))
    with pytest.raises(DDLibError, match="unknown augmentation 'mixup'; valid: none, crop_flip, dsa"):
        augment.get("mixup")


def test_random_resized_crop_is_seeded_differentiable_and_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, 8, 8, generator=g)

    def crop(seed, **kw):
        return augment.random_resized_crop(x, torch.Generator().manual_seed(seed), flip=True, **kw)
    out = crop(3)
    assert out.shape == x.shape and torch.equal(out, crop(3)) and not torch.equal(out, crop(4))
    # the whole image at aspect ratio 1: each output is the image or its mirror, both occur
    whole = crop(5, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    same = torch.isclose(whole, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(whole, x.flip(3), atol=1e-5).flatten(1).all(1)
    assert bool((same | mirrored).all()) and same.any() and mirrored.any()
    # without flip, the whole square crop is the image; a quarter-area crop resized to 4 px holds part of it
    assert torch.allclose(augment.random_resized_crop(x, g, scale=(1.0, 1.0), ratio=(1.0, 1.0)), x, atol=1e-5)
    ramp = torch.arange(64.0).view(1, 1, 8, 8).repeat(3, 1, 1, 1)
    small = augment.random_resized_crop(ramp, g, scale=(0.25, 0.25), ratio=(1.0, 1.0), size=(4, 4))
    assert small.shape == (3, 1, 4, 4) and ((small.amax((1, 2, 3)) - small.amin((1, 2, 3))) < 40).all()
    # gradients reach the pixels (SRe2L optimises through it)
    xr = x.clone().requires_grad_(True)
    augment.random_resized_crop(xr, g, flip=True).sum().backward()
    assert xr.grad is not None and xr.grad.abs().sum() > 0


def test_siamese_dsa_applies_one_transform_to_the_real_and_the_synthetic_batch():
    """DSA's siamese mode in the matchers [issue 13]: one family and one parameter draw per call, shared by every
    image of both batches, whatever their sizes; student training keeps per-sample draws."""
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    real, syn = x.repeat(12, 1, 1, 1), x.repeat(3, 1, 1, 1)
    families = set()
    for seed in range(40):
        g = gen(seed)
        family = augment.DSA_FAMILIES[int(torch.randint(len(augment.DSA_FAMILIES), (1,), generator=gen(seed)))]
        a, b = augment.siamese_dsa([real, syn], g)
        assert torch.equal(a[:3], b) and torch.equal(a, a[:1].expand_as(a))   # same transform, every image
        families.add(family)
        if family != "flip":
            assert not torch.equal(a[0], x[0])                                 # it did transform
    assert families == set(augment.DSA_FAMILIES)
    per_sample = augment.dsa(real, gen(2))                                      # rotate, scale, ... per image
    assert not torch.equal(per_sample, per_sample[:1].expand_as(per_sample))
