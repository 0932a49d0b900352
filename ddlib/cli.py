"""``python -m ddlib``: train one student, distil or export a set, audit your own set, run the book's sweeps, plan
and re-check its evidence, check the built site in a browser, or print the book's tables.

User errors (unknown names, impossible IPC, missing data, bad parameters) print one line and exit 2, before any
compute; no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import choices, profiles
from .errors import DDLibError
from .paths import check_roots
from .version import __version__

# Nothing above imports torch: the parser is built without it, and each command imports what it computes with
# [issue 38: help in under a second].

PROFILE_HELP = "the profile whose results/<profile>/ this reads"


def _profile_arg(p):
    """``--profile NAME``: a folder under the results root, confined like a profile's own name [issue 37]."""
    def name(text):
        from .profile import check_name
        try:
            return check_name(text, "--profile")
        except DDLibError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    p.add_argument("--profile", type=name, default="quick", help=PROFILE_HELP)


def _ipc(text: str):
    if text == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"IPC must be a positive integer or 'full', got {text!r}") from None


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each flag's default where it has one (a default of None is the profile's value, which the
    flag's help names), and descriptions and examples as written."""

    def _get_help_string(self, action):
        text, default = action.help or "", action.default
        if "%(default)" in text or not action.option_strings or default is None or default is False or \
                default is argparse.SUPPRESS or default in ([], ""):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors as one line, like ddlib's own (its subparsers inherit this class), and help through
    :class:`_Formatter`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _command(sub, name: str, help: str, *examples: str, description: str | None = None):
    """A subcommand: ``help`` in the command list, ``description`` (default: ``help`` as a sentence) atop its own
    help, and its ``examples`` below it."""
    lines = "\n".join(f"  python -m ddlib {e}" for e in examples)
    return sub.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".",
                          epilog=f"example{'s' if len(examples) > 1 else ''}:\n{lines}" if examples else None)


def _params_arg(p):
    p.add_argument("--params", default="quick", metavar="NAME|YAML",
                   help=f"a profile shipped with ddlib ({', '.join(profiles.NAMES)}) or a YAML file's path; its "
                        f"values are the defaults of every other flag, and the quick one's are the book's, so a run "
                        f"here and the book's run of the same config are one cache entry")


