#!/usr/bin/env python3
"""Say what is in pictures with the model exported by Transfer Learning Studio.

    python predict.py photo.jpg [more.jpg ...]
    python predict.py photo.jpg --top 5 --min-confidence 0.6 --json

Run it from anywhere: it reads labels.json, preprocessing.json, answers.json and a model file from
its own folder. A picture unlike every class the model learned is answered "none of these" (its
familiarity, 0 to 1, is below answers.json's familiar_threshold). It needs Pillow, and either
onnxruntime + numpy (for model.onnx) or torch (for model.torchscript.pt or model.pt2):

    pip install pillow onnxruntime numpy        or        pip install pillow torch
"""
import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_FILES = ("model.onnx", "model.torchscript.pt", "model.pt2")  # tried in this order


def prepare(path, size):
    """A picture -> its RGB bytes, prepared as the studio does: upright, shorter side resized to
    size (antialiased bilinear), centre square of size x size."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        opened.seek(0)  # the first frame of an animation
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))  # transparent counts as white
            image = Image.alpha_composite(background, image)
        image = image.convert("RGB")
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if width <= height else (new_long, size)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    if (new_w, new_h) == (width, height):
        square = image.crop((left, top, left + size, top + size))
    else:  # resample only the part of the resized picture that the crop keeps
        sx, sy = width / new_w, height / new_h
        square = image.resize((size, size), Image.Resampling.BILINEAR,
                              box=(left * sx, top * sy, (left + size) * sx, (top + size) * sy))
    return square.tobytes()


class OnnxModel:
    def __init__(self, path):
        import numpy
        import onnxruntime

        self.numpy = numpy
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def answer(self, rgb, size):
        """(logits, familiarity or None when the model does not give it) of one prepared picture."""
        pixels = self.numpy.frombuffer(rgb, dtype=self.numpy.uint8).reshape(1, size, size, 3)
        x = pixels.transpose(0, 3, 1, 2).astype(self.numpy.float32) / 255.0
        outputs = self.session.run(None, {self.input: x})
        return outputs[0][0].tolist(), (float(outputs[1][0]) if len(outputs) > 1 else None)


class TorchModel:
    def __init__(self, path):
        import warnings

        import torch

        self.torch = torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            if path.suffix == ".pt2":
                self.model = torch.export.load(str(path)).module()
            else:
                self.model = torch.jit.load(str(path), map_location="cpu").eval()

    def answer(self, rgb, size):
        """(logits, familiarity or None when the model does not give it) of one prepared picture."""
        torch = self.torch
        pixels = torch.frombuffer(bytearray(rgb), dtype=torch.uint8).view(1, size, size, 3)
        with torch.no_grad():
            outputs = self.model(pixels.permute(0, 3, 1, 2).float() / 255.0)
        if not isinstance(outputs, (tuple, list)):
            return outputs[0].tolist(), None
        return outputs[0][0].tolist(), (float(outputs[1][0]) if len(outputs) > 1 else None)


def load_model(chosen):
    """The chosen model file, or the first one here whose runtime is installed."""
    candidates = [Path(chosen)] if chosen else [HERE / name for name in MODEL_FILES if (HERE / name).exists()]
    if not candidates:
        sys.exit(f"error: no model file ({', '.join(MODEL_FILES)}) next to {Path(__file__).name}")
    missing = []
    for path in candidates:
        try:
            return OnnxModel(path) if path.suffix == ".onnx" else TorchModel(path)
        except ImportError as error:
            missing.append(f"{path.name} needs {error.name}")
    sys.exit("error: " + "; ".join(missing) + ". Install one: pip install pillow onnxruntime numpy "
             "(for model.onnx) or pip install pillow torch (for the .pt and .pt2 files)")


def softmax(logits):
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [v / total for v in exps]


def read_answers():
    """answers.json: the familiarity threshold and the suggested confidence (none in older exports)."""
    try:
        return json.loads((HERE / "answers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Say what is in pictures, with the model in this folder.")
    parser.add_argument("images", nargs="+", help="picture files (JPEG, PNG, ...)")
    parser.add_argument("--top", type=int, default=3, help="how many classes to show per picture (3)")
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                        help="below this probability of the best class (0 to 1, e.g. 0.6) answer "
                             "'not sure' instead of naming a class")
    parser.add_argument("--familiar-threshold", type=float, default=None, metavar="F",
                        help="below this familiarity (0 to 1) answer 'none of these' (default: answers.json's, "
                             "set when the model was trained; 0 never does)")
    parser.add_argument("--model", default=None, help="which model file to use (default: the first of "
                                                       + ", ".join(MODEL_FILES) + " that works here)")
    parser.add_argument("--json", action="store_true", help="one JSON line per picture")
    args = parser.parse_args(argv)
    labels = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
    size = int(json.loads((HERE / "preprocessing.json").read_text(encoding="utf-8"))["image_size"])
    model = load_model(args.model)
    settings = read_answers()
    threshold = settings.get("familiar_threshold") if args.familiar_threshold is None else args.familiar_threshold
    per_class = settings.get("class_min_confidence") or {}  # a confidence asked of some classes instead
    failed = False
    for image in args.images:
        try:
            rgb = prepare(image, size)
        except (OSError, ValueError, SyntaxError) as error:  # Pillow's ways of saying "not a picture I can read"
            failed = True
            said = {"image": image, "error": str(error)}
            print(json.dumps(said) if args.json else f"{image}: cannot be read ({error})")
            continue
        logits, familiar = model.answer(rgb, size)
        if settings.get("familiar_threshold") is None and args.familiar_threshold is None:
            familiar = None  # the model kept no pictures to compare with: its familiarity says nothing
        probabilities = softmax(logits)
        ranked = sorted(zip(labels, probabilities), key=lambda pair: -pair[1])[:max(1, args.top)]
        unfamiliar = familiar is not None and threshold is not None and familiar < threshold
        sure = ranked[0][1] >= per_class.get(ranked[0][0], args.min_confidence) and not unfamiliar
        if args.json:
            said = {"image": image, "label": ranked[0][0] if sure else None, "sure": sure}
            if familiar is not None:
                said["familiar"] = round(familiar, 4)
            said["top"] = [{"label": label, "probability": round(p, 5)} for label, p in ranked]
            print(json.dumps(said))
        else:
            answer = ranked[0][0] if sure else \
                f"none of these (best guess {ranked[0][0]})" if unfamiliar else f"not sure (best guess {ranked[0][0]})"
            others = ", ".join(f"{label} {p:.1%}" for label, p in ranked)
            print(f"{image}: {answer}   [{others}]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
