"""The ``storeflow`` command: ``storeflow <command> [options]`` (``storeflow doctor``, …).

Each command is a module with ``main(argv, prog=...) -> int``; add new ones to :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
import sys

#: command -> (module with ``main(argv, prog)``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("storeflow.doctor",
               "check the configured store and POS: reachability, auth, versions, permissions"),
    "migrate": ("storeflow.warehouse.__main__",
                "bring the warehouse schema to the newest revision (run once)"),
    "endpoints": ("storeflow.endpoints",
                  "serve the public endpoints: unsubscribe page, one-click POST, webhooks"),
    "privacy": ("storeflow.privacy.cli", "GDPR: export everything held about one person, or erase it"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: storeflow <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in sorted(COMMANDS.items())]
    lines += ["", "storeflow <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; returns its exit code (2 for an unknown command)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"storeflow: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest, prog=f"storeflow {name}"))


if __name__ == "__main__":
    sys.exit(main())
