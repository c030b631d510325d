"""The ``unrender`` command line: ``demo``, ``list`` and one sub-command per registered method.

Method sub-commands are generated from the registry::

    unrender list
    unrender deform-mesh --input target.obj --output fit --level 4 --steps 800 --seed 0
    unrender fit-points --example --output fit_points
    unrender deform-mesh --help          # every parameter with its range and default

Bad input (missing file, NaN coordinates, unknown or out-of-range parameter,
an output folder that cannot be written) prints one line naming the problem
and exits with status 2 before any work, writing nothing. The first Ctrl-C
during a fit says which step is kept and stops it at the next step: the best
step so far is written and the exit status is 130; a second Ctrl-C quits at
once (status 130), leaving the files already written whole.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from . import __version__

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2, no usage dump)."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _method_help(p) -> str:
    rng = p.range_text()
    default = p.default if p.type is not str else repr(p.default)
    return f"{p.help} ({rng + '; ' if rng else ''}default: {default})".replace("%", "%%")


def _add_method_parser(sub, m) -> None:
    ps = sub.add_parser(
        m.id,
        help=m.label + ": " + m.description.split(".")[0],
        description=m.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ins = ps.add_argument_group("inputs (files)")
    for i, spec in enumerate(m.inputs):
        from .methods.inputs import INPUT_SUFFIXES

        flags = [f"--{spec.name.replace('_', '-')}"] + (["--input", "-i"] if i == 0 and spec.name != "input" else [])
        suffixes = sorted({s for k in spec.kinds for s in INPUT_SUFFIXES[k]})
        need = "required unless --example" if spec.required else "optional"
        ins.add_argument(*flags, dest=f"input__{spec.name}", metavar="PATH",
                         help=f"{spec.help} [{' or '.join(spec.kinds)}: {' '.join(suffixes)}; {need}]")
    ins.add_argument("--example", action="store_true", help="run on a generated example instead of (or under) the input files")
    params = ps.add_argument_group("parameters")
    for p in m.all_params():
        if p.type is bool:
            params.add_argument(p.flag, dest=f"param__{p.name}", action=argparse.BooleanOptionalAction,
                                default=None, help=_method_help(p))
        else:
            metavar = "{" + ",".join(p.choices) + "}" if p.choices else p.type.__name__.upper()
            params.add_argument(p.flag, dest=f"param__{p.name}", metavar=metavar, default=None, help=_method_help(p))
    outs = ps.add_argument_group("output")
    outs.add_argument("--output", "-o", default=f"unrender_{m.id.replace('-', '_')}",
                      help="output folder (default: %(default)s)")
    outs.add_argument("--no-pictures", action="store_true", help="skip the before/after picture and the GIF")
    outs.add_argument("--up-axis", choices=("auto", "y", "z"), default="auto",
                      help="up axis of the pictures: y (Blender's OBJ export), z (Blender); auto: y for .obj input files, z otherwise")
    outs.add_argument("--quiet", action="store_true", help="no progress bar")
    ps.set_defaults(method=m)


def build_parser() -> argparse.ArgumentParser:
    from .methods import list_methods

    parser = _Parser(prog="unrender", description="Turn pictures back into 3D.")
    parser.add_argument("--version", action="version", version=f"unrender {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = sub.add_parser("demo", help="write a tour of the toolkit (meshes, point clouds, fits, pictures) into a folder")
    demo.add_argument("--output", "-o", default="unrender_demo", help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("list", help="list the methods (built in and plugins) with their inputs and parameters")
    for m in list_methods():
        _add_method_parser(sub, m)
    return parser


def _demo(args) -> int:
    from .demo import run_demo
    from .methods import check_output

    check_output(args.output)
    summary = run_demo(args.output, seed=args.seed, progress=not args.quiet)
    for name, item in summary["items"].items():
        extra = ", ".join(f"{k}={v}" for k, v in item.items() if k not in ("file", "picture"))
        print(f"{name:34s} {item['file']:28s} {item['picture']:28s} {extra}")
    print(f"wrote {args.output}/summary.json")
    return 0


def _list() -> int:
    from .methods import list_methods, plugin_errors

    for m in list_methods():
        ins = ", ".join(f"{i.name} ({'|'.join(i.kinds)}{'' if i.required else ', optional'})" for i in m.inputs)
        outs = ", ".join(f"{o.name} ({o.kind})" for o in m.outputs)
        print(f"{m.id:16s} {m.label}: {m.description.split('.')[0]}.")
        print(f"{'':16s} inputs: {ins}; outputs: {outs}")
        print(f"{'':16s} parameters: " + ", ".join(f"{p.name}={p.default!r}" for p in m.all_params()))
    for err in plugin_errors():
        print(f"unrender list: warning: skipped {err}", file=sys.stderr)
    return 0


def _gather(args):
    """Inputs and parameters of a method sub-command, all checked before anything is written."""
    from .methods import check_inputs, load_input, resolve_params

    m = args.method
    given = {p.name: getattr(args, f"param__{p.name}") for p in m.all_params()}
    params = resolve_params(m, {k: v for k, v in given.items() if v is not None})
    inputs = dict(m.example_inputs(params["seed"])) if args.example else {}
    for spec in m.inputs:
        path = getattr(args, f"input__{spec.name}")
        if path is not None:
            inputs[spec.name] = load_input(spec, path)
    missing = [s for s in m.inputs if s.required and s.name not in inputs]
    if missing:
        s = missing[0]
        raise ValueError(f"{s.name}: missing input file (give {'--input or ' if s is m.inputs[0] else ''}"
                         f"--{s.name.replace('_', '-')} PATH, or --example)")
    check_inputs(m, inputs, params["device"])
    return m, inputs, params


def _up_axis(args) -> str:
    """``--up-axis``, with ``auto`` resolved: y when an input file is an OBJ (Blender writes them Y-up), else z."""
    if args.up_axis != "auto":
        return args.up_axis
    paths = [getattr(args, f"input__{s.name}") or "" for s in args.method.inputs]
    return "y" if any(str(p).lower().endswith(".obj") for p in paths) else "z"


class _Progress:
    """tqdm bar fed by the method's progress callback, and what Ctrl-C does during a run.

    The first Ctrl-C says in one line what is kept (the best step so far, which
    the method's :class:`~unrender.methods.Tracker` reports through
    :meth:`on_best`) and asks the job to stop at its next step; the result is
    then written. A second Ctrl-C quits at once with status 130: files already
    written are whole (:func:`~unrender.methods.save.save_result` renames each
    into place) and the one being written is removed.
    """

    def __init__(self, command: str, output, quiet: bool):
        from tqdm import tqdm

        self.command, self.output = command, output
        self.bar = tqdm(total=0, desc=command, unit="step", disable=quiet, dynamic_ncols=True)
        self.stop = False
        self.saving = False
        self.best: tuple[int, float] | None = None
        self._old = None

    def _say(self, line: str) -> None:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except RuntimeError:  # the signal came in the middle of a write to stderr
            os.write(2, (line + "\n").encode())

    def _interrupt(self, signum, frame) -> None:
        if self.stop:  # second Ctrl-C: quit now, leaving only whole files
            from .methods import discard_partial_files

            discard_partial_files()
            self._say(f"\nunrender {self.command}: interrupted again: quitting; the files already in "
                      f"{self.output}/ are whole")
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError, RuntimeError):
                    pass
            os._exit(130)
        self.stop = True
        if self.saving:
            what = f"finishing writing the result to {self.output}/"
        elif self.best is not None:
            what = (f"stopping; saving the best step so far (step {self.best[0]}, loss {self.best[1]:.4g}) "
                    f"to {self.output}/")
        else:
            what = f"stopping; saving the result so far to {self.output}/"
        self._say(f"\nunrender {self.command}: Ctrl-C: {what} (Ctrl-C again to quit at once)")

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._interrupt)
        except ValueError:  # not in the main thread
            self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        self.bar.close()

    def on_best(self, step: int, loss: float) -> None:
        """The step (1-based) a cancel would keep, and its loss (called by the method's Tracker)."""
        self.best = (step, loss)

    def __call__(self, step: int, total: int, loss: float, preview=None) -> bool:
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = step
        self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        self.bar.refresh()
        return not self.stop


def _run_method(args) -> int:
    from .methods import check_output, run_method, save_result
    from .methods.pictures import pictures_up_axis

    check_output(args.output)
    m, inputs, params = _gather(args)
    with _Progress(m.id, args.output, args.quiet) as progress:
        result = run_method(m, inputs, params, progress)
        progress.bar.close()
        progress.saving = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said below, in one line each
            with pictures_up_axis(_up_axis(args)):
                summary = save_result(m, inputs, result, args.output, pictures=not args.no_pictures)
    for note in summary["warnings"]:
        print(f"unrender {m.id}: warning: {note}", file=sys.stderr)
    metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.metrics.items())
    state = "cancelled after" if result.cancelled else "done in"
    print(f"{m.id}: {state} {result.steps} steps, {result.seconds:.2f} s; {metrics}")
    if result.saved_step is not None:
        print(f"{m.id}: saved the best step, {result.saved_step + 1}, loss {result.history[result.saved_step]:.4g}")
    files = [f for fs in summary["files"].values() for f in fs]
    print(f"wrote {args.output}/: {', '.join(files)}, summary.json")
    return 130 if result.cancelled and progress.stop else 0


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ValueError as exc:  # a method spec that does not hold together
        print(f"unrender: error: {exc}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "list":
            return _list()
        return _run_method(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"unrender {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # writing failed after the checks (disk full, a file removed meanwhile, ...)
        print(f"unrender {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
