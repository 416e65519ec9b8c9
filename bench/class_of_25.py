"""Issue 28: a class of 25 on one server, each student in a browser context of their own (real Chromium).

A class server (TLSTUDIO_CLASS) on a fresh studio home. First one student alone opens the pages; then
25 students each open their join link, try the built-in sample and start 2 runs with the Train page's
defaults (feature extraction on MobileNetV2), one after another as fast as the browser allows, while the
others' pages stay open. Measured:

  runs          all 50 end, none lost (one folder each), none trained twice (one start and one end event each)
  order         the start order against the fair queue's rule: a run that started while someone served
                less recently had a run waiting is a violation
  waits         each run's wait in line (created -> started), largest and median
  pages         the time a page takes to draw after a click in the sidebar (Runs, Train), median and p95,
                for one person alone and for a student while the class is in
  memory        the server process's resident memory, sampled every second (peak), and the training
                workers' peak
  sign-in       in-process: the token check of a join link and the sign-in check every page run makes

  .venv/bin/python bench/class_of_25.py [--students 25] [--runs-each 2] [--page-samples 6]
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, emit, markdown_table, print_header

sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' helpers drive the app the same way here

CLASS = "Bench class"


def page_times(page, samples: int) -> list[float]:
    """Seconds from a sidebar click to the page drawn and settled, alternating Runs and Train (each page
    opened once first, untimed: its first draw imports what it needs, once per server)."""
    from browser_support import go_to

    for title in ("Runs", "Train"):
        go_to(page, title)
    times = []
    for index in range(samples):
        started = time.perf_counter()
        go_to(page, ("Runs", "Train")[index % 2])
        times.append(time.perf_counter() - started)
    return times


class MemorySampler:
    """Peak resident memory of the server process and of any training worker, sampled every second; and the
    processor time the server spent, to tell its share of the machine from the browsers' (which, in a real
    class, run on the students' own computers)."""

    def __init__(self, server_pid: int):
        self.server_pid, self.server_peak, self.worker_peak = server_pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.marks: dict[str, tuple[float, float]] = {}  # name -> (wall clock, server CPU seconds)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def mark(self, name: str) -> None:
        self.marks[name] = (time.monotonic(), cpu_seconds(self.server_pid))

    def server_cores(self, start: str, end: str) -> float:
        """The server's processor seconds per wall second between two marks (1.0: one core all the time)."""
        (t0, c0), (t1, c1) = self.marks[start], self.marks[end]
        return (c1 - c0) / max(t1 - t0, 1e-9)

    def _run(self):
        while not self._stop.wait(1.0):
            self.server_peak = max(self.server_peak, rss_mb(self.server_pid))
            for pid in Path("/proc").iterdir():
                if pid.name.isdigit() and b"tlcore\x00worker" in _cmdline(pid):
                    self.worker_peak = max(self.worker_peak, rss_mb(int(pid.name)))


