"""vendor, backbones, weights and worker: what setup fetches, what is installed, and the runner's worker."""
import sys


def add_tool_parsers(sub) -> None:
    """The vendor, backbones, weights and worker commands."""
    vendor = sub.add_parser("vendor", help="fetch onnxruntime-web (pinned, checked) for the exported web page")
    vendor_sub = vendor.add_subparsers(dest="action", required=True)
    vendor_sub.add_parser("fetch", help="npm pack onnxruntime-web into vendor/ unless it is already there")

    sub.add_parser("backbones", help="the backbone catalog and whether each one's weights are available")

    weights = sub.add_parser("weights", help="pre-fetch pretrained weights")
    weights_sub = weights.add_subparsers(dest="action", required=True)
    fetch = weights_sub.add_parser("fetch")
    fetch.add_argument("names", nargs="+")

    worker = sub.add_parser("worker", help="execute one run folder (started by the app's runner)")
    worker.add_argument("run_dir", nargs="?")
    worker.add_argument("--standby", metavar="TAG", default=None,
                        help="wait, imports done, for the run folder on stdin (the runner's warm worker)")
    worker.add_argument("--no-summary", action="store_true",
                        help="print no closing JSON line (a process of a run that another command reports)")


def command_vendor(args) -> int:
    from tlcore.errors import describe_os_error
    from tlcore.serve.webvendor import PACKAGE, VendorUnavailable, fetch_web_runtime

    try:
        runtime = fetch_web_runtime()
    except VendorUnavailable as problem:
        print(f"warning: {problem}. Exported models will come without their web page.", file=sys.stderr)
        return 1
    except OSError as error:  # vendor/ cannot be written: the system's words, and where
        print(f"warning: {describe_os_error(error)} Exported models will come without their web page.",
              file=sys.stderr)
        return 1
    print(f"{PACKAGE} {runtime.version}: {runtime.folder}")
    return 0


def command_backbones(args) -> int:
    from tlcore.models.backbones import list_backbones
    from tlcore.models.weights import weights_status

    print(f"{'name':24} {'params':>8} {'top-1':>6} {'dim':>5}  weights")
    for spec in list_backbones():
        status = weights_status(spec.name)
        state = f"available ({status.source})" if status.available else "not available"
        print(f"{spec.name:24} {spec.params_m:7.1f}M {spec.imagenet_top1:6.1f} {spec.feature_dim:5d}  {state}")
    return 0


def command_weights(args) -> int:
    from tlcore.models.weights import fetch_weights

    for name in args.names:
        path = fetch_weights(name)
        print(f"{name}: {path}")
    return 0


def command_worker(args) -> int:
    from tlcore.runs.supervision.launch import run_worker  # torch and the engine: what a standby has ready

    if args.standby:
        from tlcore.runs.supervision.standby import wait_for_run, warm_up

        warm_up()
        run_dir = wait_for_run()
        return 0 if run_dir is None else run_worker(str(run_dir))
    if not args.run_dir:
        print("error: worker needs a run folder (or --standby).", file=sys.stderr)
        return 2
    return run_worker(args.run_dir, summary=not args.no_summary)
