"""The ``unrender`` command line."""

from __future__ import annotations

import argparse
import sys

from . import __version__

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unrender", description="Turn pictures back into 3D.")
    parser.add_argument("--version", action="version", version=f"unrender {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="write a tour of the toolkit (meshes, point clouds, pictures) into a folder")
    demo.add_argument("--output", "-o", default="unrender_demo", help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _demo(args) -> int:
    from .demo import run_demo

    summary = run_demo(args.output, seed=args.seed, progress=not args.quiet)
    for name, item in summary["items"].items():
        extra = ", ".join(f"{k}={v}" for k, v in item.items() if k not in ("file", "picture"))
        print(f"{name:34s} {item['file']:28s} {item['picture']:28s} {extra}")
    print(f"wrote {args.output}/summary.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            return _demo(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"unrender {args.command}: error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
