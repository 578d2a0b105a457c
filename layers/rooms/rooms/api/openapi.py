"""Write or check the committed OpenAPI spec: `python -m rooms.api.openapi --write|--check docs/openapi.json`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rooms.api.resolver import build_resolver, openapi_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the file")
    mode.add_argument("--check", action="store_true", help="fail if the file differs from the code")
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    spec = openapi_json(build_resolver()) + "\n"
    if args.write:
        args.path.write_text(spec)
        return 0
    if not args.path.exists() or args.path.read_text() != spec:
        print(f"{args.path} is stale: run `make openapi` and commit it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
