"""Find statements lost in trailing comments: ``print(x)  # note    assert y > 2``.

A line break deleted by an editor can glue the next statement onto a trailing comment,
where it silently stops running (this once disabled a test's main assertion). ruff's
ERA001 looks at whole-line comments only, so this checks the comments that follow code:
a comment (or a part of it separated by two or more spaces or a semicolon) that parses
as an assert, return, raise, assignment, import, call or block statement is reported.

Usage: python scripts/check_code_in_comments.py [PATH ...]   (default: src tests benchmarks scripts)
Exit status 1 when something is found, with one ``file:line: text`` line per finding.
"""
from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

# Statement kinds that a prose comment does not parse as. Plain names, annotations
# ("fmt: skip", "noqa: E501") and other bare expressions are left alone.
_CODE_STATEMENTS = (ast.Assert, ast.Return, ast.Raise, ast.Assign, ast.AugAssign, ast.Import, ast.ImportFrom,
                    ast.If, ast.For, ast.While, ast.With, ast.FunctionDef, ast.ClassDef, ast.Delete)  # fmt: skip
_SEPARATORS = re.compile(r"\s{2,}|;\s*")


def looks_like_code(comment: str) -> bool:
    """Whether a comment's text (without '#') holds a statement."""
    for part in [comment, *_SEPARATORS.split(comment)]:
        part = part.strip()
        if not part or part.startswith(("fmt:", "noqa", "type:", "pragma")):
            continue
        try:
            tree = ast.parse(part)
        except SyntaxError:
            continue
        for statement in tree.body:
            if isinstance(statement, _CODE_STATEMENTS):
                return True
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) and "(" in part:
                call = statement.value.func
                # "see foo(x)" does not parse; "print(x)" and "obj.method(y)" do.
                if isinstance(call, (ast.Name, ast.Attribute)) and " " not in part.split("(")[0]:
                    return True
    return False


def trailing_comments(source: str):
    """(line number, comment text) of every comment that follows code on its line."""
    code_on_line: set[int] = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return
    for token in tokens:
        if token.type == tokenize.COMMENT:
            if token.start[0] in code_on_line:
                yield token.start[0], token.string[1:]
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENCODING, tokenize.ENDMARKER):  # fmt: skip
            code_on_line.update(range(token.start[0], token.end[0] + 1))


def findings(paths: list[Path]):
    for root in paths:
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for file in files:
            for line, comment in trailing_comments(file.read_text(encoding="utf-8")):
                if looks_like_code(comment):
                    yield f"{file}:{line}: code in a trailing comment: #{comment.rstrip()}"


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv] or [Path(name) for name in ("src", "tests", "benchmarks", "scripts")]
    found = list(findings([path for path in paths if path.exists()]))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
