"""What an export holds for the person who downloads it: README.md and a standalone predict.py.

The README is written for someone who has only the zip: what each file is, the class names, how to
prepare a picture, how to load each format in a few lines of Python, and whether the web page is
there (or why not). predict.py is copied as is; it needs Pillow and either onnxruntime or torch.
"""
from __future__ import annotations

import shutil
from pathlib import Path

PREDICT_SCRIPT = Path(__file__).resolve().parent / "export_files" / "predict.py"

FILE_WORDS = {
    "model.onnx": "the model in ONNX format, for onnxruntime and most other programs (the web page uses it too)",
    "model.torchscript.pt": "the model as TorchScript, for PyTorch: `torch.jit.load`",
    "model.pt2": "the model as a torch.export program, for PyTorch 2: `torch.export.load(...).module()`",
    "labels.json": "the class names, in the order of the model's outputs",
    "preprocessing.json": "how to prepare a picture for the model (the same as below)",
    "answers.json": "the temperature the logits are divided by (inside the model already) and the familiarity "
                    "below which to answer *none of these*",
    "predict.py": "a small program that names what is in pictures: `python predict.py photo.jpg`",
    "README.md": "this page",
}

ONNX_SNIPPET = """\
import json, numpy as np, onnxruntime
from predict import prepare  # predict.py, in this folder: the studio's way to prepare a picture
labels, size = json.load(open("labels.json")), json.load(open("preprocessing.json"))["image_size"]
x = np.frombuffer(prepare("photo.jpg", size), np.uint8).reshape(1, size, size, 3).transpose(0, 3, 1, 2) / np.float32(255)
logits, familiar = (out[0] for out in onnxruntime.InferenceSession("model.onnx").run(None, {"image": x}))
probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()  # softmax
print(labels[probabilities.argmax()], probabilities.max(), "familiar:", familiar)  # see answers.json"""

TORCH_SNIPPET = """\
import json, torch
from predict import prepare  # predict.py, in this folder: the studio's way to prepare a picture
labels, size = json.load(open("labels.json")), json.load(open("preprocessing.json"))["image_size"]
x = torch.frombuffer(bytearray(prepare("photo.jpg", size)), dtype=torch.uint8).view(1, size, size, 3).permute(0, 3, 1, 2) / 255
model = {load}
logits, familiar = model(x)  # softmax makes the logits probabilities; familiar is 0 to 1 (see answers.json)
print(labels[logits.argmax()], logits.softmax(1).max().item(), "familiar:", familiar.item())"""

LOADERS = {"model.torchscript.pt": 'torch.jit.load("model.torchscript.pt")',
           "model.pt2": 'torch.export.load("model.pt2").module()'}


def write_predict_script(out_dir: Path) -> Path:
    """Copy the standalone predict.py into the export folder."""
    return Path(shutil.copyfile(PREDICT_SCRIPT, Path(out_dir) / "predict.py"))


def write_readme(out_dir: Path, *, title: str, labels: list[str], preprocessing: dict, files: list[str],
                 web_problem: str | None, accuracy: float | None = None, tta: bool = False) -> Path:
    """README.md for the export folder.

    Args:
        title: the run's name.
        labels: class names in output order.
        preprocessing: preprocessing_info() of the run.
        files: names of the files in the export (top level; "web/index.html" when the page is there).
        web_problem: why there is no web page, or None when there is one.
        accuracy: best validation accuracy, when known.
        tta: the run was validated with test-time augmentation (each picture with its mirror image).
    """
    path = Path(out_dir) / "README.md"
    path.write_text(readme_text(title=title, labels=labels, preprocessing=preprocessing, files=files,
                                web_problem=web_problem, accuracy=accuracy, tta=tta), encoding="utf-8")
    return path


