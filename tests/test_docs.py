"""The docs hold together: every relative link and image in README.md, docs/, data/README.md and
study/README.md resolves (files, and #anchors to headings), every command the README and
docs/cli.md show parses with the real command line (the subcommand and each flag exist), every
YAML block reads as a config file does, and the figures the docs quote from a source (run counts,
the benchmark's sizes, the exit codes) are that source's."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

from detector.cli.common import ERRORS
from detector.cli.main import build_parser
from detector.core.config import load_config
from detector.core.io import UniqueKeyLoader

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "data" / "README.md", ROOT / "study" / "README.md",
         *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: its rendered text (link text, no emphasis marks; code
    spans as written, underscores kept) lower-cased, punctuation but ``-`` and ``_`` dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    spans = re.split(r"(`[^`]*`)", text)
    text = "".join(s.strip("`") if s.startswith("`") else re.sub(r"\*|(?<!\w)_+|_+(?!\w)", "", s) for s in spans)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", text, re.M)}


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(FENCE.sub("", page.read_text())) if not re.match(r"[a-z]+:", t)]


def shown_commands(page: Path) -> list[list[str]]:
    """Every ``focaldet ...``, ``python train.py ...`` / ``python evaluate.py ...`` and
    ``python -m detector ...`` line of the page's code blocks, as focaldet argv."""
    out = []
    for block in FENCE.findall(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            if not re.search(r"\b(focaldet|python train\.py|python evaluate\.py|python -m detector)\b", line):
                continue
            words = shlex.split(line, comments=True)
            while words and ("=" in words[0] and not words[0].startswith("-")):  # VAR=value prefixes
                words = words[1:]
            if "&&" in words:
                words = words[words.index("&&") + 1:]
            for prefix, sub in ((["focaldet"], []), (["python", "train.py"], ["train"]),
                                (["python", "evaluate.py"], ["eval"]), (["python", "-m", "detector"], [])):
                if words[: len(prefix)] == prefix:
                    out.append(sub + words[len(prefix):])
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such heading)")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "docs" / "cli.md"], ids=["README.md", "docs/cli.md"])
def test_every_command_shown_parses(page):
    commands = shown_commands(page)
    assert len(commands) >= 6
    for argv in commands:
        if argv[:1] in (["--help"], ["--version"]) or "--help" in argv:
            continue
        args = build_parser(argv).parse_args(argv)
        assert callable(args.run), argv


def test_the_checker_sees_a_broken_link_and_a_bad_flag(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Title\n[a](missing.md) [b](#title) [c](#nope) ![d](http://x/y.png)\n"
                    "```bash\nfocaldet train --bogus-flag\n```\n")
    assert links(page) == ["missing.md", "#title", "#nope"] and anchors(page) == {"title"}
    [argv] = shown_commands(page)
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args(argv)


@pytest.mark.parametrize("heading, anchor", [
    ("Finetuning and torchvision's weights", "finetuning-and-torchvisions-weights"),
    ("The recipe as it is now, beside `torchvision`", "the-recipe-as-it-is-now-beside-torchvision"),
    ("amd-epyc-avx512_bf16 (`records/amd-epyc-avx512_bf16/`)", "amd-epyc-avx512_bf16-recordsamd-epyc-avx512_bf16"),
    ("**Bold** and _emphasis_ with [a link](x.md#y)", "bold-and-emphasis-with-a-link"),
    ("The `__init__` of `snake_case`", "the-__init__-of-snake_case"),
])
def test_slug_is_githubs_anchor(heading, anchor):
    assert slug(heading) == anchor


def quoted(page: str, pattern: str) -> tuple[str, ...]:
    """The groups of ``pattern``'s one match in ``page`` (relative to the repository); a page that
    no longer says it, or says it twice, fails here."""
    matches = re.findall(pattern, " ".join((ROOT / page).read_text().split()))
    assert len(matches) == 1, f"{page}: {len(matches)} matches of {pattern!r}"
    return matches[0] if isinstance(matches[0], tuple) else (matches[0],)


def test_run_counts_are_what_study_report_py_counts():
    spec = importlib.util.spec_from_file_location("study_report", ROOT / "study" / "report.py")
    assert spec is not None and spec.loader is not None
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    counts = report.published_runs()
    synthetic, real = counts["synthetic"], counts["real-data"]
    assert quoted("docs/results.md", r"What ran: (\d+) synthetic runs \(([\d.]+) hours of training\) and (\d+) "
                                     r"real-data runs \(([\d.]+) hours\)") == tuple(map(str, (*synthetic, *real)))
    assert quoted("README.md", r"all (\d+) synthetic runs' records") == (str(synthetic[0]),)


def test_the_benchmark_the_docs_describe_is_the_one_that_ran():
    studied = {(c["data"]["synthetic"]["num_train"], c["data"]["synthetic"]["num_val"])
               for c in (yaml.safe_load(p.read_text()) for p in (ROOT / "study").glob("*_*/**/config.yaml"))
               if c["data"]["dataset"] == "synthetic"}
    assert len(studied) == 1
    assert quoted("docs/results.md", r"(\d+) training and (\d+) validation images") == tuple(map(str, studied.pop()))
    default = load_config("shapes_focal")
    assert quoted("README.md", r"ResNet-18 FPN, (\d+) px, (\d+) iterations") == (
        str(default.augment.image_size), str(default.solver.max_iters))


def test_the_exit_code_table_is_the_one_the_cli_uses():
    table = (ROOT / "docs" / "cli.md").read_text().split("## Exit codes")[1].split("\n## ")[0]
    codes = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert codes == {0} | {code for _, _, code in ERRORS}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_block_reads_as_a_config_file_does(page):
    """No key twice in one mapping (a config file refuses it): a block copied as it stands must load."""
    blocks = re.findall(r"```ya?ml\n(.*?)```", page.read_text(), re.S)
    for block in blocks:
        yaml.load(block, Loader=UniqueKeyLoader)