def _progress_args(p):
    """--progress and --quiet; without either, progress shows when standard error is a terminal [issue 38]."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", action="store_true",
                   help="show progress even when standard error is not a terminal (a log file)")
    g.add_argument("--quiet", action="store_true", help="no progress (shown by default on a terminal)")


def _shows_progress(a) -> bool:
    """Whether a command with :func:`_progress_args` shows progress: --progress, else a terminal and no --quiet."""
    return a.progress or (not a.quiet and sys.stderr.isatty())


def _recipe_args(p):
    """The flags that override a profile's recipe (default None: the profile's value)."""
    p.add_argument("--dataset", default=None,
                   help=f"one of {', '.join(choices.DATASETS)}, or folder:PATH[@SIZE] (default: the profile's)")
    p.add_argument("--val-per-class", type=int, default=None,
                   help="validation images carved from each class (default: the profile's)")
    p.add_argument("--teacher-model", default=None,
                   help="the teacher (SL, SL+KD; RDED's observer, SRe2L's) (default: the profile's)")
    p.add_argument("--teacher-epochs", type=float, default=None,
                   help="the teacher's passes over the training split (default: the profile's)")
    p.add_argument("--teacher-floor", type=float, default=None,
                   help="least teacher validation accuracy (default: the profile's)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:<n> or mps (default: the profile's)")


_RECIPE = ("dataset", "val_per_class", "teacher_model", "teacher_epochs", "teacher_floor", "device", "model", "batch",
           "aug", "recorder_model", "recorder_epochs", "recorder_batch")   # flags named as the profile's fields


def _profile(a):
    """The profile of ``--params`` (default: the quick profile) with every recipe flag given applied."""
    from . import profile as prof
    p = prof.load(a.params)
    return p.override(**{f: getattr(a, f) for f in _RECIPE if getattr(a, f, None) is not None})


def _train_parser(sub):
    p = _command(sub, "train", "train one student on a subset under a label regime at a fixed budget",
                 "train --params tiny --ipc 5 --json",
                 "train --ipc 10 --select herding --regime slkd --budget 25600",
                 "train --distill dm --ipc 10 --regime hl --seed 1")
    out = _train_args(p)
    out.add_argument("--save-subset", default=None, metavar="FILE",
                     help="write the subset as JSON: its indices in the dataset's own order, the validation images "
                          "carved out, and what chose them (for DD-Ranking, DeepCore and others)")
    out.add_argument("--no-cache", action="store_true", help="train even if this exact run is cached")
    out.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _train_args(p):
    """The flags of a run, in groups: the training set, its labels and budget, the optimiser, the profile and what
    overrides its recipe; returns the output group, for the command's own flags."""
    source = p.add_argument_group("the training set")
    source.add_argument("--ipc", type=_ipc, default=10, help="images per class, or 'full'")
    source.add_argument("--select", default="random", choices=choices.SELECTORS, metavar="NAME",
                        help=f"the selector that picks the real subset: {', '.join(choices.SELECTORS)}")
    source.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a selector knob (YAML value), e.g. --knob which=easiest; repeatable")
    source.add_argument("--distill", default=None, metavar="METHOD", choices=choices.METHODS,
                        help=f"train on METHOD's distilled set instead of a subset ({', '.join(choices.METHODS)}); "
                             f"the set is cached")
    source.add_argument("--distill-knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a distillation knob (YAML value), over the profile's; repeatable")
    labels = p.add_argument_group("labels and budget")
    labels.add_argument("--regime", default="hl", choices=choices.REGIMES,
                        help="the label regime: hard labels, stored soft labels, or soft labels from the teacher at "
                             "every step (knowledge distillation)")
    labels.add_argument("--budget", type=int, default=None,
                        help="samples seen = steps x batch (default: the profile's first budget)")
    labels.add_argument("--epochs", type=float, default=None,
                        help="the budget as passes over the training set (subset size x EPOCHS samples seen), as DD "
                             "codebases state it; instead of --budget")
    labels.add_argument("--temperature", type=float, default=None,
                        help="KD temperature (default: chosen on the validation split as the book does)")
    labels.add_argument("--label-views", type=int, default=0, help="SL only: k stored labelled views per image")
    labels.add_argument("--seed", type=int, default=0,
                        help="seeds the subset's draw, the student's init, its batches and augmentation")
    optim = p.add_argument_group("optimiser")
    optim.add_argument("--optim", default="auto", choices=choices.OPTIMIZERS,
                       help="the optimiser; auto: the regime's recipe")
    optim.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimiser's recipe)")
    optim.add_argument("--schedule", default=None, choices=choices.SCHEDULES,
                       help="the learning-rate schedule (default: the optimiser's recipe)")
    recipe = p.add_argument_group("profile and recipe")
    _params_arg(recipe)
    _recipe_args(recipe)
    recipe.add_argument("--model", default=None,
                        help="the student, e.g. convnet3-w128-instancenorm, resnet18 (default: the profile's)")
    recipe.add_argument("--batch", type=int, default=None, help="the student's batch size (default: the profile's)")
    recipe.add_argument("--aug", default=None, choices=choices.AUGMENTATIONS,
                        help="the students' augmentation (default: the profile's)")
    recipe.add_argument("--recorder-model", default=None,
                        help="score selectors: the scoring run's model (default: the profile's)")
    recipe.add_argument("--recorder-epochs", type=float, default=None,
                        help="score selectors: the scoring run's epochs (default: the profile's)")
    recipe.add_argument("--recorder-batch", type=int, default=None,
                        help="score selectors: the scoring run's batch size (default: the profile's)")
    out = p.add_argument_group("output")
    _progress_args(out)
    return out


def _yaml_value(text: str, what: str):
    """A flag's YAML value (``3``, ``easiest``, ``[0, 1]``); a one-line DDLibError for text YAML cannot read."""
    from .profile import parse_yaml
    return parse_yaml(text, f"{what} {text[:40]!r}")


