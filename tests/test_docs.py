"""The documentation cannot rot: every Python example in README.md and docs/*.md runs, every
``gatecast ...`` command line in them parses with the CLI as it is, every link between pages
resolves, cli.md names every command and option, and the README stays an entry point.

- Python: each page's ```python blocks run in order in one namespace, in a fresh temporary folder
  (so a page may save a model in one block and load it in the next). A block preceded by
  ``<!-- docs-test: skip (why) -->`` is not run; the reason must be given.
- Command lines: every line of a ```bash, ```console (after its ``$`` prompt) or ```sh block
  that runs ``gatecast`` (also after ``|``, ``&&`` or ``VAR=value``) is parsed by click's
  ``make_context`` on its command, without running it: an unknown, renamed or mistyped option, or
  a value of the wrong type, fails. A ``...`` token stands for options left out and ends the line.
- Links: every relative link from a page to a page, image or heading anchor must exist.
"""

from __future__ import annotations

import re
import shlex
import textwrap
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 200

SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*(?P<why>\(.*?\))?\s*-->")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
SHELL = {"bash", "console", "sh", "shell"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the first line of code (1-based)
    lang: str
    code: str
    skip: str | None  # the reason given in a skip marker; None: run it


def _blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page`` (indented ones in lists included)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening["fence"]
        before = next((x for x in reversed(lines[:i]) if x.strip()), "")
        marker = SKIP.search(before)
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        code = textwrap.dedent("\n".join(lines[i + 1 : end]))
        why = (marker["why"] or "()")[1:-1].strip() if marker else None
        blocks.append(Block(page, i + 2, opening["info"].lower(), code, why))
        i = end + 1
    return blocks


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


# -- Python examples --------------------------------------------------------------------------


PYTHON_PAGES = [p for p in PAGES if any(b.lang == "python" for b in _blocks(p))]


@pytest.mark.slow  # the pages train small models and walk forward: a few seconds each
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("GATECAST_SIGNING_KEY_FILE", "GATECAST_REQUIRE_SIGNATURE", "GATECAST_STEPPER"):
        monkeypatch.delenv(var, raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in _blocks(page):
        if block.lang != "python" or block.skip is not None:
            continue
        # padded so that a traceback names the page's own line
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(page), "exec"), namespace)
        ran += 1
    capsys.readouterr()
    assert ran, f"{_name(page)}: every python block is skipped; run at least one"


def test_every_code_block_names_its_language() -> None:
    """python, bash, console, text...: so that no command line hides in an untested block."""
    unnamed = [f"{_name(b.page)}:{b.line}" for p in PAGES for b in _blocks(p) if not b.lang]
    assert not unnamed, f"code blocks without a language (```text for output): {unnamed}"


def test_skipped_examples_say_why() -> None:
    skipped = [b for p in PAGES for b in _blocks(p) if b.skip is not None]
    unexplained = [f"{_name(b.page)}:{b.line}" for b in skipped if not b.skip]
    assert not unexplained, (
        f"a skipped block needs its reason, <!-- docs-test: skip (why) -->: {unexplained}"
    )
    # sparingly: an example that is not run is an example that can rot
    assert len(skipped) <= 6, [f"{_name(b.page)}:{b.line} ({b.skip})" for b in skipped]


# -- command lines ----------------------------------------------------------------------------


def _command_lines(block: Block) -> list[tuple[int, str]]:
    """(line, text) of each shell command in ``block``, continuation lines joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for k, raw in enumerate(block.code.splitlines()):
        line = raw.rstrip()
        if not pending:
            if block.lang == "console":
                if not line.lstrip().startswith("$ "):
                    continue  # the command's output
                line = line.lstrip()[2:]
            start = block.line + k
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def _gatecast_calls(text: str) -> list[list[str]]:
    """The argument lists of the ``gatecast`` calls in one shell line."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    calls: list[list[str]] = []
    segment: list[str] = []
    closed = False  # after a redirect or "...": the rest of the segment is not arguments
    for token in [*lexer, ";"]:
        if token in ("|", "||", "&&", ";", "&"):
            while segment and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", segment[0]):
                segment.pop(0)  # VAR=value before the command
            if segment and segment[0] in ("gatecast", ".venv/bin/gatecast"):
                calls.append(segment[1:])
            segment, closed = [], False
        elif token in (">", ">>", "<", ">&", "&>") or token == "...":
            closed = True  # a redirect and its target; "..." stands for options left out
        elif not closed:
            segment.append(token)
    return calls


def _parse(args: list[str]) -> None:
    """Parse ``gatecast ARGS`` as the CLI would, without running the command."""
    import typer
    from typer.main import get_command

    from gatecast.cli.app import app

    cli = get_command(app)
    try:
        if not args or args[0].startswith("-"):
            cli.make_context("gatecast", list(args))
            return
        command = cli.commands.get(args[0])  # type: ignore[attr-defined]
        assert command is not None, f"gatecast has no command {args[0]!r}"
        parent = cli.context_class(cli, info_name="gatecast")
        command.make_context(args[0], list(args[1:]), parent=parent)
    except typer.Exit as done:  # --version, --help
        assert done.exit_code == 0


