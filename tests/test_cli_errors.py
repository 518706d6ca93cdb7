"""Every user mistake and environment failure through the command line: a table of cases, each
run as ``gdd ...`` (in-process through ``gdd.cli.main``, or in a fresh ``python -m gdd`` where
marked), asserting the exit code and that stderr ends in one line naming the file or problem,
with no traceback. Crafted pickles (``_Evil``) prove that no code runs when a file is loaded;
after every case, every file that existed before it is unchanged and no temp file is left."""
import dataclasses
import errno
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from gdd import data
from gdd.cli import main
from gdd.imageset import save_image_set
from gdd.gan import Generator

ROOT = Path(__file__).resolve().parent.parent


class _Evil:
    """Unpickled, this runs ``os.mkdir(path)``: what a crafted .pt would do with any code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


# ---- setups: each writes the files of a case into the case's folder t ----

def evil(name: str, **plain) -> Callable[[Path], None]:
    """A .pt at t/name holding ``plain`` and an object whose unpickling creates t/marker."""
    def setup(t):
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        torch.save({**plain, "payload": _Evil(t / "marker")}, t / name)
    return setup


def image_set(**entries) -> Callable[[Path], None]:
    """t/set.pt: 10 MNIST-like images in [0, 1], labels 0..9, ``entries`` replacing any of them."""
    def setup(t):
        x = torch.rand(10, 1, 32, 32, generator=torch.Generator().manual_seed(0))
        torch.save({"images": x, "labels": torch.arange(10), "meta": {"dataset": "mnist"}, **entries}, t / "set.pt")
    return setup


def raw_file(name: str, content: bytes) -> Callable[[Path], None]:
    def setup(t):
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_bytes(content)
    return setup


def torch_file(name: str, obj) -> Callable[[Path], None]:
    return lambda t: torch.save(obj, t / name)


def truncated_set(t):
    save_image_set(torch.rand(10, 1, 32, 32), torch.arange(10), {"dataset": "mnist"}, t / "set.pt")
    blob = (t / "set.pt").read_bytes()
    (t / "set.pt").write_bytes(blob[:len(blob) // 2])


def generator(t, **meta):
    """t/gen.pt: a tiny MNIST generator (width 8, noise 16)."""
    G = Generator(1, 10, width=8, noise=16)
    torch.save({"state_dict": G.state_dict(),
                "meta": {"dataset": "mnist", "channels": 1, "num_classes": 10, "width": 8, "noise": 16, **meta}},
               t / "gen.pt")


def checkpoint_of(**config) -> Callable[[Path], None]:
    """t/run/checkpoint.pt of a train-gan run under the smoke profile's config with ``config``."""
    def setup(t):
        from gdd import configs, runfolder
        cfg = dataclasses.replace(configs.gan_config("smoke", "mnist"), **config)
        with runfolder.open_run(t / "run", cfg, progress=False) as run:
            run.checkpoint(1)
    return setup


def gan_run_of(dataset: str) -> Callable[[Path], None]:
    """t/g: a finished stage-1 run's generator.pt and critic.pt, trained on ``dataset``."""
    def setup(t):
        from gdd import configs
        from gdd.distill import build_gan
        cfg = configs.gan_config("smoke", dataset)
        G, D = build_gan(cfg)
        (t / "g").mkdir()
        for name, module in (("generator", G), ("critic", D)):
            torch.save({"state_dict": module.state_dict(), "meta": {"dataset": dataset}}, t / "g" / f"{name}.pt")
    return setup


def truncated_summary(t):
    checkpoint_of()(t)
    (t / "run" / "summary.json").write_text('{"finished": tr')


