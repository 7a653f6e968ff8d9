"""`python -m ingest [--data-dir D] PATH...` — the same as `zhitong [--data-dir D] ingest PATH...`."""

from __future__ import annotations

import sys

from cli import main  # an entry point: the one module of ingest allowed to import the CLI

# Options of the root command that users naturally put anywhere; they must precede "ingest".
_ROOT_OPTIONS = {"--data-dir", "--config", "--log-level"}


def _argv(args: list[str]) -> list[str]:
    root: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in _ROOT_OPTIONS:
            root.append(arg)
            if "=" not in arg and i + 1 < len(args):
                root.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return [*root, "ingest", *rest]


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *_argv(sys.argv[1:])]
    main()