def cpu_seconds(pid: int) -> float:
    """User and system processor time of a process so far (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: Path) -> bytes:
    try:
        return (pid / "cmdline").read_bytes()
    except OSError:
        return b""


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def fair_order_violations(statuses: dict[str, dict], owners: dict[str, str]) -> int:
    """Runs that started while another person, served less recently, had a run waiting (created earlier)."""
    started = sorted((s["started_at"], run_id) for run_id, s in statuses.items() if s.get("started_at"))
    violations = 0
    for moment, run_id in started:
        def last_served(owner):
            return max((t for t, r in started if owners[r] == owner and t < moment), default=float("-inf"))
        mine = last_served(owners[run_id])
        waiting = {owners[r] for r, s in statuses.items()
                   if s["created_at"] < moment - 0.5 and (s.get("started_at") or float("inf")) > moment + 0.5}
        violations += any(last_served(other) < mine for other in waiting - {owners[run_id]})
    return violations


def event_kinds(run_dir: Path) -> list[str]:
    """The type of every event the run wrote, in order."""
    from tlcore.runs import RunFolder

    return [event.get("type") for event in RunFolder(run_dir).read_events()[0]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def sign_in_costs(repeats: int = 2000) -> dict:
    """Median microseconds of a join token's check and of the sign-in check each page run makes."""
    from tlcore.people import roster, signins

    links = roster.create_class("Timing class", [f"student{i:02d}" for i in range(25)])
    token = links["students"]["student24"].split("=", 1)[1]  # the last of the roster: the longest search
    kept = signins.sign_in(roster.person_for_token("Timing class", token))

    def median_us(call) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e6
    return {"token_check_us": round(median_us(lambda: roster.person_for_token("Timing class", token)), 1),
            "page_sign_in_check_us": round(median_us(lambda: signins.signed_in_person("Timing class", kept)), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=25)
    parser.add_argument("--runs-each", type=int, default=2)
    parser.add_argument("--page-samples", type=int, default=6)
    args = parser.parse_args()
    print_header("A class on one server: students in browser contexts of their own", "cpu", vars(args))

    from browser_support import CHROMIUM_ARGS, StudioServer, chromium_executable, context_page, go_to, settle
    from browser.steps import expect, start_training, try_the_sample
    from tlcore.people import roster
    from tlcore.people.class_rules import ClassRules, save_rules

    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-class-") as folder:
        home = Path(folder) / "home"
        os.environ["TLSTUDIO_HOME"] = str(home)
        emit(item="sign_in", **sign_in_costs())
        students = [f"student{i:02d}" for i in range(1, args.students + 1)]
        links = roster.create_class(CLASS, students)
        save_rules(CLASS, ClassRules(max_waiting=args.runs_each), roster.find_person(CLASS, "teacher"))
        from playwright.sync_api import sync_playwright

        with StudioServer(home, {"TLSTUDIO_CLASS": CLASS}) as server, sync_playwright() as playwright, \
                MemorySampler(server.process.pid) as memory:
            chromium = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)

            def join(name: str, stack):
                page = stack.enter_context(context_page(chromium, server.url))
                page.goto(links["students"][name])
                expect(page.get_by_test_id("stSidebar").get_by_text(f"{name} · student")).to_be_visible(
                    timeout=120_000)
                settle(page)
                return page

            from contextlib import ExitStack

            with ExitStack() as alone_stack:  # one person alone, before the class comes in
                alone = page_times(join(students[0], alone_stack), args.page_samples)
            emit(item="pages_alone", seconds=[round(t, 2) for t in alone])

            owners, pages, joined_at = {}, [], time.perf_counter()
            memory.mark("class_in")
            with ExitStack() as stack:
                for name in students:
                    page = join(name, stack)
                    try_the_sample(page)
                    for turn in range(args.runs_each):
                        if turn:
                            go_to(page, "Train")
                        owners[start_training(page)] = name
                    pages.append(page)
                    emit(item="student_in", student=name, runs=len(owners),
                         seconds=round(time.perf_counter() - joined_at, 1))
                memory.mark("all_in")
                during = page_times(pages[len(pages) // 2], args.page_samples)  # while the class's runs train
                emit(item="pages_during_class", seconds=[round(t, 2) for t in during])
                deadline = time.monotonic() + 1800
                while time.monotonic() < deadline:
                    statuses = server.run_statuses()
                    if all(statuses.get(r, {}).get("state") in ("succeeded", "failed", "cancelled") for r in owners):
                        break
                    time.sleep(2)
                ended_at = time.perf_counter()
                memory.mark("runs_ended")
            chromium.close()
            statuses = server.run_statuses()
            kinds = {run_id: event_kinds(server.runs_dir / run_id) for run_id in statuses}
    waits = [s["started_at"] - s["created_at"] for s in statuses.values() if s.get("started_at")]
    states = [statuses[r]["state"] for r in owners]
    record = {"runs_asked": len(owners), "run_folders": len(statuses), "succeeded": states.count("succeeded"),
              "ended_twice_or_never": sum(1 for r in owners if kinds[r].count("end") != 1),
              "trained_twice": sum(1 for r in owners if kinds[r].count("dataset") > 1),
              "fair_order_violations": fair_order_violations({r: statuses[r] for r in owners}, owners),
              "largest_wait_s": round(max(waits), 1), "median_wait_s": round(statistics.median(waits), 1),
              "class_minutes": round((ended_at - joined_at) / 60, 1),
              "server_peak_mb": round(memory.server_peak), "worker_peak_mb": round(memory.worker_peak),
              "server_cores_while_joining": round(memory.server_cores("class_in", "all_in"), 2),
              "server_cores_while_training": round(memory.server_cores("all_in", "runs_ended"), 2)}
    emit(item="class", **record)
    print()
    print(markdown_table(["page drawn after a click", "median s", "p95 s"], [
        ["one person alone", f"{statistics.median(alone):.2f}", f"{percentile(alone, 0.95):.2f}"],
        [f"a student, {args.students} in the class, runs training", f"{statistics.median(during):.2f}",
         f"{percentile(during, 0.95):.2f}"]]))
    print()
    print(markdown_table(["measure", "value"], [[key, str(value)] for key, value in record.items()]))


if __name__ == "__main__":
    sys.exit(main())
