"""Compatibility shim: the seed's ``python main.py ...`` commands run ``ganorama panorama``."""
import sys

from ganorama.cli import main

if __name__ == "__main__":
    sys.exit(main(["panorama", *sys.argv[1:]], prog="main.py"))