SHELL_LINES = [
    pytest.param(block, line, text, id=f"{_name(block.page)}:{line}")
    for page in PAGES
    for block in _blocks(page)
    if block.lang in SHELL
    for line, text in _command_lines(block)
    if re.search(r"(^|[|&;]\s*|=\S*\s+)(\.venv/bin/)?gatecast(\s|$)", text)
]


@pytest.mark.parametrize(("block", "line", "text"), SHELL_LINES)
def test_command_lines_parse(block: Block, line: int, text: str) -> None:
    calls = _gatecast_calls(text)
    assert calls, f"{_name(block.page)}:{line}: no gatecast call found in {text!r}"
    for args in calls:
        try:
            _parse(args)
        except Exception as exc:  # a usage error: the message says which option
            pytest.fail(f"{_name(block.page)}:{line}: `gatecast {shlex.join(args)}`: {exc}")


def test_the_command_line_reader_catches_a_wrong_option() -> None:
    (args,) = _gatecast_calls("tail -f t.csv | gatecast stream --model m --bogus 1 > out.csv")
    assert args == ["stream", "--model", "m", "--bogus", "1"]
    with pytest.raises(Exception, match="No such option: --bogus"):
        _parse(args)
    (args,) = _gatecast_calls("OMP_NUM_THREADS=1 gatecast train --epochs x  # comment")
    with pytest.raises(Exception, match="integer"):
        _parse(args)
    assert _gatecast_calls("gatecast evaluate --blocks 4y ...   # the same") == [
        ["evaluate", "--blocks", "4y"]
    ]


# -- links ------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _anchors(page: Path) -> set[str]:
    """The ids mkdocs gives the page's headings (Python-Markdown's ``toc.slugify``: ASCII, lower
    case, punctuation dropped, runs of spaces and dashes as one dash)."""
    found = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = unicodedata.normalize("NFKD", line.lstrip("#").strip())
        title = title.encode("ascii", "ignore").decode("ascii")
        found.add(re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", title).strip().lower()))
    return found


def _links(page: Path) -> list[tuple[int, str]]:
    out = []
    in_code = False
    for k, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        for match in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            out.append((k, match["target"]))
    return out


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for line, target in _links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"line {line}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"line {line}: {target} (no heading #{anchor} in {dest.name})")
        elif page.parent == DOCS and DOCS not in dest.parents and dest != DOCS:
            broken.append(f"line {line}: {target} (outside docs/: the site cannot link it)")
    assert not broken, f"{_name(page)}: " + "; ".join(broken)


def test_every_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if not re.search(rf"\b{re.escape(p.name)}\b", nav)]
    assert not missing, f"pages missing from mkdocs.yml's nav: {missing}"


# -- the reference and the entry point --------------------------------------------------------


def test_cli_reference_names_every_command_and_option() -> None:
    from typer.main import get_command

    from gatecast.cli.app import app

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    sections = dict(
        (m["name"], m["body"])
        for m in re.finditer(
            r"^## `gatecast (?P<name>[\w-]+)`(?P<body>.*?)(?=^## |\Z)", text, re.S | re.M
        )
    )
    cli = get_command(app)
    missing = []
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        if name not in sections:
            missing.append(f"the section ## `gatecast {name}`")
            continue
        for param in command.params:
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("-") and not re.search(
                    rf"`{re.escape(opt)}[` =]", sections[name]
                ):
                    missing.append(f"{name} {opt}")
    assert not missing, f"docs/cli.md does not document: {', '.join(missing)}"


def test_cli_reference_tables_are_those_the_app_declares() -> None:
    """docs/cli.md's option tables are written from the app (docs/hooks/cli_tables.py): an
    option renamed, added or given another default or text shows here until they are rewritten
    (`python docs/hooks/cli_tables.py`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_tables", DOCS / "hooks" / "cli_tables.py")
    assert spec is not None and spec.loader is not None
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert page == tables.page_with_tables(page), (
        "docs/cli.md's option tables differ from the app's options: run "
        "`python docs/hooks/cli_tables.py` and review the change"
    )


def test_readme_is_an_entry_point() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; keep it under {README_MAX_LINES}: move detail to docs/"
    )
    # the two set-up commands come first
    assert any("make demo" in x for x in lines[:6]) and any("make test" in x for x in lines[:6])


def test_docs_pages_exist_where_the_cli_points() -> None:
    """Help texts name docs pages (``See docs/calendars.md``): they must exist."""
    src = ROOT / "src" / "gatecast"
    named = {
        m for f in src.rglob("*.py") for m in re.findall(r"docs/([\w-]+\.md)", f.read_text("utf-8"))
    }
    missing = sorted(n for n in named if not (DOCS / n).exists())
    assert not missing, f"the code names docs pages that do not exist: {missing}"
