"""Making a run: its config checked against the registries and its starting point, then its folder."""
import secrets
import shutil
import time
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.data.manifest import Manifest
from tlcore.people.person import LOCAL, NotVisible, Person
from tlcore.runs.store.folder import RunFolder, resolve_runs_dir
from tlcore.runs.store.owners import NoSuchRun, may_see_run, owner_record


def create_run(config: RunConfig, runs_dir: str | Path | None = None, manifest: Manifest | None = None,
               claimed_by: int | None = None, owner: Person = LOCAL) -> Path:
    """Make a new run folder holding the config, a queued status and where its network comes from.

    Args:
        manifest: the dataset as the person checked it (the Data page); the worker trains on it
            rather than scanning the folder again. Without one the worker scans config.data.
        claimed_by: the pid of a process that trains it at once itself (the CLI), see make_run_folder.
        owner: the person it is made for (in class mode; LOCAL otherwise).

    Returns:
        The run folder's path; its name is the run id.

    Raises:
        ConfigError: the registries refuse the config (an unknown strategy, a missing target...), or
            the run it starts from cannot be built on (unfinished, deleted, another network).
        RuleRefusal: a student's run the class's rules do not allow (too many waiting, a locked setting).
    """
    # Imported here: the registries bring torch, which the pages that only list runs do without.
    from tlcore.runs.store.sources import check_start, new_chain
    from tlcore.training.checks import check_config

    check_config(config)
    if owner.class_name and not owner.is_teacher:
        check_class_rules(config, owner, runs_dir)
    source = check_start(config)
    return make_run_folder(config, runs_dir, manifest, files={RunFolder.STARTED_FROM: new_chain(config, source)},
                           claimed_by=claimed_by, owner=owner)


def check_class_rules(config: RunConfig, student: Person, runs_dir: str | Path | None) -> None:
    """The teacher's rules for a student's new run (tlcore.people.class_rules); RuleRefusal says which.

    The runs it starts from must be ones the student may see (their own, or shared): NoSuchRun otherwise;
    and every folder of pictures it reads, a dataset of theirs or a built-in set (check_pictures_allowed)."""
    from tlcore.people.class_rules import check_run_allowed, load_rules
    from tlcore.runs.store.listing import list_runs

    waiting = sum(1 for run in list_runs(runs_dir, with_notes=False, person=student)
                  if run.owner == student.key and run.state == "queued")
    check_run_allowed(load_rules(student.class_name), config, waiting)
    for source in filter(None, [config.init_from, *config.member_runs]):
        if not may_see_run(student, Path(source)):
            raise NoSuchRun(f"There is no run '{Path(source).name}' that you can start from.")
    check_pictures_allowed(config, student)


def make_run_folder(config: RunConfig, runs_dir: str | Path | None = None, manifest: Manifest | None = None,
                    files: dict[str, object] | None = None, claimed_by: int | None = None,
                    owner: Person = LOCAL) -> Path:
    """Make a new run folder holding the config, a queued status and any other JSON files given.

    create_run checks the config first; call that one.

    Args:
        manifest: the dataset as the person checked it (the Data page); the worker trains on it
            rather than scanning the folder again. Without one the worker scans config.data.
        files: file name (one of RunFolder's) -> JSON value, written with the rest.
        claimed_by: the process that will train it at once (the CLI): the run is made "running" under
            that pid, never "queued", so a server's runner cannot take it in between.
        owner: the person it is made for; written before its status, so no reader lists it ownerless.

    Returns:
        The run folder's path; its name is the run id.
    """
    runs_dir = resolve_runs_dir(runs_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    networks = config.backbone.replace("+", "_")  # a "+" would read as a space in a page address
    run_id = f"{stamp}-{networks}-{config.strategy}-{secrets.token_hex(2)}"
    folder = RunFolder(runs_dir / run_id)
    folder.path.mkdir()
    try:
        folder.save_config(config)
        if manifest is not None:
            manifest.save(folder.checked_manifest_path)
        for name, value in {RunFolder.OWNER: owner_record(owner), **(files or {})}.items():
            folder.write_json(name, value)
        now = time.time()
        status = {"state": "queued", "created_at": now} if claimed_by is None else \
            {"state": "running", "created_at": now, "started_at": now, "heartbeat_at": now, "pid": claimed_by}
        folder.write_status(status)
        folder.events_path.touch()
    except OSError as error:  # a full disk: no half-made run folder is left to read as a damaged run
        shutil.rmtree(folder.path, ignore_errors=True)
        if error.filename is None:  # mkstemp does not say where; the person needs to know
            error.filename = str(runs_dir)
        raise
    return folder.path


def check_pictures_allowed(config: RunConfig, student: Person) -> None:
    """Every folder a student's run reads (its dataset, the target, practice sets, a second dataset) must lie in
    a dataset they may see or in a built-in set; NotVisible, as if there were none, for anyone else's pictures."""
    from tlcore.data.datasets import list_datasets
    from tlcore.data.samples import is_built_in

    theirs = [Path(folder).resolve() for record in list_datasets(student)
              for folder in (record.source, record.root) if folder]
    for folder in filter(None, [config.data, config.target, config.joint_with, *config.meta_sources]):
        resolved = Path(folder).resolve()
        if not (is_built_in(resolved) or any(resolved.is_relative_to(own) for own in theirs)):
            raise NotVisible(f"There are no pictures '{Path(folder).name}' that you can train on.")
