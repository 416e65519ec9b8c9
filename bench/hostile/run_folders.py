"""Class 2 (and the FIFO run files of class 3): the runner and the Runs page beside damaged runs.

Per damage the Runner must construct, tick() must not raise, a new run queued beside it must start
(and, in the shared runs folder, finish), and the damaged run must read as its expected state.
Then the Runs page, one studio home per damaged run, so that a failure is attributed to its run.
The stall watchdog (class 5) is here too: it needs a runner child of its own.
"""
import subprocess
from pathlib import Path

from .bench import Bench
from .checks import add_apptest_case, has_traceback, item_flags, last_line, short
from .damage import place_damaged_run, run_damages


def class_runs(bench: Bench, shared: dict) -> None:
    """Class 2 (and the FIFO run files of 3): the runner beside damaged runs, and the Runs page."""
    case_dir = bench.work / "c2"
    baseline = shared["run"]
    sleeper = subprocess.Popen(["sleep", "600"])  # alive, and no worker of any run
    try:
        damaged_runs(bench, shared, case_dir, run_damages(baseline, sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()


def damaged_runs(bench: Bench, shared: dict, case_dir: Path, damages: list[dict]) -> None:
    baseline = shared["run"]
    for damage in damages:
        damage["apptest_home"] = case_dir / "apptest" / damage["slug"]
        place_damaged_run(baseline, damage["apptest_home"] / "runs", damage)
        home = case_dir / "alone" / damage["slug"] if damage.get("alone") else case_dir / "main"
        damage["home"] = home
        damage["run_id"] = place_damaged_run(baseline, home / "runs", damage)

    together = [d for d in damages if not d.get("alone")]
    items = [dict(name="main", home=str(case_dir / "main"), new_data=str(shared["good"]), wait_s=150, timeout_s=180)]
    items += [dict(name=d["slug"], home=str(d["home"]), new_data=str(shared["good"]), wait_s=8, until_started=True,
                   timeout_s=12 if d.get("fifo") else 20) for d in damages if d.get("alone")]
    with bench.watching(case_dir) as escaped:
        results = bench.run_items("runner", items)
    main = results["main"]
    runner_ok, runner_detail = runner_verdict(main)
    flags = item_flags(main)
    flags["tb"] = flags["tb"] or has_traceback(main.get("worker_logs"))
    for damage in together:
        state = (main.get("runs") or {}).get(damage["run_id"], {}).get("state")
        ok = runner_ok and (state in damage["expect"] if damage["expect"] else state is None)
        bench.add(damage["cls"], "runner", damage["name"], ok, f"reads as {state}; {runner_detail}",
                  escaped=escaped, **flags)
    for damage in damages:
        if not damage.get("alone"):
            continue
        result = results[damage["slug"]]
        ok, detail = runner_verdict(result, must_finish=False)
        state = (result.get("runs") or {}).get(damage["run_id"], {}).get("state")
        ok = ok and state in damage["expect"]
        bench.add(damage["cls"], "runner", damage["name"], ok, f"reads as {state}; {detail}", escaped=escaped,
                  **item_flags(result))

    stall_home = case_dir / "stall"
    with bench.watching(stall_home) as escaped:
        stall = bench.run_items("runner", [dict(name="stall", home=str(stall_home), stall=True,
                                                new_data=str(shared["good"]), timeout_s=40)],
                                TLSTUDIO_STALL_LIMIT_S=5)["stall"]
    bench.add(5, "runner", "stall watchdog: a worker that beats but does not progress is stopped",
              stall.get("fake_killed") and stall.get("state") == "failed" and
              "stopped making progress" in (stall.get("error") or ""),
              f"killed: {stall.get('fake_killed')}; {stall.get('state')}: {short(stall.get('error'), 120)}",
              escaped=escaped, **item_flags(stall))

    # config.json as a FIFO hangs the page where status.json does (listing the runs): one of the two is enough
    apptests = [dict(name=d["slug"], page="runs", home=str(d["apptest_home"]), timeout_s=12 if d.get("fifo") else 30)
                for d in damages if not d["name"].startswith("config.json is a named pipe")]
    apptests.sort(key=lambda item: "named-pipe" in item["name"])  # the ones that may hang go last
    with bench.watching(case_dir) as escaped:
        results = bench.run_items("apptest", apptests, TLSTUDIO_ALLOWED_ROOTS=bench.work)
        # The app's runner starts the worker of the queued run, and the worker outlives the AppTest
        # child: stopped here, its late writes cannot count as files escaped from the next class's case.
        bench.kill_strays()
    for damage in damages:
        if damage["slug"] in results:
            add_apptest_case(bench, damage["cls"], f"Runs page: {damage['name']}", results[damage["slug"]], escaped)


def runner_verdict(result: dict, must_finish: bool = True) -> tuple[bool, str]:
    """Whether the Runner constructed, ticked without raising, and started (and finished) a new run."""
    if result.get("stuck"):
        return False, "the runner hung (timed out)"
    if result.get("crashed") or result.get("exception"):
        return False, f"the runner child failed: {short(result.get('exception') or result.get('log'), 200)}"
    if not result.get("constructed"):
        return False, f"Runner() raised {short(last_line(result.get('construct_error')), 160)}"
    if result.get("tick_error"):
        return False, f"tick() raised {short(last_line(result.get('tick_error')), 160)}"
    if result.get("list_error"):
        return False, f"list_runs() raised {short(last_line(result.get('list_error')), 160)}"
    state = result.get("new_state")
    if must_finish and state != "succeeded":
        return False, f"the new run ended {state}: {short(result.get('new_error'), 120)}"
    if state == "queued":
        return False, "the new run was never started (the queue is blocked)"
    return True, f"Runner ok, new run {'started' if state == 'running' else state}"