def _knobs(pairs) -> tuple:
    """``--knob NAME=VALUE`` arguments as sorted (name, YAML value) pairs."""
    knobs = []
    for k in pairs:
        name, sep, value = k.partition("=")
        if not sep or not name:
            raise DDLibError(f"--knob takes NAME=VALUE, got {k!r}")
        knobs.append((name, _yaml_value(value, f"--knob {name}")))
    return tuple(sorted(knobs))


def _run_builder(a) -> tuple:
    """(the profile, T -> the RunConfig the flags ask for), checked before any compute."""
    from . import data, profile as prof
    p = _profile(a)
    if a.budget is not None and a.epochs is not None:
        raise DDLibError("give the budget as --budget (samples seen) or as --epochs, not both")
    if a.distill and (a.select != "random" or a.knob):
        raise DDLibError(f"--distill {a.distill} trains on its distilled set, --select and --knob choose a real "
                         f"subset: give one or the other")
    budget = p.budgets[0] if a.budget is None else a.budget
    if a.epochs is not None:
        if not 0 < a.epochs < 1e6:
            raise DDLibError(f"--epochs must be a positive number, got {a.epochs!r}")
        splits = data.load(p.dataset, p.val_per_class)
        images = len(splits.y_train) if a.ipc == "full" else a.ipc * splits.num_classes
        budget = max(1, round(a.epochs * images))
    run_fields = dict(ipc=a.ipc, regime=a.regime, optim=a.optim, budget=budget, seed=a.seed,
                      label_views=a.label_views, lr=a.lr, schedule=a.schedule)
    if a.distill:
        p = p.override(distill_knobs={**p.distill_knobs,
                                      a.distill: {**p.distill_knobs.get(a.distill, {}), **dict(_knobs(a.distill_knob))}})
        return p, lambda t: prof.distilled_run(p, a.distill, t, **run_fields)
    own = p.cad_knobs if a.select == "cad" else {}      # the profile's CAD-Prune knobs, as chapter 05 runs it
    return p, lambda t: prof.subset_run(p, a.select, t, knobs={**own, **dict(_knobs(a.knob))}, **run_fields)


def _train(a) -> int:
    from . import profile as prof
    from .config import check_device, check_inputs
    from .records import cached_run
    from .runner import run, subset_record
    from .store import write_json
    p, build = _run_builder(a)
    cfg = check_inputs(build(1.0 if a.temperature is None else a.temperature))
    check_device(cfg.device)
    if a.save_subset:
        _writable_file(a.save_subset, "--save-subset")
        if cfg.source != "subset":
            raise DDLibError("--save-subset: a run on a distilled set has no subset; use `python -m ddlib export`")
    if a.temperature is None and cfg.regime != "hl":     # as the book: T chosen on validation (cached runs)
        cfg = check_inputs(build(prof.tune_temperature(p, min(p.budgets), progress=a.progress)[0]))
    result = run(cfg, progress=a.progress) if a.no_cache else cached_run(cfg, a.progress, p.store)
    if a.save_subset:
        write_json(Path(a.save_subset), subset_record(cfg))
    if a.json:
        print(json.dumps(result, default=str))
    else:
        print(f"{cfg.dataset} ipc={cfg.ipc} select={cfg.select} regime={cfg.regime} budget={cfg.budget} "
              f"({result['steps']} steps, {result['epochs']:.1f} epochs) seed={cfg.seed}: "
              f"val {result['val_acc']:.4f}, test {result['test_acc']:.4f} in {result['wall_s']:.1f}s")
    from . import data
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    teacher = result.get("teacher_test_acc")
    warning = chance_warning(result["test_acc"], splits.num_classes, cfg.model, splits.shape, cfg.regime,
                             cfg.temperature, reference=None if teacher is None else ("its teacher", teacher))
    if warning:
        print(warning, file=sys.stderr)
    return 0


CHANCE_POINTS = 0.03   # [ours, issue 37] "at chance": under 1/classes plus 3 points (or half of 1/classes if less)


