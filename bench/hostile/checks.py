"""How a case's outcome becomes a verdict: tracebacks, error lines, refusals and AppTest pages.

Shared by every class of cases so that "passed" means the same thing on every surface: the
expected reason or message, with no traceback, no escaped file and no hang.
"""
from pathlib import Path

from .bench import Bench


def has_traceback(*texts) -> bool:
    return any("Traceback" in (text or "") for text in texts)


def error_lines(text: str) -> list[str]:
    """The error lines of a command: ours ("error: ...") and argparse's ("prog: error: ...")."""
    return [line for line in text.splitlines() if line.startswith("error:") or ": error: " in line]


def short(text, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def last_line(text) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = str(text or "").strip().splitlines()
    return lines[-1] if lines else ""


def skip_reason(result: dict, path: str) -> str | None:
    """Why a scan skipped ``path`` (None when it did not)."""
    return next((reason for where, reason in result.get("skipped", []) if where == path), None)


def item_flags(result: dict) -> dict:
    """The traceback and stuck flags and the peak memory of an item run in a child process."""
    tb = has_traceback(result.get("exception"), result.get("log"), result.get("construct_error"),
                       result.get("tick_error"), result.get("list_error"))
    return {"tb": tb or result.get("crashed", False), "stuck": result.get("stuck", False),
            "peak_mb": result.get("peak_mb")}


def refusal(bench: Bench, cls: int, name: str, cmd, words, *, home: Path | None = None, exit_code: int | None = None,
            timeout: float = 90, also=None) -> dict:
    """A command that must refuse: a non-zero exit (or ``exit_code``), one error line holding every
    one of ``words``, no traceback; ``also(result)`` may add a check of its own, as (ok, words)."""
    with bench.watching(*([home] if home else [])) as escaped:
        result = bench.run(cmd, home=home, timeout=timeout)
    errors = error_lines(result["err"])
    said = errors[0] if len(errors) == 1 else f"{len(errors)} error lines: {result['err'][-300:]}"
    exited = result["rc"] == exit_code if exit_code is not None else result["rc"] not in (0, None)
    ok = exited and len(errors) == 1 and all(word in errors[0] for word in words)
    detail = f"exit {result['rc']}; {short(said, 150)}"
    if also is not None:
        extra_ok, extra = also(result)
        ok, detail = ok and extra_ok, f"{detail}; {extra}"
    if result["stuck"]:
        detail = f"hung (killed after {timeout:.0f} s)"
    bench.add(cls, "cli", name, ok, detail, tb=has_traceback(result["err"], result["out"]), escaped=escaped,
              stuck=result["stuck"], peak_mb=result["peak_mb"])
    return result


def add_apptest_case(bench: Bench, cls: int, name: str, result: dict, escaped, expect=None) -> None:
    """An AppTest case: no exception, no "Something unexpected" box, no timeout; then ``expect``."""
    problems = []
    if result.get("exceptions"):
        problems.append(f"exception: {short(result['exceptions'][0], 160)}")
    if result.get("unexpected"):
        problems.append(f"error box: {short(result['unexpected'], 160)}")
    if result.get("timed_out") or result.get("stuck"):
        problems.append("the page did not finish rendering (timed out)")
    ok, detail = not problems, "; ".join(problems)
    if expect is not None and ok:
        ok, detail = expect(result)
    elif ok:
        detail = f"rendered; runs table: {result.get('statuses')}; errors shown: {short(result.get('errors'), 100)}"
    flags = item_flags(result)
    flags["tb"] = flags["tb"] or bool(result.get("exceptions"))
    flags["stuck"] = flags["stuck"] or bool(result.get("timed_out"))
    bench.add(cls, "apptest", name, ok, detail, escaped=escaped, **flags)
