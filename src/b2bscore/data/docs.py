"""The generated part of ``docs/data-contract.md``: one section per table, rendered from ``contract``."""

from __future__ import annotations

from b2bscore.data.contract import TABLES, Column, TableSpec, bound_text

BEGIN_MARKER = "<!-- BEGIN GENERATED: render_contract_markdown() -->"
END_MARKER = "<!-- END GENERATED -->"


def render_contract_markdown() -> str:
    """Markdown for every table of the contract: description, key, references, then a column table."""
    return "\n".join(_table_section(spec) for spec in TABLES.values()).rstrip() + "\n"


def _table_section(spec: TableSpec) -> str:
    facts = ["mandatory" if spec.mandatory else "optional"]
    if spec.key:
        facts.append(f"unique key: {' + '.join(f'`{k}`' for k in spec.key)}")
    if spec.references:
        facts.append("references: " + ", ".join(f"`{c}` → `{t}`" for c, t in spec.references.items()))
    if spec.time_column:
        facts.append(f"known from: `{spec.time_column}`")
    lines = [f"### `{spec.name}`", "", spec.description, "", f"File `{spec.name}.csv` or `{spec.name}.parquet`; "
             + "; ".join(facts) + ".", "", "| column | type | required | meaning | example |", "|---|---|---|---|---|"]
    lines += [_column_row(col) for col in spec.columns]
    return "\n".join(lines) + "\n"


def _column_row(col: Column) -> str:
    required = "required" if col.required else "optional"
    meaning = col.description
    rules = []
    if col.allowed:
        rules.append(("known values" if col.open_values else "allowed values") + ": " + ", ".join(f"`{v}`" for v in col.allowed))
    if col.nonnegative:
        rules.append("not negative")
    if col.min_value is not None and col.max_value is not None:
        rules.append(f"between {bound_text(col.min_value)} and {bound_text(col.max_value)}")
    elif col.min_value is not None:
        rules.append(f"at least {bound_text(col.min_value)}")
    elif col.max_value is not None:
        rules.append(f"at most {bound_text(col.max_value)}")
    if col.calendar_year:
        rules.append("not after the as-of year (for a data directory: the year it is validated in)")
    if rules:
        text = "; ".join(rules)
        meaning += " " + text[0].upper() + text[1:] + "."
    example = f"`{col.example}`" if col.example else ""
    return f"| `{col.name}` | {col.kind} | {required} | {meaning} | {example} |"
