"""The exported web page: index.html runs model.onnx in the browser with onnxruntime-web, offline.

A page opened by double-click (file://) may load ``<script src>`` files beside it but may not
``fetch()`` them or ``import()`` modules (Chromium refuses both, checked), so the model, the
onnxruntime-web wasm binary and its loader are written as small scripts that hold base64 text;
the page decodes them and hands them to onnxruntime-web as bytes (``env.wasm.wasmBinary``) and a
data: URL (``env.wasm.wasmPaths.mjs``). One thread: several would need cross-origin isolation.
"""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from tlcore.serve.webvendor import WebRuntime

TEMPLATE = Path(__file__).resolve().parent / "export_files" / "index.html"
DEFAULT_MIN_CONFIDENCE = 0.5
WEB_FOLDER = "web"


def write_web_page(out_dir: Path, onnx_file: Path, labels: list[str], image_size: int, title: str,
                   runtime: WebRuntime, answers: dict | None = None) -> dict[str, Path]:
    """Write ``web/`` (index.html and the scripts it loads) into out_dir.

    Args:
        out_dir: the export folder.
        onnx_file: the exported ONNX model (float RGB [N, 3, S, S] in [0, 1] -> logits, familiarity).
        labels: class names in the model's output order.
        image_size: S, the side of the square the model takes.
        title: the run's name, shown on the page.
        runtime: the checked onnxruntime-web files (webvendor.find_web_runtime).
        answers: answers.json's settings: familiar_threshold (below it the page answers "None of these";
            None never does), min_confidence (the slider's start), class_min_confidence (some classes'
            own, in the slider's place).

    Returns:
        file name inside ``web/`` -> path written.
    """
    folder = Path(out_dir) / WEB_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    answers = answers or {}
    config = {"labels": list(labels), "image_size": int(image_size), "title": title,
              "min_confidence": answers.get("min_confidence", DEFAULT_MIN_CONFIDENCE),
              "familiar_threshold": answers.get("familiar_threshold"),
              "class_min_confidence": answers.get("class_min_confidence") or {}, "ort_version": runtime.version}
    # "<" escaped: a class named "</script>" must stay text inside the JSON block.
    page = TEMPLATE.read_text(encoding="utf-8").replace("{{CONFIG}}", json.dumps(config).replace("<", "\\u003c"))
    written = {"index.html": folder / "index.html"}
    written["index.html"].write_text(page, encoding="utf-8")
    written["ort.wasm.min.js"] = Path(shutil.copyfile(runtime.path("ort.wasm.min.js"), folder / "ort.wasm.min.js"))
    for name, variable, source in (
            ("ort-wasm-simd-threaded.wasm.js", "ORT_WASM_BASE64", runtime.path("ort-wasm-simd-threaded.wasm")),
            ("ort-wasm-simd-threaded.mjs.js", "ORT_LOADER_BASE64", runtime.path("ort-wasm-simd-threaded.mjs")),
            ("model.js", "MODEL_BASE64", Path(onnx_file))):
        written[name] = folder / name
        write_base64_script(written[name], variable, source.read_bytes())
    return written


def write_base64_script(path: Path, variable: str, data: bytes) -> None:
    """A classic script that sets ``window.<variable>`` to the base64 text of data."""
    with open(path, "w", encoding="ascii") as script:
        script.write(f"window.{variable} = \"")
        script.write(base64.b64encode(data).decode("ascii"))
        script.write("\";\n")
