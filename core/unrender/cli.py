"""The ``unrender`` command line: ``demo``, ``list``, ``dataset``, ``train``, ``eval`` and one sub-command
per registered method.

Learned models (:mod:`unrender.train`)::

    unrender dataset --output shapes --train 400 --val 25 --test 50
    unrender train --model vox --data shapes --output run_vox --minutes 20
    torchrun --nproc_per_node 2 -m unrender train --model vox --data shapes --output run_vox --steps 2000
    unrender eval --data shapes --checkpoint run_vox/checkpoint.pt --output eval

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
    _add_learning_parsers(sub)
    for m in list_methods():
        _add_method_parser(sub, m)
    return parser


_MODEL_KINDS = ("vox", "points", "mesh")


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum`` (argparse turns the error into its one-line message)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, found {text!r}")
        return v
    return parse


_positive_int, _count = _int_at_least(1), _int_at_least(0)


def _add_learning_parsers(sub) -> None:
    """``dataset``, ``train`` and ``eval``: procedural data, training and evaluation of single-view models."""
    ds = sub.add_parser("dataset", help="generate a procedural dataset (meshes, voxels, points, rendered views) for training")
    ds.add_argument("--output", "-o", required=True, help="the dataset folder to create")
    for split, n in (("train", 400), ("val", 25), ("test", 50)):
        ds.add_argument(f"--{split}", type=_count, default=n, help=f"{split} objects per category (default: %(default)s)")
    ds.add_argument("--views", type=_positive_int, default=8, help="rendered views per object (default: %(default)s)")
    ds.add_argument("--categories", default=None, help="comma-separated categories (default: all)")
    ds.add_argument("--seed", type=_count, default=0, help="random seed (default: %(default)s)")
    ds.add_argument("--workers", type=_positive_int, default=1, help="generating processes (default: %(default)s)")
    ds.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    ds.add_argument("--quiet", action="store_true", help="no progress bar")

    tr = sub.add_parser("train", help="train a single-view model (vox, points or mesh) on a dataset; runs under torchrun too")
    tr.add_argument("--model", required=True, choices=_MODEL_KINDS, help="the model kind")
    tr.add_argument("--data", required=True, help="a dataset folder (unrender dataset)")
    tr.add_argument("--output", "-o", required=True, help="the run's folder: checkpoint.pt, last.pt, loss.png, examples.png, ...")
    tr.add_argument("--encoder", choices=("fast", "resnet18"), default="fast", help="image encoder (default: %(default)s)")
    tr.add_argument("--latent", type=_positive_int, default=None, help="latent code size (default: the model's)")
    tr.add_argument("--points", type=_positive_int, default=None, help="surface points per item for the chamfer losses (default: 2048 or all stored)")
    tr.add_argument("--steps", type=_positive_int, default=None, help="optimiser steps (default: 1000 unless --minutes)")
    tr.add_argument("--minutes", type=float, default=None, help="time budget; with --steps, the first reached ends the run")
    tr.add_argument("--batch-size", type=_positive_int, default=32, help="global batch, split over torchrun's processes (default: %(default)s)")
    tr.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default: %(default)s)")
    tr.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                    help="learning rate over the run; cosine decays to 0 over --steps (default: %(default)s)")
    tr.add_argument("--val-every", type=_positive_int, default=100, help="validate every so many steps (default: %(default)s)")
    tr.add_argument("--seed", type=_count, default=0, help="random seed (default: %(default)s)")
    tr.add_argument("--workers", type=_count, default=0, help="DataLoader workers per process (default: %(default)s)")
    tr.add_argument("--threads", type=_count, default=0, help="CPU threads per process, 0: the free cores (default: %(default)s)")
    tr.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="(default: %(default)s)")
    tr.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="the model's floats (default: %(default)s)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --output from its last.pt")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")

    ev = sub.add_parser("eval", help="voxel IoU, chamfer and F1 of single-view checkpoints on a dataset split")
    ev.add_argument("--data", required=True, help="a dataset folder (unrender dataset)")
    ev.add_argument("--checkpoint", nargs="+", action="extend", default=None, metavar="PT",
                    help="checkpoints to evaluate (default: the shipped ones)")
    ev.add_argument("--model", choices=_MODEL_KINDS, default=None,
                    help="only this kind: the checkpoints must be of it (default: any; shipped: all kinds)")
    ev.add_argument("--output", "-o", required=True, help="folder for eval.md, eval.json and f1.png")
    ev.add_argument("--split", default="test", help="(default: %(default)s)")
    ev.add_argument("--limit", type=_positive_int, default=None, help="at most so many objects, over all categories")
    ev.add_argument("--views", type=_positive_int, default=None, help="each object's first so many views (default: all)")
    ev.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="(default: %(default)s)")
    ev.add_argument("--threads", type=_count, default=0, help="CPU threads, 0: the free cores (default: %(default)s)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")


def _dataset(args) -> int:
    from .data import write_dataset
    from .methods import check_output

    out = check_output(args.output)
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise ValueError(f"output: {out} is not empty; give --overwrite to replace it, or another folder")
    categories = [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else None
    info = write_dataset(out, train=args.train, val=args.val, test=args.test, categories=categories, views=args.views,
                         seed=args.seed, workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    splits = ", ".join(f"{k} {v}" for k, v in info["splits"].items())
    print(f"dataset: {len(info['categories'])} categories ({', '.join(info['categories'])}), objects per category: "
          f"{splits}; {info['views']} views each")
    print(f"wrote {out}/dataset.json and {out}/{{{','.join(info['splits'])}}}/*.npz")
    return 0


def _train(args) -> int:
    from .methods import check_output
    from .train import TrainConfig, check_run, dist_info, train

    check_output(args.output)
    steps = args.steps if args.steps is not None or args.minutes is not None else 1000
    config = TrainConfig(kind=args.model, data=args.data, output=args.output, encoder=args.encoder,
                         model={} if args.latent is None else {"latent": args.latent}, batch_size=args.batch_size,
                         points=args.points, lr=args.lr, schedule=args.schedule, steps=steps, minutes=args.minutes, val_every=args.val_every, seed=args.seed,
                         workers=args.workers, threads=args.threads, device=args.device, dtype=args.dtype)
    check_run(config, resume=args.resume)
    main_rank = dist_info().main
    with _Progress("train", args.output, args.quiet or not main_rank) as progress:
        result = train(config, progress=progress, resume=args.resume)
    if main_rank:
        state = "stopped after" if result["stopped"] else "done in"
        print(f"train {args.model}: {state} {result['steps']} steps, {result['minutes']:.2f} min; best val loss "
              f"{result['best_val_loss']:.4g} at step {result['best_step']}")
        print(f"wrote {args.output}/: {', '.join(result['files'])}")
    return 130 if result["stopped"] else 0


def _eval(args) -> int:
    from .data import read_dataset_info
    from .methods import check_output
    from .models import load_checkpoint, shipped_checkpoint
    from .threads import using_threads
    from .train import evaluate

    info = read_dataset_info(args.data)
    if info["splits"].get(args.split, 0) < 1:
        raise ValueError(f"split: {args.data} has no {args.split!r} objects (splits: {info['splits']})")
    check_output(args.output)
    paths = args.checkpoint
    if not paths:
        paths = [shipped_checkpoint(k) for k in ([args.model] if args.model else _MODEL_KINDS)]
        paths = [p for p in paths if p.is_file()] or paths[:1]  # none shipped: the first names the missing file
    for p in paths:
        load_checkpoint(p, kind=args.model)  # every checkpoint checked before any work
    with using_threads(args.threads):
        results = evaluate([str(p) for p in paths], args.data, args.split, output=args.output, limit=args.limit,
                           views=args.views, device=args.device, progress=not args.quiet)
    for name, r in results["models"].items():
        m = r["overall"]
        iou = f"IoU {m['iou']:.3f}, " if "iou" in m else ""
        print(f"eval {name} ({r['kind']}): {iou}chamfer {m['chamfer']:.4f}, F1@0.05 {m['f1@0.05']:.3f} "
              f"over {m['items']} views")
    print(f"wrote {args.output}/: eval.md, eval.json, f1.png")
    return 0


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


def _naming_input_file(args, exc: Exception) -> str:
    """The error text, with the file named when it is about a method input read from a file
    (a method checks a loaded picture as ``image: ...``; the user knows it as the path they gave)."""
    text = str(exc)
    for spec in getattr(getattr(args, "method", None), "inputs", ()):
        path = getattr(args, f"input__{spec.name}", None)
        if path is not None and text.startswith(f"{spec.name}:") and str(path) not in text:
            return f"{spec.name} ({path}){text[len(spec.name):]}"
    return text


_LEARNING = {"dataset": _dataset, "train": _train, "eval": _eval}


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
        if args.command in _LEARNING:
            return _LEARNING[args.command](args)
        return _run_method(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"unrender {args.command}: error: {_naming_input_file(args, exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # writing failed after the checks (disk full, a file removed meanwhile, ...)
        print(f"unrender {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