def chance_warning(acc: float, classes: int, model: str, shape: tuple, regime: str, temperature: float,
                   what: str = "test accuracy", reference: tuple | None = None) -> str | None:
    """A one-line warning when ``acc`` is at chance and ``reference`` ((what, accuracy): the teacher's, random
    images') is not, naming the likely causes, else None [issue 37: SL on digits with the quick profile's ConvNet-3
    ended at 10% while its teacher had 91%, and nothing said so]. Said by the CLI, outside the runs' code."""
    from . import models
    chance = 1 / classes
    line = chance + min(CHANCE_POINTS, chance / 2)
    if acc >= line or (reference is not None and reference[1] < line):
        return None
    causes = []
    spec = models.ModelSpec.parse(model)
    if spec.arch == "convnet" and models.build(spec, shape, classes).embed_dim == spec.width:
        causes.append(f"the model is too deep for the image size ({model} pools {shape[1]}x{shape[2]} images to "
                      f"1x1; a shallower one, e.g. --model convnet2-w32-instancenorm as in the tiny profile)")
    if regime != "hl":
        causes.append(f"the KD temperature ({temperature:g})")
    causes.append("the recipe (--lr, --optim, --budget)")
    than = f"; {reference[0]}: {reference[1]:.1%}" if reference is not None else ""
    return (f"warning: {what} {acc:.1%} is at chance ({classes} classes: {chance:.1%}{than}); likely causes: "
            f"{'; '.join(causes)}")


def _writable_file(path: str, flag: str) -> Path:
    out = Path(path)
    if out.is_dir() or not out.parent.is_dir():
        raise DDLibError(f"{flag} {out}: {'a folder' if out.is_dir() else 'its folder does not exist'}; give a file "
                         f"path in an existing folder")
    return out


EXPORT_FORMATS = ("npy", "imagefolder")


def class_folder(index: int, classes: int) -> str:
    """A class's folder name in an ImageFolder export: its index, zero-padded so that the folders sort in ddlib's
    class order (torchvision's ImageFolder numbers them so) and a ddlib audit reads it as that index; the names are
    in export.json (a class name such as 'T-shirt/top' is no folder name)."""
    return f"{index:0{len(str(classes - 1))}d}"


def _export_parser(sub):
    p = _command(sub, "export", "write a run's training images (a subset or a distilled set) as arrays or a folder",
                 "export --params tiny --ipc 5 --select herding --out herding-ipc5",
                 "export --ipc 10 --distill dm --format imagefolder --out dm-ipc10",
                 description="Write the images a run would train on, as another codebase loads them: "
                             "DIR/images.npy (float32 [N, C, H, W], in [0, 1], or standardised with the "
                             "training split's channel statistics with --normalized) and DIR/labels.npy (int64); "
                             "or, with --format imagefolder, one folder of 8-bit PNGs per class, named by its "
                             "zero-padded index (torchvision's ImageFolder and `ddlib audit` read it). Either way "
                             "DIR/export.json says what they are (for a subset, its indices in the dataset's own "
                             "order and the validation images carved out). Takes train's flags.")
    out = _train_args(p)
    out.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    out.add_argument("--format", default="npy", choices=EXPORT_FORMATS,
                     help="npy: two arrays; imagefolder: a PNG per image in a folder per class (a float set's "
                          "pixels rounded to 8 bits, said in export.json)")
    out.add_argument("--normalized", action="store_true",
                     help="npy only: standardise as ddlib's students see the images")