def readme_text(*, title, labels, preprocessing, files, web_problem, accuracy=None, tta=False) -> str:
    size = preprocessing["image_size"]
    lines = [f"# {title}: an image classifier made with Transfer Learning Studio", "",
             f"It tells apart {len(labels)} classes: " + ", ".join(f"`{label}`" for label in labels) + "."]
    if accuracy is not None:
        lines.append(f"On the pictures held back to check it (validation), it was right {accuracy:.0%} of the time.")
    if tta:
        lines.append("That figure averaged each picture's answer with its mirror image's (test-time augmentation); "
                     "the files here answer for the picture alone. To do the same, average the probabilities of "
                     "the picture and of the picture flipped left to right.")
    lines += ["", "## Try it", ""]
    if web_problem is None:
        lines += ["- **In a web browser, with nothing to install:** open `web/index.html` (double-click it). "
                  "Press *Use the camera* and allow it, or drop or choose a picture; the page names the class "
                  "and how sure it is, says *I'm not sure* below the confidence you set with the slider, and "
                  "*None of these* for a picture unlike every class it learned. "
                  "It works offline: the model runs in the page with ONNX Runtime Web, and no picture leaves "
                  "the computer (the model itself holds the features, not the pictures, of up to 1,024 training "
                  "pictures: what it compares a new picture with to say *none of these*). (Checked in Chromium. On a phone, put the `web` folder on a web server: "
                  "browsers give the camera only to https pages and local files.)"]
    else:
        lines += [f"- **The web page is missing from this export:** {web_problem}."]
    lines += ["- **On the command line:** `python predict.py photo.jpg` (add `--json` for one JSON line per "
              "picture, `--min-confidence 0.6` to answer *not sure* below 60%; a picture unlike every class is "
              "answered *none of these*). It needs Pillow and either "
              "onnxruntime + numpy (`pip install pillow onnxruntime numpy`) or PyTorch (`pip install pillow torch`).",
              "", "## What each file is", "", "| file | what it is |", "|---|---|"]
    for name in files:
        if name in FILE_WORDS:
            lines.append(f"| `{name}` | {FILE_WORDS[name]} |")
    if web_problem is None:
        lines += ["| `web/index.html` | the web page; open it in a browser |",
                  "| `web/model.js` | `model.onnx` again, written as text: a page opened from a file may read "
                  "scripts beside it but no other files |",
                  "| `web/ort.wasm.min.js`, `web/ort-wasm-simd-threaded.*.js` | ONNX Runtime Web, which runs the "
                  "model in the page (MIT licence); the WebAssembly program and its loader are written as "
                  "text for the same reason |"]
    mean = ", ".join(f"{v:g}" for v in preprocessing["mean"])
    std = ", ".join(f"{v:g}" for v in preprocessing["std"])
    lines += ["", "## How to prepare a picture", "",
              "1. Turn it upright (as its EXIF orientation says) and make it RGB; transparent parts become white.",
              f"2. Resize it so that its shorter side is {size} pixels (bilinear, antialiased), then cut out "
              f"the centre square of {size} x {size} pixels.",
              f"3. Make it a float32 array of shape `[1, 3, {size}, {size}]` (channels first: red, green, blue) "
              "with values from 0 to 1 (the pixel values divided by 255).",
              "",
              f"Do **not** subtract a mean or divide by a standard deviation: the model does that inside "
              f"(mean {mean}, std {std}). Several pictures can go in one batch: `[N, 3, {size}, {size}]`.",
              "",
              "The model gives two things. **logits** (raw scores), one per class in the order of `labels.json`, "
              "not probabilities: **apply softmax** to get probabilities that add up to 1. They are already "
              "divided by the temperature fitted after training (`answers.json`), so a probability of 80% is "
              "right about 80% of the time. And **familiar**, one number from 0 to 1 per picture: the share of "
              "the pictures checked after training that looked less like the training pictures than this one. "
              "Below `familiar_threshold` in `answers.json`, answer *none of these*. The ONNX model's input is "
              "named `image`, its outputs `logits` and `familiar`; its metadata holds the class names and "
              "the same settings.",
              "",
              "The web page does the same with the browser's own smooth resize (a canvas `drawImage` with "
              "`imageSmoothingQuality = 'high'`) instead of Pillow's, so its probabilities can differ by a "
              "little from Python's; the class it names rarely does."]
    lines += ["", "## Load it in Python", "",
              "Run these in this folder (they borrow `prepare` from `predict.py`); replace `photo.jpg` by "
              "your picture."]
    if "model.onnx" in files:
        lines += ["", "ONNX, with onnxruntime (`pip install onnxruntime numpy pillow`):", "",
                  "```python", ONNX_SNIPPET, "```"]
    for name, load in LOADERS.items():
        if name in files:
            lines += ["", f"`{name}`, with PyTorch (`pip install torch pillow`):", "",
                      "```python", TORCH_SNIPPET.format(load=load), "```"]
    return "\n".join(lines) + "\n"
