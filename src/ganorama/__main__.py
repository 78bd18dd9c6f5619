"""``python -m ganorama``: the command line."""
from ganorama.cli import main

raise SystemExit(main())
