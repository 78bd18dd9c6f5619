"""Compatibility shim: the seed's ``python main.py ...`` commands run ``ganorama panorama``."""
import sys

from ganorama.cli import console_main

if __name__ == "__main__":
    console_main(["panorama", *sys.argv[1:]], prog="main.py")
