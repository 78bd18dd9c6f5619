"""Compatibility shim: the seed's ``python bigimg.py ...`` commands run ``ganorama bigimg``."""
import sys

from ganorama.cli import console_main

if __name__ == "__main__":
    console_main(["bigimg", *sys.argv[1:]], prog="bigimg.py")
