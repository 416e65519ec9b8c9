"""The report: a table of every case, the totals by class and by surface, the failures, the limits.

The totals leave skipped cases out (a tmpfs that could not be mounted, a file this machine could
not make), so "passed" is always out of the cases that ran.
"""
from common import markdown_table

from .bench import Bench
from .checks import short

CLASS_NAMES = {1: "images", 2: "damaged run folders", 3: "special files (FIFO)", 4: "full disk",
               5: "limits", 6: "wording"}
TOTALS = ["cases", "passed", "failed", "tracebacks", "files escaped", "stuck", "peak MB"]


def report(bench: Bench, limits: dict, seconds: float) -> bool:
    """Print every case, the totals and the limits; True when every case that ran passed."""
    rows = [[c["n"], c["class"], c["surface"], short(c["case"], 60),
             {True: "pass", False: "FAIL", None: "skipped"}[c["passed"]], "yes" if c["traceback"] else "",
             "yes" if c["escaped"] else "", "yes" if c["stuck"] else "", c["peak_mb"] or "", short(c["detail"], 90)]
            for c in bench.cases]
    print()
    print(markdown_table(["#", "class", "surface", "case", "result", "traceback", "escaped", "stuck", "peak MB",
                          "detail"], rows))
    counted = [c for c in bench.cases if c["passed"] is not None]
    totals = totals_row("total", counted)
    by_class = [totals_row(f"{cls}. {title}", [c for c in counted if c["class"] == cls])
                for cls, title in CLASS_NAMES.items()]
    surfaces = sorted({c["surface"] for c in counted}, key=[c["surface"] for c in counted].index)
    by_surface = [totals_row(surface, [c for c in counted if c["surface"] == surface]) for surface in surfaces]
    print()
    print(markdown_table(["class", *TOTALS], by_class + [totals]))
    print()
    print(markdown_table(["surface", *TOTALS], by_surface + [totals]))
    skipped = len(bench.cases) - len(counted)
    print(f"\n{len(counted)} cases ({skipped} skipped), {totals[2]} passed, {totals[3]} failed; tracebacks "
          f"{totals[4]}, files escaped {totals[5]}, stuck {totals[6]}; peak memory {totals[7]} MB (importing torch "
          f"alone: {bench.torch_mb or 0:.0f} MB); fake gs ran: {bench.gs_ran()}; {seconds:.0f} s")
    failed = [c for c in counted if not c["passed"]]
    if failed:
        print("\nFailed:")
        for case in failed:
            print(f"  #{case['n']} [{case['class']}/{case['surface']}] {case['case']}: {short(case['detail'], 300)}")
    print("\nLimits the studio enforces:")
    print(limits_table(limits))
    return not failed


def totals_row(title: str, cases: list[dict]) -> list:
    """One row of the totals: cases, passed, failed, tracebacks, escaped, stuck and the highest peak."""
    return [title, len(cases), sum(c["passed"] for c in cases), sum(not c["passed"] for c in cases),
            sum(c["traceback"] for c in cases), sum(c["escaped"] for c in cases), sum(c["stuck"] for c in cases),
            max((c["peak_mb"] or 0 for c in cases), default=0)]


def limits_table(limits: dict) -> str:
    """The limits the studio enforces, as the header child read them from its modules."""
    stalls = ", ".join(f"{stage} {limit_s / 60:.0f} min" for stage, limit_s in limits["stall_limits_s"].items())
    return markdown_table(["limit", "value"], [
        ["image pixels", f"{limits['max_image_pixels'] / 1e6:g} MP"],
        ["image formats decoded", ", ".join(limits["formats"])],
        ["dataset size (TLSTUDIO_MAX_DATASET_MB)", f"{limits['max_dataset_mb']:,.0f} MB"],
        ["zip ratio (TLSTUDIO_MAX_ZIP_RATIO)", f"{limits['max_zip_ratio']:g}x, above {limits['ratio_from_mb']:.0f} MB"],
        ["zip entries", f"{limits['max_zip_entries']:,}"],
        ["free space kept", f"{limits['margin_mb']:.0f} MB"],
        ["stall limits (TLSTUDIO_STALL_LIMIT_S)", f"{stalls}, other {limits['default_stall_s'] / 60:.0f} min"],
        *[[f"weights file, {name} ({params:.1f} M params)", f"{mb:,.0f} MB"]
          for name, (params, mb) in limits["weights_mb"].items()],
    ])
