"""``python -m ddlib train``: one JSON object per run, and user errors as one line with exit code 2. Without
``--params`` every default is the quick profile's; with it, the profile's (the tiny profile here)."""
import argparse
import io
import json
import math
import shlex
import subprocess
import sys
import textwrap

import pytest

from ddlib import choices, cli, profile as prof, profiles
from ddlib.errors import DDLibError
from ddlib.version import __version__

from conftest import PYTHON, REPO, subprocess_env

TRAIN = ["train", "--dataset", "digits", "--ipc", "5", "--select", "random", "--regime", "hl", "--budget", "640",
         "--seed", "0", "--batch", "32", "--model", "convnet3-w16-instancenorm", "--val-per-class", "20",
         "--device", "cpu"]
TEACHER = ["--teacher-model", "convnet3-w16-instancenorm", "--teacher-epochs", "5", "--teacher-floor", "0"]
FIELDS = {"dataset", "ipc", "select", "regime", "budget", "steps", "seed", "model", "val_acc", "test_acc", "wall_s",
          "device", "samples_seen", "epochs"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return subprocess_env(root / "cache", root / "results")


def ddlib(env, *args, timeout=300):
    return subprocess.run([PYTHON, "-m", "ddlib", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def with_option(args, name, value):
    """``args`` with option ``name`` set to ``value`` (replaced if present)."""
    args = list(args)
    if name in args:
        args[args.index(name) + 1] = value
    else:
        args += [name, value]
    return args


def one_json_object(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert isinstance(out, dict)
    return out


def test_train_prints_one_json_object(env):
    r = one_json_object(ddlib(env, *TRAIN, "--json"))
    assert FIELDS <= set(r)
    assert (r["dataset"], r["ipc"], r["select"], r["regime"], r["budget"], r["seed"], r["model"], r["device"]) == \
        ("digits", 5, "random", "hl", 640, 0, "convnet3-w16-instancenorm", "cpu")
    assert r["steps"] == 20 and r["samples_seen"] == 640 and r["epochs"] == pytest.approx(640 / 50)
    assert 0 <= r["val_acc"] <= 1 and 0 <= r["test_acc"] <= 1 and r["wall_s"] > 0
    assert r["cache_hit"] is False and "teacher_id" not in r
    # the same command again is read from the result cache, with the same numbers
    again = one_json_object(ddlib(env, *TRAIN, "--json"))
    assert again["cache_hit"] is True
    assert {k: again[k] for k in FIELDS} == {k: r[k] for k in FIELDS}


def test_train_slkd_records_its_teacher(env):
    # a temperature given: no tuning runs (without one, it is chosen on validation: see the tiny-profile test)
    args = with_option(with_option(TRAIN, "--regime", "slkd"), "--budget", "650") + ["--temperature", "4"]
    r = one_json_object(ddlib(env, *args, *TEACHER, "--json"))
    assert FIELDS <= set(r) and r["regime"] == "slkd" and r["temperature"] == 4.0
    assert r["teacher_id"].startswith("digits-convnet3-w16-instancenorm-")
    assert 0 <= r["teacher_test_acc"] <= 1
    assert r["steps"] == math.ceil(650 / 32) and r["samples_seen"] == 21 * 32
    assert r["teacher_forward_samples"] == 21 * 32


def test_train_full_ipc(env):
    r = one_json_object(ddlib(env, *with_option(TRAIN, "--ipc", "full"), "--json"))
    assert r["ipc"] == "full" and r["subset_size"] == 1_097 and r["steps"] == 20
    assert r["epochs"] == pytest.approx(640 / 1_097)


@pytest.mark.parametrize("option,value,needle", [
    ("--dataset", "imagenet", "unknown dataset 'imagenet'"),
    ("--regime", "kd", "invalid choice: 'kd'"),
    ("--model", "vit-tiny", "unknown model 'vit-tiny'"),
    ("--select", "best", "invalid choice: 'best'"),
    ("--ipc", "5000", "IPC 5000 is larger than the smallest class"),
    ("--budget", "0", "budget must be a positive"),
    ("--ipc", "ten", "IPC"),
    ("--device", "gpu", "device"),
])
def test_user_errors_are_one_line_and_exit_2(env, option, value, needle):
    proc = ddlib(env, *with_option(TRAIN, option, value), "--json")
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert needle in lines[0]
    assert proc.stdout == ""


SCORING = ["--teacher-model", "convnet2-w16", "--teacher-epochs", "3", "--teacher-floor", "0",
           "--recorder-model", "convnet2-w16", "--recorder-epochs", "3", "--model", "convnet2-w16"]


def test_every_selector_works_from_the_cli(env):
    """Each registered selector trains from the CLI and records what chose its subset."""
    from ddlib.select import SELECTORS
    for name in SELECTORS:
        args = with_option(TRAIN + SCORING, "--select", name)
        if name in ("dyn_unc", "cad"):  # windows of J epochs (records) over the last W need J + W - 1 of them
            args += ["--knob", "J=2", "--knob", "W=2"]
        r = one_json_object(ddlib(env, *args, "--json"))
        assert r["select"] == name and r["subset_size"] == 50
        if name in ("herding", "kcenter"):
            assert r["select_teacher_id"].startswith("digits-convnet2-w16-")
        elif name == "cad":      # its own compute-matched scoring run, with the run's model
            assert r["scoring_run_id"].startswith("cad-digits-convnet2-w16-")
            assert r["scoring_samples_seen"] == r["samples_seen"]
        elif name != "random":
            assert r["recorder_ids"].startswith("digits-convnet2-w16-")


def test_selector_knobs_from_the_cli(env):
    args = with_option(TRAIN + SCORING, "--select", "el2n")
    hard = one_json_object(ddlib(env, *args, "--json"))
    easy = one_json_object(ddlib(env, *args, "--knob", "which=easiest", "--json"))
    assert hard["select_knobs"] == [["epoch", -1], ["which", "hardest"]]        # canonical: defaults written out
    assert easy["select_knobs"] == [["epoch", -1], ["which", "easiest"]] and easy["key"] != hard["key"]
    bad = ddlib(env, *args, "--knob", "wich=easiest")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no knob 'wich'" in bad.stderr


# --- a profile's defaults (--params) ------------------------------------------------------------------------------

TINY = ["train", "--params", "tiny"]


def test_train_with_a_profile_needs_no_other_flag(env):
    """The tiny profile gives the dataset, networks, recipe and budget; SL+KD's temperature is chosen on the
    validation split from the profile's list, as the book does (those runs are cached too)."""
    from ddlib.profile import Profile
    tiny = Profile.load("tiny")
    r = one_json_object(ddlib(env, *TINY, "--ipc", "5", "--regime", "slkd", "--json"))
    assert 0 <= r["val_acc"] <= 1 and 0 <= r["test_acc"] <= 1
    assert (r["dataset"], r["model"], r["budget"], r["batch"], r["ipc"], r["regime"]) == \
        (tiny.dataset, tiny.model, tiny.budgets[0], tiny.batch, 5, "slkd")
    assert r["temperature"] in tiny.temperatures and r["teacher_model"] == tiny.teacher_model
    again = one_json_object(ddlib(env, *TINY, "--ipc", "5", "--regime", "slkd", "--json"))
    assert again["cache_hit"] is True and again["key"] == r["key"]                  # the tuning runs are cached


def test_one_cad_prune_choice_is_one_cache_entry_however_its_knobs_are_written(env):
    from ddlib.select import selector_knobs
    assert selector_knobs("cad")["stratify"] is False and selector_knobs("cad")["J"] == 6
    cad = [*TINY, "--ipc", "2", "--select", "cad", "--json"]
    first = one_json_object(ddlib(env, *cad, "--knob", "which=easiest", "--knob", "probe=10"))
    assert first["cache_hit"] is False and first["select"] == "cad" and first["scoring_samples_seen"] == \
        first["samples_seen"]
    again = one_json_object(ddlib(env, *cad, "--knob", "probe=10", "--knob", "which=easiest",
                                  "--knob", "stratify=false", "--knob", "J=3"))   # order changed, defaults written
    assert again["cache_hit"] is True and again["key"] == first["key"]
    assert again["test_acc"] == first["test_acc"]
    # chapter 05's run builder gives the very same key (the profile's cad_knobs, J=3 on tiny, then the given ones)
    tiny = prof.Profile.load("tiny")
    assert tiny.cad_knobs["J"] == 3
    assert prof.cad_run(tiny, {"which": "easiest", "probe": 10}, ipc=2, budget=tiny.budgets[0],
                        seed=0).key() == first["key"]


@pytest.mark.parametrize("params,needle", [
    ("nowhere.yaml", "cannot read parameters file nowhere.yaml"),
    ("{budgetz: [1]}", "budgetz"),
    ("{seeds: 3}", "parameter seeds must be"),
])
def test_a_bad_profile_is_one_line_and_exit_2(env, tmp_path, params, needle):
    path = params
    if params.startswith("{"):
        path = str(tmp_path / "p.yaml")
        (tmp_path / "p.yaml").write_text(params)
    proc = ddlib(env, "train", "--params", path, "--json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr


def test_the_book_tables_print_from_the_library(capsys, isolated):
    """`make book`'s generated pages: the provenance table (read from the code and the quick profile) and the
    findings table (from the chapters' summaries; none yet here)."""
    assert cli.main(["provenance-table"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| choice |") and len(out) > 20 and "chosen on the validation split" in "\n".join(out)
    assert cli.main(["findings-table", "--profile", "quick"]) == 0
    assert "No chapter has written results" in capsys.readouterr().out
    summary = isolated["results"] / "quick" / "02_saturation" / "summary.json"
    summary.parent.mkdir(parents=True)
    for text, why in (('{"label": "ch-saturation", "stat', "JSONDecodeError"), ('{"label": "x"}', "lacks title"),
                      ("[" * 100_000 + "]" * 100_000, "RecursionError")):
        summary.write_text(text)                  # truncated, or written by something else: one line, exit 2
        assert cli.main(["findings-table", "--profile", "quick"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err and "run its chapter again" in err


def _commands() -> dict:
    """Each subcommand's parser, by name."""
    return next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_the_cli_explains_itself(capsys):
    """[issue 38] --version answers, the description is whole sentences, every argument of every command says what
    it does, every command shows an example that parses, and train's flags come in groups with their defaults and
    choices shown."""
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"ddlib {__version__}"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "print the book's tables." in " ".join(out.split()) and "``" not in out
    commands = _commands()
    assert set(commands) == set(cli.COMMANDS)
    silent = [(name, a.dest) for name, p in commands.items() for a in p._actions if not a.help]
    assert not silent, silent
    for name, p in commands.items():
        examples = [line.strip() for line in (p.epilog or "").splitlines() if line.startswith("  python -m ddlib ")]
        assert examples, f"{name} has no example"
        for example in examples:
            assert cli.build_parser().parse_args(shlex.split(example)[3:]).command == name, example
    train = commands["train"]
    assert {g.title for g in train._action_groups} >= {"the training set", "labels and budget", "optimiser",
                                                       "profile and recipe", "output"}
    text = " ".join(train.format_help().split())
    assert "images per class, or 'full' (default: 10)" in text and "{hl,sl,slkd}" in text
    assert "(default: None)" not in text and "(default: quick)" in text and "(default: 0)" in text


def test_help_imports_no_torch():
    """[issue 38: help in under a second] `python -m ddlib --help` and every command's help are built without
    torch or the other heavy modules: the commands import them when they run."""
    code = textwrap.dedent("""
        import runpy, sys
        from ddlib import cli
        for p in cli.build_parser()._subparsers._group_actions[0].choices.values():
            p.format_help()
        sys.argv = ["ddlib", "--help"]
        try:
            runpy.run_module("ddlib", run_name="__main__")
        except SystemExit:
            pass
        print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "torchvision", "numpy", "pandas", "scipy"}))
    """)
    done = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_names_the_cli_offers_are_the_registries():
    """``ddlib.choices`` copies the registries so that help needs no torch; each copy still equals its registry."""
    from ddlib import augment, data, distill, findings, regimes, select, train
    assert choices.DATASETS == tuple(data.LOADERS) and choices.SELECTORS == tuple(select.SELECTORS)
    assert choices.METHODS == tuple(distill.METHODS) and choices.REGIMES == tuple(regimes.REGIMES)
    assert choices.OPTIMIZERS == ("auto", *train.OPTIMIZERS) and choices.SCHEDULES == train.SCHEDULES
    assert choices.AUGMENTATIONS == tuple(augment.AUGMENTATIONS)
    assert choices.FINDINGS == tuple(findings.FINDINGS) and choices.EVIDENCE == findings.EVIDENCE


def test_a_profile_is_named_or_a_file():
    """[issue 38] ``--params tiny|quick|paper`` reads the profile shipped inside the package; a path reads that
    file; a bare word that is neither is one line naming the profiles."""
    assert profiles.NAMES == ("gpu-first", "paper", "practice", "quick", "tiny")
    assert profiles.path("tiny") == profiles.DIR / "tiny.yaml" and profiles.path("tiny").is_file()
    assert prof.load("quick") == prof.Profile() == prof.load(profiles.DIR / "quick.yaml")
    assert prof.load("tiny").profile == "tiny" and prof.load("paper").device == "cuda"
    with pytest.raises(DDLibError, match="unknown profile .quik.; give one of gpu-first, paper, practice, quick, "
                                         "tiny or a YAML"):
        prof.load("quik")


class _Terminal(io.StringIO):
    """A standard error that is a terminal."""

    def isatty(self):
        return True


PROGRESS_ARGS = {"train": [], "export": ["--out", "x"], "distill": ["--method", "dm", "--ipc", "1", "--out", "x"],
                 "audit": ["x.npz"], "sweep": ["saturation"], "evidence": []}


@pytest.mark.parametrize("command", list(PROGRESS_ARGS))
def test_progress_shows_on_a_terminal_unless_quiet(command, monkeypatch):
    """[issue 38] Without a flag, progress shows when standard error is a terminal; --quiet turns it off there,
    --progress turns it on in a log; both at once is a usage error."""
    seen = []
    monkeypatch.setitem(cli.COMMANDS, command, lambda a: seen.append(a.progress) or 0)
    for stderr, flags, shown in ((_Terminal(), [], True), (_Terminal(), ["--quiet"], False),
                                 (io.StringIO(), [], False), (io.StringIO(), ["--progress"], True)):
        monkeypatch.setattr(sys, "stderr", stderr)
        assert cli.main([command, *PROGRESS_ARGS[command], *flags]) == 0
        assert seen.pop() is shown, (command, flags)
    with pytest.raises(SystemExit) as e:
        cli.main([command, *PROGRESS_ARGS[command], "--progress", "--quiet"])
    assert e.value.code == 2


def test_the_commands_pass_progress_on(monkeypatch):
    """train hands its progress to the run, sweep and evidence to the chapters (whose first line is the plan's
    count of runs, see tests/test_plan.py)."""
    from ddlib import findings, records
    calls = []
    monkeypatch.setattr(records, "cached_run", lambda cfg, progress, store: calls.append(progress) or {"test_acc": .5})
    monkeypatch.setattr(findings, "main", lambda chapter, params, progress, **k: calls.append(progress) or
                        dict(chapter=chapter.chapter, status="", sentence=""))
    monkeypatch.setattr(findings, "evidence", lambda params, chapters, progress, **k: calls.append(progress) or [])
    monkeypatch.setattr(sys, "stderr", _Terminal())
    for argv in (["train", "--params", "tiny", "--ipc", "1", "--json"], ["sweep", "saturation", "--params", "tiny"],
                 ["evidence", "--params", "tiny"]):
        assert cli.main(argv) == 0 and cli.main([*argv, "--quiet"]) == 0
    assert calls == [True, False] * 3


# --- a run at chance is said, with its likely causes [issue 37] ---------------------------------------------------

TINY_YAML = "tiny"
SL_DEEP = ["train", "--params", TINY_YAML, "--model", "convnet3-w16-instancenorm", "--regime", "sl", "--temperature",
           "4", "--ipc", "2", "--budget", "64"]


@pytest.mark.parametrize("test_acc, teacher, model, said", [
    (0.10, 0.91, "convnet3-w16-instancenorm", True),     # SL on 8x8 digits with the quick profile's ConvNet-3
    (0.12, 0.91, "convnet2-w32-instancenorm", True),     # at chance, the model not the likely cause
    (0.47, 0.91, "convnet3-w16-instancenorm", False),    # learning
    (0.10, 0.11, "convnet3-w16-instancenorm", False)])   # the teacher at chance too: nothing to compare with
def test_a_run_at_chance_prints_one_warning_naming_likely_causes(test_acc, teacher, model, said, isolated, capsys,
                                                                  monkeypatch):
    result = dict(steps=2, epochs=3.2, val_acc=test_acc, test_acc=test_acc, wall_s=0.1, teacher_test_acc=teacher)
    from ddlib import records
    monkeypatch.setattr(records, "cached_run", lambda *a, **k: dict(result))     # the numbers of such a run
    assert cli.main([*SL_DEEP[:4], model, *SL_DEEP[5:]]) == 0
    cap = capsys.readouterr()
    assert f"test {test_acc:.4f}" in cap.out
    lines = cap.err.strip().splitlines()
    assert len(lines) == int(said), cap.err
    if said:
        assert lines[0].startswith(f"warning: test accuracy {test_acc:.1%} is at chance (10 classes: 10.0%; its "
                                   f"teacher: {teacher:.1%}); likely causes: ")
        assert ("pools 8x8 images to 1x1" in lines[0]) == (model.startswith("convnet3"))
        assert "the KD temperature (4)" in lines[0] and "the recipe" in lines[0]


def test_the_chance_line_scales_with_the_classes():
    """Within 3 points of 1/classes, or half of 1/classes where that is less (100 classes: under 1.5%, so a
    CIFAR-100 IPC 1 run at 4% is not called chance)."""
    args = ("convnet2-w32-instancenorm", (3, 32, 32), "hl", 1.0)
    assert cli.chance_warning(0.129, 10, *args) and not cli.chance_warning(0.13, 10, *args)
    assert cli.chance_warning(0.014, 100, *args) and not cli.chance_warning(0.04, 100, *args)
    assert cli.chance_warning(0.52, 2, *args) and not cli.chance_warning(0.6, 2, *args)


def test_an_audited_set_at_chance_is_said_per_arm(isolated, capsys, monkeypatch):
    import torch
    from safetensors.torch import save_file
    from ddlib import audit
    path = isolated["tmp"] / "set.safetensors"
    save_file({"images": torch.rand(20, 1, 8, 8), "labels": torch.arange(20) % 10}, str(path))
    arm = lambda set_acc, random_acc: {"set": {"mean": set_acc}, "random": {"mean": random_acc}}   # noqa: E731
    summary = dict(provenance={"wall_s": 1.0}, sentence="(the audit's sentence)", temperature=4.0,
                   regimes={"HL": arm(0.45, 0.47), "SL": arm(0.10, 0.40), "SL+KD": arm(0.10, 0.10)})
    monkeypatch.setattr(audit, "run", lambda *a, **k: summary)
    assert cli.main(["audit", str(path), "--dataset", "digits", "--params", TINY_YAML, "--temperature", "4",
                     "--no-report", "--out", str(isolated["tmp"] / "out")]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the set's test accuracy under SL 10.0% is at chance "
                                                   "(10 classes: 10.0%; random real images: 40.0%)"), lines


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`python -m ddlib provenance-table | head -2`: when the pipe closes before the table is written, the command
    ends quietly with the shell's broken-pipe status (141), not a BrokenPipeError traceback."""
    p = subprocess.Popen([PYTHON, "-m", "ddlib", "provenance-table"], cwd=REPO,
                         env=subprocess_env(tmp_path / "cache", tmp_path / "results"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == "", err[-2000:]
