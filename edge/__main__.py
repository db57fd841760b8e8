"""``python -m edge``: the same as the ``edge`` console script."""

from edge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
