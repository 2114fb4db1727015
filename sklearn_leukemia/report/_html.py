"""Every piece of HTML the package writes: the report page and its tables.

The page is self-contained, no external file or script: images are embedded
as base64 ``data:`` URIs so that the single file still works after it is
moved, mailed or attached to a lab notebook. ``ClinicalReport.to_html``
renders its tables here too.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence

__all__ = ["clinical_report_html", "render_evaluation_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.ok { background: #eef7ee; border-left: 4px solid #3a9a3a; padding: 0.5em 1em; }
.meta { color: #666; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        if all(not isinstance(v, Mapping | list | tuple) for v in value.values()):
            return ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items())
        return json.dumps(value, default=str)
    if isinstance(value, list | tuple):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def _key_value_table(items: Mapping, *, humanize: bool = False) -> str:
    # Parameter names stay exact (module__width); descriptive keys read better
    # with spaces.
    rows = "".join(
        f"<tr><th>{_esc(str(key).replace('_', ' ') if humanize else key)}</th>"
        f"<td>{_esc(_format_value(value))}</td></tr>"
        for key, value in items.items()
    )
    return f"<table>{rows}</table>"


def _records_table(records: Sequence[Mapping], index_name: str = "fold") -> str:
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns]
    head = f"<th>{_esc(index_name)}</th>" + "".join(
        f"<th>{_esc(column)}</th>" for column in columns
    )
    body = ""
    for i, record in enumerate(records, start=1):
        cells = "".join(
            f'<td class="num">{_esc(_format_value(record.get(column, "")))}</td>'
            for column in columns
        )
        body += f"<tr><td>{i}</td>{cells}</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def clinical_report_html(
    header_lines: Sequence[str],
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]],
) -> str:
    """Return a clinical report as an HTML fragment: its header and tables.

    Parameters
    ----------
    header_lines : sequence of str
        Paragraphs above the tables.
    tables : sequence of (title, header, rows)
        Each table's caption, column names and rows of cells; the first cell
        of a row is its header.

    Returns
    -------
    str
        A ``<div class="clinical-report">``, every text escaped.
    """
    parts = ['<div class="clinical-report">']
    parts.extend(f"<p>{_esc(line)}</p>" for line in header_lines)
    for title, header, rows in tables:
        parts.append("<table>")
        parts.append(f"<caption>{_esc(title)}</caption>")
        head = "".join(f'<th scope="col">{_esc(cell)}</th>' for cell in header)
        parts.append(f"<thead><tr>{head}</tr></thead>")
        parts.append("<tbody>")
        for row in rows:
            cells = "".join(f"<td>{_esc(cell)}</td>" for cell in row[1:])
            parts.append(f'<tr><th scope="row">{_esc(row[0])}</th>{cells}</tr>')
        parts.append("</tbody>")
        parts.append("</table>")
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{_esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def render_evaluation_html(
    *,
    title: str,
    date: str,
    data_description: Mapping,
    split_note: str,
    grouped: bool,
    report_html: str,
    fold_scores: Sequence[Mapping],
    figures: Sequence[tuple[str, bytes]],
    params: Mapping,
    versions: Mapping,
    device: str | None,
) -> str:
    """Return the evaluation page as one HTML string.

    Parameters
    ----------
    title : str
        Page title.
    date : str
        When the evaluation ran.
    data_description : mapping
        Shown as a two-column table.
    split_note : str
        How the data were split, shown highlighted: green when patient groups
        were used, amber when they were not.
    grouped : bool
        Whether patient groups were used.
    report_html : str
        The clinical table(s), already HTML (``ClinicalReport.to_html()``).
    fold_scores : sequence of mapping
        One row of scores per fold.
    figures : sequence of (caption, png bytes)
        Embedded in order.
    params : mapping
        Parameters of the run.
    versions : mapping
        Versions of Python and the libraries.
    device : str or None
        The compute device used.

    Returns
    -------
    page : str
        A complete, self-contained HTML document.

    Examples
    --------
    >>> from sklearn_leukemia.report._html import render_evaluation_html
    >>> page = render_evaluation_html(
    ...     title="t", date="d", data_description={"images": 3},
    ...     split_note="random split", grouped=False, report_html="<table></table>",
    ...     fold_scores=[{"accuracy": 0.5}], figures=[], params={}, versions={},
    ...     device="cpu")
    >>> page.startswith("<!DOCTYPE html>")
    True
    """
    sections = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(date)}'
        + (f" &middot; device: {_esc(device)}" if device else "")
        + "</p>",
        "<h2>Data</h2>",
        _key_value_table(data_description, humanize=True),
        f'<p class="{"ok" if grouped else "note"}">{_esc(split_note)}</p>',
        "<h2>Clinical scores (out-of-fold predictions)</h2>",
        report_html,
    ]
    if fold_scores:
        sections += ["<h2>Scores per fold</h2>", _records_table(fold_scores)]
    if figures:
        sections += ["<h2>Figures</h2>"]
        sections += [_figure(png, caption) for caption, png in figures]
    sections += [
        "<h2>Parameters</h2>",
        _key_value_table(params),
        "<h2>Versions</h2>",
        _key_value_table(versions),
    ]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
