#!/usr/bin/env python3
"""Regenerate ``src/ganorama/models/data/imagenet_classes.tsv`` from the ``timm`` wheel.

timm ships the 1000 ImageNet-1k WordNet ids in class order plus the WordNet lemma and
definition of every synset as plain text files. We read those files straight from the
installed package directory, so only timm's files are needed (``pip install timm
--no-deps`` is enough) and ganorama itself never depends on timm.

Usage: python scripts/make_imagenet_classes.py [--timm-info DIR] [--output PATH]
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

NUM_CLASSES = 1000
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src/ganorama/models/data/imagenet_classes.tsv"
HEADER = ("id", "wnid", "names", "definition")


def timm_info_dir() -> Path:
    """``timm/data/_info`` of the installed timm, found without importing timm (slow, pulls torch)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("timm is not installed: pip install timm --no-deps")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"


def read_synsets(path: Path) -> list[str]:
    wnids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(wnids) != NUM_CLASSES or len(set(wnids)) != NUM_CLASSES:
        sys.exit(f"{path}: expected {NUM_CLASSES} distinct WordNet ids, found {len(wnids)}")
    return wnids


def read_mapping(path: Path) -> dict[str, str]:
    """``wnid<TAB>text`` lines -> {wnid: text}."""
    mapping = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            wnid, _, text = line.partition("\t")
            mapping[wnid.strip()] = " ".join(text.split())  # one line, no stray tabs
    return mapping


def build_rows(info: Path) -> list[tuple[int, str, str, str]]:
    wnids = read_synsets(info / "imagenet_synsets.txt")
    lemmas = read_mapping(info / "imagenet_synset_to_lemma.txt")
    definitions = read_mapping(info / "imagenet_synset_to_definition.txt")
    missing = [wnid for wnid in wnids if not lemmas.get(wnid) or not definitions.get(wnid)]
    if missing:
        sys.exit(f"no lemma or definition for {len(missing)} synsets, e.g. {missing[:3]}")
    return [(index, wnid, lemmas[wnid], definitions[wnid]) for index, wnid in enumerate(wnids)]


def write_tsv(rows: list[tuple[int, str, str, str]], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        # QUOTE_NONE: the data has no tabs or newlines, so the file stays greppable as-is.
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timm-info", type=Path, default=None, help="timm's data/_info directory")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="TSV file to write")
    args = parser.parse_args(argv)
    rows = build_rows(args.timm_info or timm_info_dir())
    write_tsv(rows, args.output)
    print(f"wrote {len(rows)} classes to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