def _export(a) -> int:
    import numpy as np
    import torch
    from . import data
    from .config import check_device, check_inputs
    from .runner import subset_record
    from .store import atomic_write, write_json
    out = Path(a.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DDLibError(f"--out {out}: not an empty folder")
    if a.normalized and a.format != "npy":
        raise DDLibError("--normalized: PNG files hold 8-bit pixels; give --format npy for standardised images")
    _, build = _run_builder(a)
    cfg = check_inputs(build(1.0))
    check_device(cfg.device)
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    if cfg.source == "subset":
        record = subset_record(cfg)
        raw = data.load_raw(cfg.dataset)
        images, labels = raw.x_train[record["indices"]], raw.y_train[record["indices"]]
    else:
        s = cfg.synset(progress=a.progress)
        images, labels = s.images, s.labels.long()
        record = dict(dataset=cfg.dataset, method=s.meta.get("method"), key=s.meta.get("key"), ipc=cfg.ipc)
    x = data.normalize(images, splits) if a.normalized else (images.float() / 255 if not images.is_floating_point()
                                                            else images.float())
    out.mkdir(parents=True, exist_ok=True)
    if a.format == "imagefolder":
        from torchvision.io import encode_png
        pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        files = []
        for i, (img, c) in enumerate(zip(pixels, labels.tolist())):
            files.append(f"{class_folder(c, splits.num_classes)}/{i:05d}.png")
            atomic_write(out / files[-1], lambda f, img=img: Path(f).write_bytes(encode_png(img).numpy().tobytes()))
        quantised = bool(images.is_floating_point())
        write_json(out / "export.json", dict(record, format="imagefolder", files=files, classes=list(splits.classes),
                                             rounded_to_8_bits=quantised))
        print(f"wrote {len(labels)} images {tuple(x.shape[1:])} as PNGs in {len(set(labels.tolist()))} class "
              f"folders under {out} (+ export.json){'; float pixels rounded to 8 bits' if quantised else ''}")
        return 0
    for name, arr in (("images.npy", x.numpy()), ("labels.npy", labels.numpy())):
        atomic_write(out / name, lambda f, arr=arr: np.save(open(f, "wb"), arr))
    write_json(out / "export.json", dict(record, format="npy", files=["images.npy", "labels.npy"],
                                         classes=list(splits.classes), normalized=bool(a.normalized),
                                         mean=list(splits.mean), std=list(splits.std)))
    print(f"wrote {len(labels)} images {tuple(x.shape[1:])} to {out / 'images.npy'} (+ labels.npy, export.json)")
    return 0


def _distill_parser(sub):
    methods = ", ".join(choices.METHODS)
    p = _command(sub, "distill", f"distil a synthetic set ({methods}) and save it (safetensors + JSON)",
                 "distill --method dm --params tiny --ipc 1 --out dm.safetensors",
                 description=f"Distil a synthetic set with one of: {methods}. Writes FILE (safetensors: "
                             f"images in [0, 1], labels) and FILE.json (provenance and compute).")
    p.add_argument("--method", required=True, choices=choices.METHODS, help="the distillation method")
    p.add_argument("--ipc", type=int, required=True, help="images per class")
    p.add_argument("--seed", type=int, default=None, help="the set's seed (default: the profile's distill_seed)")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="a method knob (YAML value) over the profile's, e.g. --knob iterations=500; repeatable; a "
                        "wrong name lists them")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the set (.safetensors)")
    recipe = p.add_argument_group("profile and recipe")
    _params_arg(recipe)
    _recipe_args(recipe)
    _progress_args(p.add_argument_group("output"))


def _distill(a) -> int:
    from . import profile as prof
    from .config import RunConfig, check_device, check_inputs
    from .synset import save
    out = Path(a.out)
    if out.is_dir() or not out.parent.is_dir():
        raise DDLibError(f"--out {out}: {'a folder' if out.is_dir() else 'its folder does not exist'}; give a file "
                         f"path in an existing folder")
    p = _profile(a)
    knobs = {**prof.distill_knobs(p, a.method, a.ipc), **dict(_knobs(a.knob))}
    seed = a.seed if a.seed is not None else p.distill_seed if p.distill_seed is not None else 0
    cfg = check_inputs(RunConfig(**prof.base(p), ipc=a.ipc, budget=p.budgets[0], seed=seed, distill=a.method,
                                 distill_knobs=tuple(knobs.items())))   # names, knobs, IPC, device: no compute yet
    check_device(cfg.device)
    s = cfg.synset(progress=a.progress)
    save(a.out, s)
    print(f"{a.method} {cfg.dataset} ipc={a.ipc} seed={seed}: {len(s)} images {tuple(s.images.shape[1:])} "
          f"in {s.meta['compute']['wall_s']:.1f}s -> {a.out} (+ .json)")
    return 0


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _audit_parser(sub):
    p = _command(
        sub, "audit", "audit a distilled set: HL, SL and SL+KD against random and herding at one budget",
        "audit dm.safetensors --params tiny --seeds 2",
        "audit rded.safetensors --dataset fashion_mnist --ipc 10 --out audit-rded",
        description="Train on a distilled set (safetensors, npz or an image folder: one subfolder per class, named "
                    "by class name or index, of PNG/JPEG files) under HL, SL (its stored soft labels if it has "
                    "them) and SL+KD at one compute budget, next to random real subsets and the herding coreset "
                    "of the same IPC, over several seeds. Writes DIR/results.csv, DIR/audit.json and "
                    "DIR/report.html. Every input is checked before any compute; a refused one writes nothing.")
    p.add_argument("file", metavar="FILE", help="the set: .safetensors, .npz (no pickle) or an image folder")
    p.add_argument("--dataset", default=None,
                   help=f"one of {', '.join(choices.DATASETS)}, or folder:PATH[@SIZE] (default: the one the file "
                        f"names, else the profile's)")
    p.add_argument("--ipc", type=_positive_int, default=None,
                   help="the claimed images per class (default: the file's, else its class counts if all equal)")
    p.add_argument("--budget", type=_positive_int, default=None,
                   help="samples seen per run (default: the profile's first budget, 12800 on the quick profile)")
    p.add_argument("--seeds", type=_positive_int, default=None,
                   help="how many seeds (default: the profile's number of seeds)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the profile's)")
    _params_arg(p)
    p.add_argument("--temperature", type=float, default=None,
                   help="KD temperature (default: chosen on the validation split from the profile's list)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where to write (default: <results>/audit/<file name>-<sha256 prefix>)")
    p.add_argument("--no-report", action="store_true", help="write results.csv and audit.json only")
    _progress_args(p)


