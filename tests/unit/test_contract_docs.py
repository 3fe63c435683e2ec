"""docs/data-contract.md must contain the tables freshly rendered from contract.py."""

from __future__ import annotations

from pathlib import Path

from b2bscore.data.contract import TABLES
from b2bscore.data.docs import BEGIN_MARKER, END_MARKER, render_contract_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def test_docs_contain_freshly_rendered_tables() -> None:
    text = DOC.read_text(encoding="utf-8")
    generated = text.split(BEGIN_MARKER, 1)[1].split(END_MARKER, 1)[0].strip()
    assert generated == render_contract_markdown().strip(), (
        "docs/data-contract.md is out of date; regenerate the part between the markers with "
        "b2bscore.data.docs.render_contract_markdown()")


def test_rendered_tables_cover_every_column_and_allowed_value() -> None:
    text = render_contract_markdown()
    for spec in TABLES.values():
        assert f"### `{spec.name}`" in text and spec.description in text
        for col in spec.columns:
            assert f"| `{col.name}` | {col.kind} |" in text
            for value in col.allowed or ():
                assert f"`{value}`" in text


def test_intro_explains_files_time_and_mapping() -> None:
    intro = DOC.read_text(encoding="utf-8").split(BEGIN_MARKER, 1)[0]
    for phrase in ("accounts.parquet", "UTC", "strictly before", "week has ended", "```yaml", "date_formats"):
        assert phrase in intro


def test_doc_says_absent_optional_columns_are_unknown() -> None:
    """Issue 14: a column that may be empty may also be absent; both mean unknown."""
    intro = DOC.read_text(encoding="utf-8").split(BEGIN_MARKER, 1)[0]
    for phrase in ("## Which columns are needed", "absent from the file, or a cell is empty, the value is **unknown**",
                   "one note", '"optional" means the column may be absent'):
        assert phrase in intro
    text = render_contract_markdown()
    for column in ("industry", "source"):
        assert f"| `{column}` | category | optional |" in text
    assert "| `amount` | float | optional | Deal value" in text and "may be empty" not in text
