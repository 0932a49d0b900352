"""``python -m ddlib audit``: a user's distilled set under HL, SL and SL+KD against random and herding, its files
(results.csv, audit.json, report.html), every bad input refused with one line and nothing written, image folders,
stored soft labels, and run keys that follow the set's content, not its path."""
import dataclasses
import hashlib
from html.parser import HTMLParser
import json
import pickle
import re
import shutil
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import save_file

from ddlib import audit, cli, runner, synset
from ddlib.errors import DDLibError
from ddlib.config import RunConfig, check_inputs
from ddlib.records import cached_run
from ddlib.teacher import TeacherConfig

from conftest import DIGITS, PYTHON, REPO, TINY_TEACHER, clear_ddlib_caches, subprocess_env

VPC = DIGITS["val_per_class"]
TEACHER = TeacherConfig(**TINY_TEACHER)
# The recipe of every audit here: a profile file as the CLI reads it (one temperature: no tuning runs), with the
# tiny profile's networks (a ~89% teacher; 10 steps leave the students between chance and the teacher).
PARAMS = dict(dataset="digits", model="convnet2-w32-instancenorm", batch=32, aug="dsa", temperatures=[4.0],
              val_per_class=VPC, teacher_model="convnet2-w32-batchnorm", teacher_epochs=10.0, teacher_floor=0.0,
              device="cpu", seeds=[0, 1], budgets=[320])
TEACHER_ARGS = ["--teacher-model", PARAMS["teacher_model"], "--teacher-epochs", "10", "--teacher-floor", "0"]
ARMS, METHODS = ("HL", "SL", "SL+KD"), ("set", "random", "herding")