def _audit(a) -> int:
    from . import audit
    pl = audit.plan(a.file, dataset=a.dataset, ipc=a.ipc, budget=a.budget, seeds=a.seeds, device=a.device,
                    params=a.params, temperature=a.temperature)
    out = Path(a.out) if a.out else audit.default_out(pl)
    if out.exists() and not out.is_dir():
        raise DDLibError(f"--out {out} is a file, not a folder")
    summary = audit.run(pl, out, progress=a.progress, command="python -m ddlib " + " ".join(a.argv))
    print(f"audit of {pl.path.name} ({pl.dataset}, IPC {pl.ipc}, budget {pl.budget:,}, "
          f"{len(pl.seeds)} seeds, {summary['provenance']['wall_s']:.0f}s): {summary['sentence']}")
    print(f"wrote {out / 'results.csv'} and {out / 'audit.json'}")
    from . import data, regimes
    splits = data.load(pl.dataset, pl.p.val_per_class)
    for arm, r in summary["regimes"].items():
        warning = chance_warning(r[audit.SET]["mean"], splits.num_classes, pl.p.model, splits.shape,
                                 regimes.ARMS[arm][0], summary["temperature"], f"the set's test accuracy under {arm}",
                                 ("random real images", r["random"]["mean"]))
        if warning:
            print(warning, file=sys.stderr)
    if a.no_report:
        return 0
    if audit.missing_report_tools():
        print(audit.render_hint(out))
        return 0
    return _render(out)


