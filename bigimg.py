"""Compatibility shim: the seed's ``python bigimg.py ...`` commands run ``ganorama bigimg``."""
import sys

from ganorama.cli import main

if __name__ == "__main__":
    sys.exit(main(["bigimg", *sys.argv[1:]], prog="bigimg.py"))
