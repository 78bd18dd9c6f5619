"""Where a generating command's results go: ``-o`` as a directory of numbered results or,
for one result, an image file name; checked before anything loads."""
from __future__ import annotations

import argparse

from ganorama.cli.interrupts import raise_if_interrupted
from ganorama.cli.parsing import raise_usage


class OutputTarget:
    """-o: a directory of numbered results, or (one result) a file name."""

    def __init__(self, path, file_format: str | None, format: str, quiet: bool):
        from pathlib import Path

        self.path = Path(path)
        self.is_file = file_format is not None
        self.format = format
        self.quiet = quiet
        self.directory = self.path.parent if self.is_file else self.path
        self._created: list = []

    @classmethod
    def from_args(cls, args: argparse.Namespace, kind: str, count: int) -> "OutputTarget":
        from pathlib import Path

        from ganorama.formats import format_from_suffix, result_format, suffix_fits, suffix_for

        path = Path(args.outdir)
        file_format = format_from_suffix(path)
        if file_format and count > 1:
            raise_usage(f"-o {args.outdir} names one image file but -n {count} makes {count} results; give a "
                        "directory (results are DIR/N.png)")  # fmt: skip
        if file_format and args.format and not suffix_fits(args.format, path):
            raise_usage(f"--format {args.format} does not match -o {args.outdir}; use a {suffix_for(args.format)} name "
                        "or leave out --format")  # fmt: skip
        try:
            is_existing_file = path.exists() and not path.is_dir()
        except OSError as error:  # a name over 255 bytes, a loop of links...
            raise_usage(f"-o {args.outdir} cannot be used: {error.strerror or error}")
        if not file_format and is_existing_file:
            raise_usage(f"-o {args.outdir} is an existing file, not a directory; give a directory, or a new "
                        ".png/.jpg/.exr/.hdr file name with -n 1")  # fmt: skip
        return cls(path, file_format, result_format(path, args.format), args.quiet)

    def check_request(self, request) -> None:
        from ganorama.outputs import check_result_paths

        if self.is_file:
            check_result_paths(self.path, request.replace(format=self.format))

    def prepare(self) -> None:
        from ganorama.files import prepare_directory

        self._created = prepare_directory(self.directory, "-o")

    def save(self, result, report) -> None:
        from ganorama.outputs import save_numbered_result, save_result_files

        raise_if_interrupted()
        on_written = None if self.quiet else report
        if self.is_file:
            save_result_files(result, self.path, format=self.format, on_written=on_written)
        else:
            save_numbered_result(result, self.path, format=self.format, on_written=on_written)

    def remove_if_empty(self) -> None:
        """Remove the directories made for this run if nothing was written into them."""
        from ganorama.files import remove_created_directories

        remove_created_directories(self._created)