def datafree_run_then_new_teacher(t):
    """A smoke teacher, a data-free run stopped after 2 steps, then the teacher file replaced."""
    assert main(f"train-teacher --dataset mnist --profile smoke --device cpu --out {t}/teacher".split()) == 0
    assert main(f"{DATAFREE_RESUME} --stop-after 2".format(t=t).split()) == 0
    blob = torch.load(t / "teacher" / "model.pt", weights_only=True)
    blob["state_dict"] = {k: v + 1 if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    torch.save(blob, t / "teacher" / "model.pt")


def truncated_checkpoint(t):
    checkpoint_of()(t)
    blob = (t / "run" / "checkpoint.pt").read_bytes()
    (t / "run" / "checkpoint.pt").write_bytes(blob[:-100])


def mnist_folder(t, corrupt: str | None = None):
    """t/data: MNIST's raw files from the mirror and its decoded test cache; ``corrupt``: a file
    (relative to t/data/MNIST) then overwritten with junk."""
    data.load("mnist", train=False, root=t / "data", download=False)
    if corrupt:
        path = t / "data" / "MNIST" / corrupt
        blob = bytearray(path.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        path.write_bytes(bytes(blob))


def both(*setups):
    def setup(t):
        for s in setups:
            s(t)
    return setup


def fail_with(exc: OSError):
    """A patch making the named function raise ``exc`` (a full or read-only disk, simulated:
    the tests run as root, for whom permissions do not apply)."""
    def patch(monkeypatch, target):
        def raiser(*a, **k):
            raise exc
        monkeypatch.setattr(target, raiser)
    return patch


# ---- the cases ----

@dataclass
class Case:
    id: str
    argv: str                          # the command line after `gdd`; {t} is the case's folder
    expect: tuple[str, ...]            # each must be in stderr's last line ({t} formatted)
    setup: Callable[[Path], None] | None = None
    rc: int = 1
    fresh_process: bool = False        # run `python -m gdd` in a subprocess instead of main()
    env: dict = field(default_factory=dict)
    patch: tuple = ()                  # (target "module.attr", exception) made to fail


EVAL = "evaluate --dataset mnist --runs 1 --epochs 1 --device cpu --out {t}/r.json --source {t}/set.pt"
SAMPLE = "sample --generator {t}/gen.pt --ipc 1 --device cpu --out {t}/set.pt"
GAN = "train-gan --dataset mnist --profile smoke --device cpu --out {t}/run"
DISTILL = "distill --dataset mnist --profile smoke --method gdd --device cpu --out {t}/d --gan {t}/g"
DATAFREE = "datafree --method adv --profile smoke --device cpu --out {t}/kd --teacher {t}/teacher.pt"
DATAFREE_RESUME = "datafree --method adv --profile smoke --device cpu --out {t}/kd --teacher {t}/teacher/model.pt"
NAN = torch.full((10, 1, 32, 32), float("nan"))

CASES = [
    # a crafted pickle through every entry point: refused, nothing run
    Case("evil-image-set", EVAL, ("{t}/set.pt", "posix.mkdir", "refused"), evil("set.pt"), fresh_process=True),
    Case("evil-generator", SAMPLE, ("{t}/gen.pt", "refused"), evil("gen.pt", state_dict={})),
    Case("evil-gan-folder", DISTILL, ("{t}/g/generator.pt", "refused"), both(evil("g/generator.pt"), evil("g/critic.pt"))),
    Case("evil-teacher", DATAFREE, ("{t}/teacher.pt", "refused"), evil("teacher.pt", dataset="mnist")),
    Case("evil-teacher-named-dataset", DATAFREE + " --dataset mnist", ("{t}/teacher.pt", "refused"),
         evil("teacher.pt", dataset="mnist", model="convnet3", state_dict={})),
    Case("evil-resume-checkpoint", GAN, ("{t}/run/checkpoint.pt", "refused"), evil("run/checkpoint.pt", config={})),
    # malformed image sets
    Case("set-nan-pixels", EVAL, ("{t}/set.pt", "10240 pixel values are NaN"), image_set(images=NAN)),
    Case("set-0-255-range", EVAL, ("{t}/set.pt", "[0, 1]"), image_set(images=torch.full((10, 1, 32, 32), 255.0))),
    Case("set-negative", EVAL, ("{t}/set.pt", "[0, 1], found -1"), image_set(images=-torch.ones(10, 1, 32, 32))),
    Case("set-uint8", EVAL, ("{t}/set.pt", "floats"), image_set(images=torch.zeros(10, 1, 32, 32, dtype=torch.uint8))),
    Case("set-28x28", EVAL, ("{t}/set.pt", "N x C x 32 x 32", "(10, 1, 28, 28)"), image_set(images=torch.rand(10, 1, 28, 28))),
    Case("set-2-channels", EVAL, ("{t}/set.pt", "C = 1 or 3"), image_set(images=torch.rand(10, 2, 32, 32))),
    Case("set-rgb-for-mnist", EVAL, ("{t}/set.pt", "3 channels, mnist has 1"), image_set(images=torch.rand(10, 3, 32, 32))),
    Case("set-empty", EVAL, ("{t}/set.pt", "no images"),
         image_set(images=torch.rand(0, 1, 32, 32), labels=torch.zeros(0, dtype=torch.long))),
    Case("set-fractional-labels", EVAL, ("{t}/set.pt", "integer class indices, found 0.5"),
         image_set(labels=torch.arange(10) + 0.5)),
    Case("set-label-out-of-range", EVAL, ("{t}/set.pt", "0..9, found 1 .. 10"), image_set(labels=torch.arange(10) + 1)),
    Case("set-negative-label", EVAL, ("{t}/set.pt", "found -1"), image_set(labels=torch.arange(10) - 1)),
    Case("set-label-count", EVAL, ("{t}/set.pt", "10 images but labels of shape (9,)"), image_set(labels=torch.arange(9))),
    Case("set-other-dataset", EVAL, ("{t}/set.pt", "made from fashion_mnist, not mnist"),
         image_set(meta={"dataset": "fashion_mnist"})),
    Case("set-no-labels", EVAL, ("{t}/set.pt", "'images' and 'labels'"), torch_file("set.pt", {"images": NAN})),
    Case("set-is-a-list", EVAL, ("{t}/set.pt", "found list"), torch_file("set.pt", [NAN, torch.arange(10)])),
    # files of another kind given as .pt
    Case("set-is-text", EVAL, ("{t}/set.pt", "text file"), raw_file("set.pt", b"images,labels\n1,2\n")),
    Case("set-is-png", EVAL, ("{t}/set.pt", "PNG image"), raw_file("set.pt", b"\x89PNG\r\n\x1a\n" + bytes(64))),
    Case("set-is-empty-file", EVAL, ("{t}/set.pt", "is empty"), raw_file("set.pt", b"")),
    Case("set-is-plain-pickle", EVAL, ("{t}/set.pt", "plain pickle"), raw_file("set.pt", b"\x80\x04\x95" + bytes(20))),
    Case("set-truncated", EVAL, ("{t}/set.pt", "truncated"), truncated_set),
    Case("set-is-a-folder", EVAL, ("{t}/set.pt", "folder"), lambda t: (t / "set.pt").mkdir()),
    Case("set-missing", EVAL, ("{t}/set.pt", "does not exist")),
    # gdd evaluate's --out, checked before any work
    Case("evaluate-out-foreign-json", EVAL, ("{t}/r.json", "not a gdd evaluate result", "refusing to overwrite"),
         both(image_set(), raw_file("r.json", b'{"my": "notes"}\n'))),
    Case("evaluate-out-is-folder", EVAL, ("{t}/r.json", "is a folder"), both(image_set(), lambda t: (t / "r.json").mkdir())),
    Case("evaluate-out-under-a-file", EVAL.replace("{t}/r.json", "{t}/notes.txt/r.json"),
         ("{t}/notes.txt", "is a file, not a folder"), both(image_set(), raw_file("notes.txt", b"x"))),
    Case("evaluate-out-permission-denied", EVAL, ("permission denied writing {t}/r.json",), image_set(),
         patch=("tempfile.mkstemp", PermissionError(errno.EACCES, "Permission denied"))),
    # gdd sample: outputs and generators
    Case("sample-out-png", SAMPLE.replace("set.pt", "set.png"), ("{t}/set.png", "must be a .pt file"), generator),
    Case("sample-out-foreign-file", SAMPLE, ("{t}/set.pt", "not a gdd image set", "refusing to overwrite"),
         both(generator, raw_file("set.pt", b"my thesis draft\n"))),
    Case("sample-grid-foreign-file", SAMPLE, ("{t}/set.png", "not a gdd preview grid"),
         both(generator, raw_file("set.png", b"not a picture\n"))),
    Case("sample-disk-full", SAMPLE, ("no space left on device writing {t}/set.pt",), generator,
         patch=("os.fsync", OSError(errno.ENOSPC, "No space left on device"))),
    Case("sample-missing-generator", SAMPLE, ("{t}/gen.pt", "does not exist")),
    Case("sample-generator-is-text", SAMPLE, ("{t}/gen.pt", "text file"), raw_file("gen.pt", b"weights\n")),
    Case("sample-generator-is-a-list", SAMPLE, ("{t}/gen.pt", "not a gdd generator"), torch_file("gen.pt", [1, 2])),
    Case("sample-generator-other-shape", SAMPLE, ("{t}/gen.pt", "3 channels and 10 classes do not match mnist"),
         lambda t: generator(t, channels=3)),
    # stage 1 and 2 runs
    Case("distill-no-gan-run", DISTILL, ("no finished stage-1 run in {t}/g",), lambda t: (t / "g").mkdir()),
    Case("distill-lambda-nan", DISTILL + " --lambda-local nan", ("--lambda-local", "finite number"), rc=2),
    Case("train-gan-lr-inf", GAN + " --lr-g inf", ("--lr-g", "finite number"), rc=2),
    Case("resume-other-config", GAN, ("{t}/run/checkpoint.pt", "different config", "width: 8 -> 16"),
         checkpoint_of(width=8)),
    Case("resume-truncated-checkpoint", GAN, ("{t}/run/checkpoint.pt", "truncated", "delete"), truncated_checkpoint),
    Case("resume-truncated-summary", GAN, ("{t}/run/summary.json", "unreadable", "delete it"), truncated_summary),
    Case("distill-gan-of-another-dataset", DISTILL, ("{t}/g/generator.pt", "trained on fashion_mnist, not mnist"),
         gan_run_of("fashion_mnist")),
    Case("out-holds-foreign-config", GAN, ("{t}/run", "config.json that is not a gdd run", "refusing"),
         raw_file("run/config.json", b'{"experiment": "mine"}\n')),
    Case("out-is-a-file", GAN, ("{t}/run is a file",), raw_file("run", b"notes\n")),
    Case("ctrl-c", GAN, ("interrupted at step", "rerun the same command to resume"), rc=130,
         patch=("gdd.gan.gradient_penalty", KeyboardInterrupt())),
    # data-free KD
    Case("datafree-temperature-inf", DATAFREE + " --temperature inf", ("--temperature", "finite number"), rc=2),
    Case("datafree-missing-teacher", DATAFREE, ("{t}/teacher.pt", "does not exist")),
    Case("datafree-teacher-is-text", DATAFREE, ("{t}/teacher.pt", "text file"), raw_file("teacher.pt", b"resnet\n")),
    Case("datafree-teacher-changed-on-resume", DATAFREE_RESUME,
         ("{t}/teacher/model.pt", "another version", "sha256 differs"), datafree_run_then_new_teacher),
    Case("datafree-teacher-no-dataset", DATAFREE, ("{t}/teacher.pt", "names no known dataset"),
         torch_file("teacher.pt", {"state_dict": {}})),
    # arguments
    Case("unknown-dataset", "evaluate --dataset svhn --source random --ipc 1 --out {t}/r.json", ("invalid choice: 'svhn'",), rc=2),
    Case("bad-ipc", "evaluate --dataset mnist --source random --ipc 0 --out {t}/r.json", ("must be a positive integer, got 0",), rc=2),
    Case("unknown-model", "evaluate --dataset mnist --source random --ipc 1 --model lenet --out {t}/r.json",
         ("unknown model 'lenet'",)),
    # data folder
    Case("raw-data-corrupt-md5", "data fetch --no-download mnist",
         ("corrupt data file {t}/data/MNIST/raw/t10k-labels-idx1-ubyte.gz", "md5 is", "ec29112dd5afa0611ce80d1b7f02629c"),
         lambda t: mnist_folder(t, "raw/t10k-labels-idx1-ubyte.gz"), env={"GDD_DATA": "{t}/data"}),
    Case("data-check-corrupt-cache", "data check", ("{t}/data/MNIST/gdd_cache_test.pt is CORRUPT",),
         lambda t: mnist_folder(t, "gdd_cache_test.pt"), env={"GDD_DATA": "{t}/data"}),
    Case("data-check-missing-raw-file", "data check mnist", ("t10k-images-idx3-ubyte.gz is missing",),
         lambda t: (mnist_folder(t), (t / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").unlink()),
         env={"GDD_DATA": "{t}/data"}),
]


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _run(case: Case, t: Path, monkeypatch, capsys) -> tuple[int, str]:
    """(exit code, stderr) of ``gdd`` with the case's arguments."""
    argv = case.argv.format(t=t).split()
    env = {k: v.format(t=t) for k, v in case.env.items()}
    if case.fresh_process:
        run = subprocess.run([sys.executable, "-m", "gdd", *argv], capture_output=True, text=True, cwd=t,
                             env={**os.environ, "PYTHONPATH": str(ROOT), **env})
        return run.returncode, run.stderr
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if case.patch:
        fail_with(case.patch[1])(monkeypatch, case.patch[0])
    monkeypatch.chdir(t)
    try:
        rc, message = main(argv), ""
    except SystemExit as exit_:  # what `python -m gdd` would print and return
        rc, message = (1, exit_.code + "\n") if isinstance(exit_.code, str) else (exit_.code, "")
    return rc, capsys.readouterr().err + message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_error(case, tmp_path, monkeypatch, capsys):
    t = tmp_path
    if case.setup:
        case.setup(t)
    before = _snapshot(t)
    capsys.readouterr()
    rc, err = _run(case, t, monkeypatch, capsys)
    last = err.rstrip("\n").splitlines()[-1] if err.strip() else ""
    assert rc == case.rc, err
    assert "Traceback" not in err, err
    for text in case.expect:
        assert text.format(t=t) in last, f"{text.format(t=t)!r} not in the last line {last!r}"
    assert not (t / "marker").exists(), "loading the crafted file ran its code"
    assert {p: b for p, b in _snapshot(t).items() if p in before} == before, "an existing file was changed"
    assert not list(t.rglob("*.tmp")), "a temp file was left behind"


def test_the_crafted_file_would_run_code_without_weights_only(tmp_path):
    """The crafted files above are live: loaded the unsafe way, they do create the marker."""
    evil("evil.pt")(tmp_path)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert (tmp_path / "marker").is_dir()


def test_evaluate_keys_results_by_content_and_says_when_reused(tmp_path, monkeypatch, capsys):
    """A stored result is reused for the same image-set content (under any path) and config,
    and recomputed when the set at the same path changes. (evaluate_set is replaced by a fast
    stand-in whose accuracy is the mean pixel value: training is not what is tested here.)"""
    import gdd.evaluate
    calls = []

    def fake(x, y, xt, yt, dataset, cfg, device):
        calls.append(1)
        return {"accuracies": [x.mean().item()], "mean": x.mean().item(), "std": 0.0}
    monkeypatch.setattr(gdd.evaluate, "evaluate_set", fake)

    def evaluate(source):
        main(EVAL.replace("{t}/set.pt", source).format(t=tmp_path).split())
        return capsys.readouterr().err

    image_set()(tmp_path)
    assert "reusing" not in evaluate("{t}/set.pt") and len(calls) == 1
    assert "reusing the stored result in" in evaluate("{t}/set.pt") and len(calls) == 1
    (tmp_path / "copy.pt").write_bytes((tmp_path / "set.pt").read_bytes())
    assert "reusing" in evaluate("{t}/copy.pt") and len(calls) == 1  # same content elsewhere
    image_set(images=torch.zeros(10, 1, 32, 32))(tmp_path)  # another set at the same path
    assert "reusing" not in evaluate("{t}/set.pt") and len(calls) == 2


def test_outputs_follow_the_umask_and_stale_temp_files_are_removed(tmp_path):
    import time
    from gdd.files import atomic_write_json
    old, fresh = tmp_path / ".r.json.abc123.tmp", tmp_path / ".r.json.def456.tmp"
    old.write_text("left by a killed run")
    fresh.write_text("being written by a live run")
    os.utime(old, (0, 0))
    os.utime(fresh, (time.time() + 3600,) * 2)
    mask = os.umask(0o027)
    try:
        atomic_write_json({"a": 1}, tmp_path / "r.json")
    finally:
        os.umask(mask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640
    assert not old.exists() and fresh.exists()
