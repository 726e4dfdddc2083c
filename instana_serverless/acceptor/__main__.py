"""``python -m instana_serverless.acceptor``: the same as ``instana-serverless acceptor``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .server import add_arguments, serve


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m instana_serverless.acceptor",
        description="Accept Instana bundles locally, validate them and print their traces.",
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
