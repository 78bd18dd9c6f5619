"""``python -m ganorama``: the command line."""
from ganorama.cli import console_main

console_main()
