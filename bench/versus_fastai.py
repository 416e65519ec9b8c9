"""Issue 17: the studio against fastai, the library experts reach for, and the competent hand-written probe.

On each set and size, 3 seeds (each draws other training pictures), MobileNetV2 with ImageNet's V1
weights (the same file on every side), 128 px, the same pictures; every side a whole process, timed
from its start (interpreter and imports included):

- the studio's defaults: `python -m tlcore train DATA` with nothing else said (feature extraction);
- the studio's automatic choice with a 2-minute budget (`--auto 2`);
- the studio's fine-tuning with its defaults (`--strategy fine_tune`);
- fastai 2.8 `vision_learner` with its usual augmentation: the body frozen and `fit_one_cycle(10)`, and
  `fine_tune(N)` (one frozen epoch, then as many body epochs N as the studio's fine-tuning has);
- `bench/probe_loop.py`: embeddings once, then a linear head (what a careful person writes by hand).

fastai is installed into an environment of its own (not a dependency of the studio); it sees the
studio's torch through a .pth line, so both sides run the same torch build and threads.

    python bench/versus_fastai.py [--sets 5,6,7,8,9;doodles] [--sizes 10,40] [--seeds 0,1,2]
"""
import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (BENCH, cpu_threads, data_words, emit, engine_run, ensure_data, markdown_table,  # noqa: E402
                    print_header, publish, run_json, spread)

FASTAI = "fastai==2.8.12"
FASTAI_ENV = Path(tempfile.gettempdir()) / "tlstudio-fastai-venv"

def studio_body_epochs() -> int:
    """The studio's fine-tuning default, given to fastai's fine_tune too (same number of body epochs)."""
    from tlcore.training.strategies import get_strategy

    return get_strategy("fine_tune").default_epochs


def fastai_python() -> Path:
    """fastai's own environment, made once: a venv with fastai from the package index, torch shared."""
    python = FASTAI_ENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", FASTAI_ENV], check=True)
        purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        # The studio's torch and torchvision, seen through a .pth line: the same build on both sides.
        Path(purelib, "studio-torch.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        subprocess.run([python, "-m", "pip", "install", "-q", FASTAI], check=True)
    return python


def auto_run(data: Path, image_size: int) -> dict:
    """`train --auto 2` in a fresh studio home, as every side starts: nothing cached. Its candidates
    train with seed 0; the seeds here differ in the training pictures drawn."""
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-home-") as home:
        return run_json([sys.executable, "-m", "tlcore", "train", data, "--auto", "2", "--quiet", "--image-size",
                         image_size, "--device", "cpu"], dict(os.environ, TLSTUDIO_HOME=home))


def sides(python: Path, data: Path, size: int, seed: int, image_size: int, only: set[str]) -> dict[str, dict]:
    """Each side's result on one set, size and seed (only the named ones, when named); sides run
    interleaved, the machine's drift on all."""
    studio = dict(backbone="mobilenet_v2", image_size=image_size, device="cpu", seed=seed)
    batch = max(2, min(32, size * len(list((data / "train").iterdir())) // 2))  # fastai drops a last partial batch

    def fastai(mode: str, epochs: int) -> dict:
        return run_json([python, BENCH / "fastai_side.py", data, "--mode", mode, "--epochs", epochs, "--image-size",
                         image_size, "--seed", seed, "--batch-size", batch, "--threads", cpu_threads()])

    every = {
        "studio defaults": lambda: engine_run(data, strategy="feature_extraction", epochs=None, **studio),
        "studio --auto 2": lambda: auto_run(data, image_size),
        "studio fine-tuning": lambda: engine_run(data, strategy="fine_tune", epochs=None, **studio),
        "fastai frozen": lambda: fastai("frozen", 10),
        "fastai fine_tune": lambda: fastai("fine_tune", studio_body_epochs()),
        "probe_loop": lambda: run_json([sys.executable, BENCH / "probe_loop.py", data, "--image-size", image_size,
                                        "--threads", cpu_threads()]),
    }
    return {name: run() for name, run in every.items() if not only or name in only}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="5,6,7,8,9;doodles",
                        help="';'-separated: Fashion-MNIST classes, or doodles")
    parser.add_argument("--sizes", default="10,40")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--sides", default="", help="only these sides, comma-separated (e.g. 'studio --auto 2')")
    args = parser.parse_args()
    only = {name.strip() for name in args.sides.split(",") if name.strip()}
    python = fastai_python()
    print_header("The studio against fastai and the hand-written probe", "cpu", vars(args))
    version = subprocess.run([python, "-c", "import fastai; print(fastai.__version__)"], capture_output=True,
                             text=True).stdout.strip()
    print(f"# fastai {version} in {FASTAI_ENV}")
    sizes, seeds = [int(s) for s in args.sizes.split(",")], [int(s) for s in args.seeds.split(",")]
    records = []
    for which in args.sets.split(";"):
        for seed in seeds:
            for size in sizes:
                data = ensure_data(size, 100, seed=seed, classes=which)
                for side, result in sides(python, data, size, seed, args.image_size, only).items():
                    record = dict(set=which, size=size, seed=seed, side=side, best=result["best_val_acc"],
                                  final=result.get("final_val_acc"), process_s=result["process_s"],
                                  train_images_per_s=result.get("train_images_per_s"),
                                  chosen=result.get("auto"))
                    emit(**record)
                    records.append(record)
    text = []
    names = list(dict.fromkeys(r["side"] for r in records))
    for which in args.sets.split(";"):
        mine = [r for r in records if r["set"] == which]
        rows = [[side] + [f"{spread(r['best'] for r in mine if r['side'] == side and r['size'] == size)}; "
                          f"{spread(r['process_s'] for r in mine if r['side'] == side and r['size'] == size)} s"
                          for size in sizes] for side in names]
        text.append(f"{data_words(which)}: best validation accuracy and whole-process seconds, mean (range) over "
                    f"seeds {args.seeds}, 100 validation pictures per class, {args.image_size} px")
        text.append(markdown_table(["side"] + [f"{size} per class" for size in sizes], rows))
    publish("versus_fastai" + ("_" + "_".join(sorted(only)).replace(" ", "").replace("-", "") if only else ""),
            "\n\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