def ddlib(env, *args, timeout=300):
    return subprocess.run([PYTHON, "-m", "ddlib", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def write_params(path):
    path.write_text(yaml.safe_dump(PARAMS))
    return path


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A set written by `python -m ddlib distill` (RDED, IPC 2), then audited by `python -m ddlib audit`."""
    root = tmp_path_factory.mktemp("audit")
    env = subprocess_env(root / "cache", root / "results")
    path = root / "rded.safetensors"
    r = ddlib(env, "distill", "--method", "rded", "--dataset", "digits", "--ipc", "2", "--knob", "pool=30",
              "--val-per-class", str(VPC), *TEACHER_ARGS, "--device", "cpu", "--out", str(path))
    assert r.returncode == 0, r.stderr[-3000:]
    start = time.perf_counter()
    proc = ddlib(env, "audit", str(path), "--params", str(write_params(root / "params.yaml")), "--seeds", "2",
                 "--device", "cpu", "--out", str(root / "out"))
    return dict(root=root, env=env, path=path, out=root / "out", proc=proc, wall=time.perf_counter() - start)


def test_audit_writes_one_row_per_run_with_its_provenance(audited):
    proc = audited["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "audit of rded.safetensors (digits, IPC 2, budget 320, 2 seeds" in proc.stdout
    df = pd.read_csv(audited["out"] / "results.csv")
    assert len(df) == 3 * 3 * 2
    assert set(zip(df["arm"], df["method"], df["seed"])) == {(a, m, s) for a in ARMS for m in METHODS for s in (0, 1)}
    assert {"key", "ddlib_version", "commit", "torch", "python", "device", "cpu_threads", "wall_s", "data_source",
            "test_acc", "val_acc", "steps", "samples_seen", "audit_sha256"} <= set(df.columns)
    assert (df["samples_seen"] == 320).all() and (df["steps"] == 10).all() and df["key"].is_unique
    mine = df[df["method"] == "set"]
    assert (mine["synset_sha256"] == sha(audited["path"])).all() and (mine["subset_size"] == 20).all()
    assert (mine["synset_format"] == "safetensors").all() and (mine["synset_method"] == "rded").all()
    assert set(mine.loc[mine["arm"] == "SL", "soft_label_source"]) == {"teacher"}   # the file stores none
    assert df.loc[df["method"] == "herding", "select_teacher_id"].str.startswith("digits-convnet2-w32-").all()
    configs = df["config"].map(json.loads)                       # JSON, for other tools [issue 38]
    assert (configs.map(lambda c: c["ipc"]) == 2).all()
    assert all(isinstance(json.loads(k), list) for k in df["select_knobs"])


def test_audit_json_summarises_with_intervals_and_provenance(audited):
    s = json.loads((audited["out"] / "audit.json").read_text())
    assert s["file"]["sha256"] == sha(audited["path"]) and s["file"]["method"] == "rded"
    assert (s["dataset"], s["ipc"], s["budget"], s["seeds"], s["temperature"]) == ("digits", 2, 320, [0, 1], 4.0)
    assert s["ipc_source"] == "the file's provenance"
    df = pd.read_csv(audited["out"] / "results.csv")
    for arm in ARMS:
        a = s["regimes"][arm]
        for m in METHODS:
            assert set(a[m]) == {"mean", "lo", "hi", "n"} and a[m]["n"] == 2
            assert a[m]["lo"] <= a[m]["mean"] <= a[m]["hi"]
        acc = {m: df[(df["arm"] == arm) & (df["method"] == m)].sort_values("seed")["test_acc"].to_numpy()
               for m in METHODS}
        g = a["gain_over_random"]
        assert g["mean"] == pytest.approx(float(np.mean(acc["set"] - acc["random"])))   # paired by seed
        assert g["lo"] <= g["mean"] <= g["hi"] and g["n"] == 2
        assert a["set_minus_herding"]["mean"] == pytest.approx(float(np.mean(acc["set"] - acc["herding"])))
    share = s["hl_share_of_slkd_lead"]
    hl, kd = s["regimes"]["HL"]["gain_over_random"]["mean"], s["regimes"]["SL+KD"]["gain_over_random"]["mean"]
    shown = s["regimes"]["SL+KD"]["gain_over_random"]["lo"] > 0
    assert share["share"] == (pytest.approx(hl / kd) if shown else None) and share["defined"] == shown
    p = s["provenance"]
    assert {"ddlib_version", "commit", "device", "threads", "wall_s", "torch", "teacher_id"} <= set(p)
    assert p["device"] == "cpu" and p["threads"] == 1 and p["runs"] == 18 and p["wall_s"] > 0
    assert "NaN" not in (audited["out"] / "audit.json").read_text()                     # strict JSON


def test_report_is_one_standalone_page_with_figures_and_the_gain_table(audited):
    html = (audited["out"] / "report.html").read_text()
    assert len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", html)) >= 3    # figures embedded
    assert 'id="The-set"' in html and "up to ten per class of the first three classes" in html   # its grid
    assert "Not drawn" not in html
    assert not re.search(r"<script[^>]+src=\"https?://", html)                     # nothing fetched to run
    assert not re.search(r"<link[^>]+href=\"https?://", html) and "cdnjs" not in html
    assert "gain over random (points)" in html and "share left under HL" in html
    assert sha(audited["path"]) in html and "audit_dir" not in html              # provenance, no code shown


def test_the_report_draws_the_set_from_its_file_and_says_when_it_cannot(audited, tmp_path):
    """[issue 36] The report's grid holds the file's own images; a file gone or changed since the audit is a
    one-line note, its path escaped."""
    a = audit.load(audited["out"])
    g = audit.set_images(a)
    (shown,) = g.sets.values()
    assert not g.note and torch.equal(shown.images, synset.load(audited["path"]).images)
    assert torch.equal(shown.labels, synset.load(audited["path"]).labels) and len(shown.class_names) == 10
    moved = dict(a, summary=dict(a["summary"], file=dict(a["summary"]["file"], path=str(tmp_path / "<b>gone"))))
    assert audit.set_images(moved).note == f"*Not drawn: no such file: {audit.safe(tmp_path / '<b>gone')}.*"
    changed = tmp_path / "changed.safetensors"
    shutil.copy(audited["path"], changed)
    with open(changed, "ab") as f:
        f.write(b" ")
    a["summary"]["file"]["path"] = str(changed)
    g = audit.set_images(a)
    assert not g.sets and "changed since the audit (its sha256 differs from audit.json" in g.note


def test_without_papermill_the_audit_writes_its_files_and_says_how_to_render(audited, monkeypatch, capsys):
    monkeypatch.setenv("DDLIB_CACHE", str(audited["root"] / "cache"))
    monkeypatch.setattr(audit, "missing_report_tools", lambda: ["nbconvert"])
    clear_ddlib_caches()
    out = audited["root"] / "no-report"
    try:
        rc = cli.main(["audit", str(audited["path"]), "--params", str(audited["root"] / "params.yaml"),
                       "--seeds", "2", "--device", "cpu", "--out", str(out)])
    finally:
        clear_ddlib_caches()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert rc == 0 and f"python -m ddlib audit-report {out}" in last
    assert (out / "results.csv").exists() and (out / "audit.json").exists() and not (out / "report.html").exists()
    assert pd.read_csv(out / "results.csv")["cache_hit"].all()                     # the same runs, from the cache


# --- refused inputs: one line, exit code 2, nothing written ------------------------------------------------------

def digits_set(soft=False, seed=0) -> synset.SynSet:
    g = torch.Generator().manual_seed(seed)
    s = synset.SynSet(torch.rand(20, 1, 8, 8, generator=g), torch.arange(10).repeat_interleave(2))
    if soft:
        s.soft_labels = torch.softmax(3 * torch.randn(20, 10, generator=g), dim=1)
    return s


def save_raw(path, s: synset.SynSet, **meta):
    tensors = {"images": s.images.contiguous(), "labels": s.labels.contiguous()}
    if s.soft_labels is not None:
        tensors["soft_labels"] = s.soft_labels.contiguous()
    save_file(tensors, str(path), metadata={"ddlib": json.dumps(meta)} if meta else None)
    return path


def changed(change):
    def make(tmp):
        s = digits_set()
        change(s)
        return save_raw(tmp / "bad.safetensors", s)
    return make


def png_folder(tmp, shape=(1, 8, 8), names=None, per_class=2):
    from torchvision.io import write_png
    root = tmp / "folder"
    for c in range(10):
        d = root / (names[c] if names else str(c))
        d.mkdir(parents=True)
        for i in range(per_class):
            write_png(torch.randint(0, 256, shape, dtype=torch.uint8), str(d / f"{i}.png"))
    return root


class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickle(tmp):
    path = tmp / "set.pt"
    path.write_bytes(pickle.dumps(_Boom(tmp / "PICKLE-RAN")))
    return path


def _corrupt(tmp):
    path = tmp / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + bytes(range(256)))
    return path


def _folder_unknown(tmp):
    root = png_folder(tmp)
    (root / "7").rename(root / "seven")
    return root


def _folder_superscript(tmp):
    root = png_folder(tmp)
    (root / "5").rename(root / "\u2075")       # '⁵': a digit to str.isdigit, not to int() [issue 37]
    return root


def _folder_empty(tmp):
    root = png_folder(tmp)
    for f in (root / "3").iterdir():
        f.unlink()
    return root


def _folder_unreadable(tmp):
    root = png_folder(tmp)
    (root / "4" / "0.png").write_bytes(b"not a png")
    return root


BAD = [
    ("image size", changed(lambda s: setattr(s, "images", s.images[:, :, :4, :4].contiguous())), [],
     "wrong image size"),
    ("channels", changed(lambda s: setattr(s, "images", s.images.expand(-1, 3, -1, -1).contiguous())), [],
     "wrong channel count"),
    ("range", changed(lambda s: setattr(s, "images", s.images * 2)), [], "pixel values must lie in [0, 1]"),
    ("nan", changed(lambda s: s.images.__setitem__((0, 0, 0, 0), float("nan"))), [], "NaN or infinite"),
    ("inf", changed(lambda s: s.images.__setitem__((3, 0, 1, 1), float("inf"))), [], "NaN or infinite"),
    ("label range", changed(lambda s: s.labels.__setitem__(0, 10)), [], "labels must lie in 0..9"),
    ("class missing", changed(lambda s: s.labels.__setitem__(slice(0, 2), 1)), [], "class(es) [0] have no image"),
    ("ipc claim", changed(lambda s: None), ["--ipc", "3"], "the set claims IPC 3, but its classes hold [2]"),
    ("unequal classes", changed(lambda s: s.labels.__setitem__(0, 1)), [], "cannot tell the set's IPC"),
    ("corrupt", _corrupt, [], "not a readable safetensors file"),
    ("missing", lambda tmp: tmp / "nowhere.safetensors", [], "no such file"),
    ("other dataset", lambda tmp: save_raw(tmp / "fm.safetensors", digits_set(), dataset="fashion_mnist", ipc=2), [],
     "says it was distilled from 'fashion_mnist', not 'digits'"),
    ("folder: unknown class", _folder_unknown, [], "unknown class folder 'seven'"),
    ("folder: class '⁵'", _folder_superscript, [], "unknown class folder '\u2075'"),
    ("folder: empty class", _folder_empty, [], "folder/3: empty class folder"),
    ("folder: unreadable image", _folder_unreadable, [], "folder/4/0.png: unreadable image"),
    ("folder: image size", lambda tmp: png_folder(tmp, shape=(1, 6, 6)), [], "wrong image size: folder/0/0.png"),
    ("folder: channels", lambda tmp: png_folder(tmp, shape=(3, 8, 8)), [], "wrong channel count: folder/0/0.png"),
]


@pytest.mark.parametrize("make, extra, needle", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(make, extra, needle, isolated, capsys):
    tmp = isolated["tmp"]
    path, out = make(tmp), tmp / "out"
    rc = cli.main(["audit", str(path), "--dataset", "digits", "--params", str(write_params(tmp / "params.yaml")),
                   "--seeds", "2", "--device", "cpu", "--out", str(out), *extra])
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], cap.err
    assert cap.out == "" and not out.exists()
    assert not isolated["cache"].exists() and not isolated["results"].exists()


def test_a_pickle_file_is_refused_unopened_by_the_cli(tmp_path):
    env = subprocess_env(tmp_path / "cache", tmp_path / "results")
    path = _pickle(tmp_path)
    r = ddlib(env, "audit", str(path), "--dataset", "digits", "--params", str(write_params(tmp_path / "p.yaml")),
              "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "pickle-based files are refused" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (tmp_path / "PICKLE-RAN").exists()                                # nothing was unpickled
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


# --- image folders, stored soft labels, keys --------------------------------------------------------------------

def test_an_image_folder_trains_like_its_file(isolated):
    root = png_folder(isolated["tmp"])
    s = synset.read(root, classes=tuple(str(i) for i in range(10)), shape=(1, 8, 8))
    assert s.images.shape == (20, 1, 8, 8) and s.meta["file_format"] == "folder"
    assert torch.equal(s.labels, torch.arange(10).repeat_interleave(2)) and 0 <= s.images.min() <= s.images.max() <= 1
    r = cached_run(RunConfig(**DIGITS, ipc=2, regime="hl", budget=96, synset_file=str(root)))
    assert r["subset_size"] == 20 and r["synset_format"] == "folder" and 0 <= r["test_acc"] <= 1
    assert synset.infer_ipc(s, 10) == (2, "the class counts")


def test_class_folders_are_named_by_class_name_or_index(tmp_path):
    from torchvision.io import write_png
    for name in ("cat", "1"):
        (tmp_path / "f" / name).mkdir(parents=True)
        write_png(torch.zeros(1, 4, 4, dtype=torch.uint8), str(tmp_path / "f" / name / "a.png"))
    s = synset.read(tmp_path / "f", classes=("cat", "dog"), shape=(1, 4, 4))
    assert s.labels.tolist() == [0, 1]
    (tmp_path / "f" / "1").rename(tmp_path / "f" / "0")
    with pytest.raises(DDLibError, match="folders 'cat' and '0' both hold class 0|folders '0' and 'cat' both"):
        synset.read(tmp_path / "f", classes=("cat", "dog"), shape=(1, 4, 4))
    (tmp_path / "f" / "0").rename(tmp_path / "f" / "\u2075")    # '⁵': a digit to str.isdigit, not to int()
    with pytest.raises(DDLibError, match="unknown class folder '\u2075'"):
        synset.read(tmp_path / "f", classes=("cat", "dog"), shape=(1, 4, 4))


def test_palette_and_grey_alpha_pngs_are_read_as_their_pixels(isolated):
    """[issue 37] A set's palette PNGs were read as palette indices (and the audit trained on them); they, and grey
    PNGs with alpha, are decoded to the dataset's channels by the one decoder, so a folder of them trains exactly as
    the same pixels in a safetensors file."""
    from PIL import Image
    s = digits_set()
    pixels = (s.images * 255).round().to(torch.uint8)
    root = isolated["tmp"] / "palette"
    for i, (img, y) in enumerate(zip(pixels, s.labels.tolist())):
        (root / str(y)).mkdir(parents=True, exist_ok=True)
        grey = Image.fromarray(img[0].numpy(), "L")
        if i % 2:          # a palette image whose indices are not its grey levels (a reversed palette)
            pal = Image.fromarray((255 - img[0]).numpy(), "P")
            pal.putpalette([v for g in range(256) for v in (255 - g,) * 3])
            pal.save(root / str(y) / f"{i}.png")
        else:
            grey.convert("LA").save(root / str(y) / f"{i}.png")
    assert {Image.open(f).mode for f in root.rglob("*.png")} == {"P", "LA"}
    back = synset.read(root, classes=tuple(str(i) for i in range(10)), shape=(1, 8, 8))
    order = torch.argsort(s.labels, stable=True)
    assert torch.equal((back.images * 255).round().to(torch.uint8), pixels[order])
    file = save_raw(isolated["tmp"] / "same.safetensors", synset.SynSet(pixels[order].float() / 255,
                                                                        s.labels[order]))
    runs = [cached_run(RunConfig(**DIGITS, ipc=2, regime="hl", budget=96, synset_file=str(f))) for f in (root, file)]
    assert runs[0]["synset_format"] == "folder" and runs[1]["synset_format"] == "safetensors"
    assert (runs[0]["test_acc"], runs[0]["final_loss"]) == (runs[1]["test_acc"], runs[1]["final_loss"])


def test_stored_soft_labels_are_what_sl_trains_on(isolated, monkeypatch):
    tmp = isolated["tmp"]
    s = digits_set(soft=True)
    with_soft = save_raw(tmp / "soft.safetensors", s)
    plain = save_raw(tmp / "plain.safetensors", synset.SynSet(s.images, s.labels))
    cfg = RunConfig(**DIGITS, ipc=2, regime="sl", budget=96, temperature=4.0, teacher=TEACHER,
                    synset_file=str(with_soft))
    assert cfg.key() != dataclasses.replace(cfg, synset_file=str(plain)).key()
    seen = {}

    class Stop(Exception):
        pass

    def fit(model, x, y, spec, teacher=None, soft_labels=None, **kw):
        seen.update(soft=soft_labels, teacher=teacher)
        raise Stop     # what the run would train on is all this test needs

    monkeypatch.setattr(runner, "fit", fit)
    with pytest.raises(Stop):
        runner.run(cfg)
    assert torch.equal(seen["soft"], s.soft_labels) and seen["teacher"] is None   # no teacher read for SL
    assert not (isolated["cache"] / "teachers").exists()


def test_the_key_follows_the_content_not_the_path(isolated):
    tmp = isolated["tmp"]
    a = save_raw(tmp / "a.safetensors", digits_set())
    (tmp / "moved").mkdir()
    b = shutil.copy(a, tmp / "moved" / "b.safetensors")
    c = save_raw(tmp / "c.safetensors", digits_set(seed=1))
    base = dict(DIGITS, ipc=2, regime="slkd", budget=96, teacher=TEACHER)
    ka, kb, kc = (RunConfig(**base, synset_file=str(p)).key() for p in (a, b, c))
    assert ka == kb != kc
    f = RunConfig(**base, synset_file=str(a)).key_fields()
    assert f["synset_sha256"] == sha(a) and not {"synset_file", "select", "recorder", "select_knobs"} & set(f)
    # configs without a file keep exactly their key fields (select_knobs always: canonical, defaults written out)
    assert sorted(RunConfig().key_fields()) == ['aug', 'batch', 'budget', 'dataset', 'ddlib_version', 'device', 'ipc',
                                                'model', 'optim', 'regime', 'seed', 'select', 'select_knobs',
                                                'split_seed', 'teacher', 'temperature', 'val_per_class']


def test_a_file_is_exclusive_with_distill_and_selectors(isolated):
    path = str(save_raw(isolated["tmp"] / "a.safetensors", digits_set()))
    base = dict(DIGITS, ipc=2, budget=96, synset_file=path)
    with pytest.raises(DDLibError, match="on a set from a file .* or on a method's distilled set"):
        RunConfig(**base, distill="dm").validate()
    with pytest.raises(DDLibError, match="either on a set from a file or on a selected subset"):
        RunConfig(**base, select="herding").validate()
    with pytest.raises(DDLibError, match="a set from a file needs an integer IPC"):
        RunConfig(**{**base, "ipc": "full"}).validate()
    RunConfig(**{**base, "ipc": 3}).validate()              # reads no data: the claim is checked with the file
    with pytest.raises(DDLibError, match="the set claims IPC 3"):
        check_inputs(RunConfig(**{**base, "ipc": 3}))
    assert check_inputs(RunConfig(**base)).source == "file"


def test_the_audits_baselines_are_the_chapters_runs_and_its_parameters_are_a_profile(tmp_path):
    """Random and herding are built by the profile's run builders, as chapter 01 builds them: a profile's audit
    reads them from the result cache. The recipe is a ``Profile``: an unknown or mistyped name is one line."""
    from pathlib import Path

    from ddlib.findings import label_regimes
    from ddlib.profile import Profile
    p = Profile.load("quick")
    pl = audit.Plan(Path(tmp_path / "set.safetensors"), p.dataset, p.dd_ipcs[0], "claimed (--ipc)", p.budgets[0], p,
                    "0" * 64, None)
    cfgs = audit.configs(pl, 4.0)
    assert [c.source for c in cfgs[:3]] == ["file", "subset", "subset"] and len(cfgs) == 3 * 3 * len(p.seeds)
    chapter = {c.key() for c in label_regimes.configs(p, 4.0)}
    assert all(c.key() in chapter for c in cfgs if c.source == "subset")
    for params, needle in (({"budgetz": [1]}, "budgetz"), ({"seeds": 2}, "parameter seeds must be")):
        with pytest.raises(DDLibError, match=needle) as e:
            audit.plan(tmp_path / "nowhere.safetensors", params=params)
        assert "\n" not in str(e.value)


class _Active(HTMLParser):
    """What in a page can run or submit: script, iframe, object, embed, form, svg and base elements, a meta refresh,
    event-handler attributes, and javascript: or data:text/html links."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "form", "svg", "base") or \
                (tag == "meta" and "http-equiv" in dict(attrs)):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith(("javascript:", "data:text/html")):
                self.found.append(f"{tag} {name}")


EVIL = ['x_`<img src=x onerror=alert(9)>`', "<svg onload=alert(1)>", '<script src="data:,alert(2)"></script>',
        "<iframe srcdoc='<b>'></iframe>", '<form action="http://x"><input></form>', "[a](javascript:alert(3))"]


def test_hostile_file_names_headers_and_audit_json_render_as_text(audited, tmp_path):
    """A hand-edited audit.json (the file's name, its header's method, every text field) rendered to report.html:
    the page, parsed, holds no active content, and the hostile text is shown as text."""
    out = tmp_path / "hostile"
    shutil.copytree(audited["out"], out)
    s = json.loads((out / "audit.json").read_text())
    bits = "; ".join(EVIL)
    s["file"].update(path=f"/tmp/{EVIL[0]}.safetensors", method=EVIL[1], format=EVIL[2], sha256=EVIL[3] * 3)
    s.update(dataset=EVIL[5], ipc_source=bits, model=EVIL[2], temperature_source=bits, sentence=bits, notes=EVIL,
             seeds=EVIL[:2])
    s["provenance"].update(command=bits, commit=EVIL[1], teacher_model=EVIL[4])
    (out / "audit.json").write_text(json.dumps(s))
    html = audit.render(out).read_text()
    page = _Active()
    page.feed(html)
    assert not page.found, page.found
    assert "onerror=alert(9)" in html.replace("&#61;", "=")                       # shown as text, not as markup
    assert "Not drawn: no such file" in html                                        # the set's grid: a note


def test_the_sentence_reads_a_share_above_one_and_a_lead_below_zero_plainly():
    """An HL gain larger than the SL+KD lead is said as a ratio, not as '355% survives'; an SL+KD gain whose
    interval lies under zero is said to be below zero."""
    def table(slkd):
        return pd.DataFrame([dict(arm=a, method=audit.SET, gain=g, gain_lo=g - 0.01, gain_hi=g + 0.01)
                             for a, g in (("HL", 0.06), ("SL+KD", slkd))])
    text = audit.sentence(table(0.017), dict(share=0.06 / 0.017, gain_slkd=0.017, gain_hl=0.06), 10)
    assert "is 3.5 times its SL+KD lead over random (+1.7 points)" in text and "%" not in text.split("interval")[-1]
    text = audit.sentence(table(-0.03), dict(share=None, gain_slkd=-0.03, gain_hl=0.06), 10)
    assert "Its SL+KD gain (-3.0 points) is below zero" in text
    md = audit.survival_markdown(dict(summary=dict(hl_share_of_slkd_lead=dict(share=3.5, gain_slkd=0.017,
                                                                                gain_hl=0.06))))
    assert "**3.5 times**" in md and "Below 100%" not in md


def test_rendering_runs_no_code_from_the_audit_folder(audited, tmp_path):
    """[issue 37] A Python file planted in an audit folder (as ``matplotlib.py``, which the report imports) is not
    run when the report is rendered: the kernel starts in an empty folder of its own."""
    out = tmp_path / "planted"
    shutil.copytree(audited["out"], out)
    marker = tmp_path / "ran"
    for name in ("matplotlib.py", "pandas.py", "ddlib.py"):
        (out / name).write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    assert audit.render(out).exists() and not marker.exists()
