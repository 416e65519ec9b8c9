"""Command line: the same engine as the app, without a browser.

    python -m tlcore train DATA --backbone mobilenet_v2 --strategy feature_extraction --epochs 10
    python -m tlcore train DATA --strategy l2_sp --l2sp-alpha 0.1 --l2sp-beta 0.01
    python -m tlcore train DATA --strategy domain_adaptation --target PICTURES_WHERE_IT_WILL_BE_USED
    python -m tlcore train DATA --strategy fine_tune --init-from RUN_ID   (start from one of your runs)
    python -m tlcore train DATA --strategy fine_tune --joint-with SECOND_DATA   (two tasks, one network)
    python -m tlcore train DATA --strategy meta_learning --meta-source OTHER_DATA[,MORE]   (practise first)
    python -m tlcore predict RUN_DIR|EXPORT_DIR|EXPORT.zip IMAGE... [--min-confidence 0.6]
    python -m tlcore export RUN_DIR [--out DIR]
    python -m tlcore explain RUN_DIR picture.jpg --out overlay.png [--class NAME]   (Grad-CAM)
    python -m tlcore check-labels DATA       (labels that look wrong, the most suspicious first)
    python -m tlcore vendor fetch            (onnxruntime-web for the exported web page; needs npm)
    python -m tlcore backbones
    python -m tlcore weights fetch mobilenet_v2 efficientnet_lite0
    python -m tlcore worker RUN_DIR          (used by the app's runner)

The commands themselves live in tlcore/cli/; this module turns their errors into exit codes.
"""
import sys

from tlcore.cli.commands import COMMANDS, build_parser
from tlcore.cli.options import UserError
from tlcore.cli.terminal import spelled_out_stderr
from tlcore.cli.tools import command_vendor


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Setup runs `vendor fetch` every time: it must not wait for torch, which the registries bring.
    args = build_parser(with_registries=argv[:1] != ["vendor"]).parse_args(argv)
    if args.command == "vendor":  # setup runs it every time: it must not wait for torch to import
        return command_vendor(args)
    with spelled_out_stderr():  # a folder's name in an error line must never drive the terminal
        return _run(args)


def _run(args) -> int:
    """The command's exit code, its errors said in words."""
    from tlcore.errors import InputError, describe_os_error
    from tlcore.models.weights import WeightsUnavailable

    try:
        return COMMANDS[args.command](args)
    except (UserError, InputError, WeightsUnavailable) as exc:  # written for people: said as it is
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be written, a full disk: the system's words, and where
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: the computer ran out of memory; try smaller images or a smaller network.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
