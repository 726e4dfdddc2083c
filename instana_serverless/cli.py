"""The ``instana-serverless`` command."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict, List, Optional, Tuple

from .acceptor.server import add_arguments as add_acceptor_arguments
from .acceptor.server import serve as serve_acceptor
from .doctor import add_arguments as add_doctor_arguments
from .doctor import run as run_doctor
from .local.run_lambda import add_arguments as add_run_lambda_arguments
from .local.run_lambda import run as run_lambda

Handler = Callable[[argparse.Namespace], int]

# subcommand -> (help, add its arguments, run it)
SUBCOMMANDS: Dict[str, Tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "acceptor": (
        "run a local stand-in for the Instana backend",
        add_acceptor_arguments,
        serve_acceptor,
    ),
    "doctor": (
        "check whether tracing can work with this environment, and say why not",
        add_doctor_arguments,
        run_doctor,
    ),
    "run-lambda": (
        "run a Lambda handler locally on the real runtime client and our Runtime API emulator",
        add_run_lambda_arguments,
        run_lambda,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instana-serverless")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (help_text, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return SUBCOMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