def _render(out) -> int:
    from . import audit
    try:
        path = audit.render(out)
    except DDLibError:
        raise
    except Exception as e:   # the kernel died, a cell failed: the results stay; say how to retry
        msg = (str(e).strip().splitlines() or [type(e).__name__])[-1]
        print(f"error: the report was not rendered ({type(e).__name__}: {msg}); results.csv and audit.json are "
              f"written; retry with python -m ddlib audit-report {out}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _audit_report_parser(sub):
    p = _command(sub, "audit-report", "render an audit folder's report.html (needs papermill and nbconvert)",
                 "audit-report audit-rded")
    p.add_argument("dir", metavar="DIR", help="a folder written by `python -m ddlib audit`")


def _audit_report(a) -> int:
    return _render(a.dir)


def _sweep_parser(sub):
    p = _command(sub, "sweep", "run a chapter's sweep and write its results (e.g. on a GPU machine)",
                 "sweep saturation --params tiny", "sweep label_regimes --params paper -p seeds '[0, 1, 2]'")
    p.add_argument("finding", choices=choices.FINDINGS, help="the chapter whose sweep runs")
    _params_arg(p)
    p.add_argument("-p", dest="overrides", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override one parameter (YAML value), like papermill's -p")
    _progress_args(p)


def _sweep(a) -> int:
    from .findings import FINDINGS, main
    from .plan import announce
    from .profile import read_yaml
    params = read_yaml(a.params)
    params.update({k: _yaml_value(v, f"-p {k}") for k, v in a.overrides})
    summary = main(FINDINGS[a.finding], params, progress=a.progress, announce=announce)
    print(json.dumps({k: summary[k] for k in ("chapter", "status", "sentence")}))
    return 0


def _evidence_parser(sub):
    p = _command(sub, "evidence", "fill a profile's results store: every chapter's runs (resumes where it stopped; "
                                  "records of other code are removed)",
                 "evidence --params tiny", "evidence --params paper --chapters saturation,pitfalls")
    _params_arg(p)
    p.add_argument("--chapters", default=None, metavar="NAME[,NAME...]",
                   help=f"only these parts, comma-separated, run in make evidence's order: "
                        f"{', '.join(choices.EVIDENCE)} (default: all)")
    _progress_args(p)


def _evidence(a) -> int:
    from .findings import evidence
    from .plan import announce
    from .profile import read_yaml
    chapters = None if a.chapters is None else [c.strip() for c in a.chapters.split(",") if c.strip()]
    for summary in evidence(read_yaml(a.params), chapters, progress=a.progress, origin=a.params, announce=announce):
        print(json.dumps({k: summary[k] for k in ("chapter", "status", "sentence")}), flush=True)
    return 0


def _plan_parser(sub):
    p = _command(sub, "plan", "what a profile's make evidence costs before it runs: runs, samples seen, teacher "
                              "forwards and FLOPs per chapter, what the store and cache already hold (Markdown or "
                              "JSON; nothing is trained)",
                 "plan --params paper", "plan --params tiny --json")
    _params_arg(p)
    p.add_argument("--json", action="store_true", help="print the plan's tables as one JSON object")


def _plan(a) -> int:
    from . import plan
    from .profile import load
    p = load(a.params).check()
    print(json.dumps(plan.as_json(p)) if a.json else plan.markdown(p))
    return 0


def _recheck_parser(sub):
    p = _command(sub, "recheck", "re-run a random sample of a profile's stored runs from scratch and compare (make "
                                 "book's spot check; exit 2 naming any run that does not match)",
                 "recheck --profile quick --seed 0")
    _profile_arg(p)
    p.add_argument("--chapters", type=_positive_int, default=3, help="chapters to sample one run from (>= 3)")
    p.add_argument("--seed", type=int, default=None, help="the sample's seed (default: drawn from the clock)")
    p.add_argument("--force", action="append", default=[], metavar="KEY", help="a run key that must be re-checked")
    p.add_argument("--cached-inputs", action="store_true",
                   help="read the runs' teacher, scoring runs and sets from the cache instead of making them again")


def _recheck(a) -> int:
    from .reproducibility import check
    r = check(a.profile, a.chapters, a.seed, tuple(a.force), fresh_inputs=not a.cached_inputs)
    for row in r["rows"]:
        print(f"ok {row['key']} ({row['chapter']}: {row['run']}): test {row['stored_test_acc']:.4f} stored, "
              f"{row['recomputed_test_acc']:.4f} recomputed")
    return 0


def _reproducibility(a) -> int:
    from .reproducibility import markdown
    print(markdown(a.profile))
    return 0


def _provenance_parser(sub):
    _command(sub, "provenance-table", "print the book's provenance table of every protocol choice (Markdown)",
             "provenance-table")


def _provenance(a) -> int:
    from .provenance import markdown_table
    print(markdown_table())
    return 0


def _artefacts_parsers(sub):
    """The inputs a profile's stored runs read, kept beside its store (``ddlib.artefacts``)."""
    _profile_arg(_command(sub, "keep-artefacts", "copy the teachers, scoring runs and sets the profile's stored "
                                                 "runs read from the cache into results/<profile>/artefacts/ (make "
                                                 "evidence)", "keep-artefacts --profile quick"))
    _profile_arg(_command(sub, "restore-artefacts", "copy a profile's kept artefacts into the cache where it lacks "
                                                    "them, each checked against its checksums (make book)",
                          "restore-artefacts --profile quick"))


def _keep_artefacts(a) -> int:
    from .artefacts import keep
    from .paths import results_dir
    kept = keep(a.profile, results_dir() / a.profile / "runs")
    print(f"kept {len(kept)} artefacts: " + (", ".join(f"{k}/{n}" for k, n in kept) or "none new"))
    return 0


def _restore_artefacts(a) -> int:
    from .artefacts import restore
    print(f"restored {len(restore(a.profile))} artefacts into the cache")
    return 0


def _check_site_parser(sub):
    from .sitecheck import WIDTH
    p = _command(sub, "check-site", f"open every page of a built site in headless Chromium at {WIDTH} px and report "
                                    "overflow, cut-off tables, broken images and uncaptioned figures (exit 1 naming "
                                    "each)", "check-site _build/html")
    p.add_argument("site", nargs="?", default=None, metavar="DIR",
                   help="the built site (default: _build/html of this checkout, as make book writes it)")


def _check_site(a) -> int:
    from .paths import repo_root
    from .sitecheck import WIDTH, check_site
    checked, problems = check_site(Path(a.site) if a.site else repo_root() / "_build" / "html")
    for problem in problems:
        print(problem)
    pages = len({p.page for p in problems})
    print(f"{checked} pages checked at {WIDTH} px: " + (f"{len(problems)} problems on {pages} pages" if problems
                                                         else "no problems"), file=sys.stderr)
    return 1 if problems else 0


PROFILE_TABLES = {"findings-table": "print the 'findings at a glance' table from the chapters' results",
                  "reproducibility-table": "print this build's spot check, stored against recomputed"}


def _profile_table_parsers(sub):
    """The Markdown tables the book reads for one profile (``--profile``)."""
    for name, text in PROFILE_TABLES.items():
        _profile_arg(_command(sub, name, text, f"{name} --profile quick"))


def _findings(a) -> int:
    from .report import findings_markdown
    print(findings_markdown(a.profile))
    return 0


def _findings_figure_parser(sub):
    """[issue 36] The landing page's forest plot of the chapters' deciding numbers."""
    f = _command(sub, "findings-figure", "draw the 'findings at a glance' forest plot of the chapters' results",
                 "findings-figure --profile quick --out findings.svg")
    f.add_argument("--profile", default="quick", help=PROFILE_HELP)
    f.add_argument("--out", required=True, help="the figure file to write: .svg, .png or .pdf")


def _findings_figure(a) -> int:
    from .report import findings_figure
    print(findings_figure(a.profile, a.out))
    return 0


COMMANDS = {"train": _train, "export": _export, "distill": _distill, "audit": _audit, "audit-report": _audit_report, "sweep": _sweep,
            "evidence": _evidence, "plan": _plan, "recheck": _recheck, "reproducibility-table": _reproducibility,
            "provenance-table": _provenance, "findings-table": _findings, "keep-artefacts": _keep_artefacts,
            "restore-artefacts": _restore_artefacts, "findings-figure": _findings_figure,
            "check-site": _check_site}


READ_ONLY = ("plan", "provenance-table", "findings-table", "reproducibility-table")   # write to neither root


PARSERS = (_train_parser, _export_parser, _distill_parser, _audit_parser, _audit_report_parser, _sweep_parser,
           _evidence_parser, _plan_parser, _recheck_parser, _provenance_parser, _profile_table_parsers,
           _findings_figure_parser, _artefacts_parsers, _check_site_parser)   # each adds its command(s)


def build_parser() -> _Parser:
    """The whole command line, built without importing torch (``python -m ddlib --help``)."""
    about = __doc__.split("\n\n")[0].replace("\n", " ").replace("``", "")
    parser = _Parser(prog="python -m ddlib", description=about,
                     epilog="python -m ddlib COMMAND --help: a command's flags, their defaults and an example")
    parser.add_argument("--version", action="version", version=f"ddlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in PARSERS:
        add(sub)
    return parser


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if "quiet" in a:
        a.progress = _shows_progress(a)
    try:
        if a.command not in READ_ONLY:
            check_roots()
        return COMMANDS[a.command](a)
    except DDLibError as e:   # one line, whatever text of the user's the message quotes
        print("error: " + " ".join(str(e).split("\n")), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are cached; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:   # the reader stopped early (`plan | head`): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
