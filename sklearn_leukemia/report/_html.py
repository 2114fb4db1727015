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


def _percent(value) -> str:
    return "undefined" if value is None else f"{100 * value:.2f}%"


def _clinical_sections_html(sections: Mapping) -> list[str]:
    """Calibration, referral and decision rules as headed tables."""
    parts = []
    calibration = sections.get("calibration")
    if calibration:
        rows = {}
        for key, name in (("ece", "expected calibration error"),
                          ("brier", "Brier score")):
            value, low, high = calibration[key]
            interval = "" if low is None else f" (95% CI {low:.4f} to {high:.4f})"
            rows[name] = f"{value:.4f}{interval}"
        rows["probability judged"] = calibration["kind"]
        parts += ["<h2>Calibration</h2>", _key_value_table(rows),
                  "<p class=\"meta\">Lower is better for both; the reliability "
                  "diagram is among the figures.</p>"]
    referral = sections.get("referral")
    if referral:
        records = [
            {
                "referred": f"{row['rate']:.0%} ({row['referred']} cases)",
                "errors referred": f"{row['errors_referred']} of {row['errors']}",
                "error among the rest": _percent(row["error_kept"]),
                "error of all": _percent(row["error_all"]),
            }
            for row in referral["by_share"]
        ]
        parts += ["<h2>Referral to an expert</h2>",
                  f"<p>Referring the least sure cases (uncertainty: "
                  f"{_esc(referral['uncertainty'])}):</p>",
                  _records_table(records, index_name="")]
        model = referral.get("by_the_model")
        if model:
            parts.append(
                f"<p>The model's own referral cut referred "
                f"{_percent(model['referred'])} of the cases, holding "
                f"{model['errors_referred']} of the {model['errors']} errors; "
                f"error among the rest {_percent(model['error_kept'])}.</p>"
            )
    rules = sections.get("decision_rules")
    if rules:
        records = []
        for rule in rules:
            held = rule.get("held_back", {})
            record = {"threshold": rule.get("threshold"),
                      "calibration": rule.get("calibration")}
            for key in ("sensitivity", "specificity", "referred", "error_kept"):
                if key in held:
                    record[f"held back {key}"] = held[key]
            if rule.get("refer_cut") is not None:
                record["refer from uncertainty"] = rule["refer_cut"]
            records.append(record)
        parts += ["<h2>Decision rules learnt by each fold</h2>",
                  "<p>Chosen on held-back folds of the fold's training data "
                  "only.</p>", _records_table(records)]
    return parts


def _model_card_html(card: Mapping) -> str:
    rows = []
    for key, value in card.items():
        if isinstance(value, list):
            cell = "<ul>" + "".join(f"<li>{_esc(v)}</li>" for v in value) + "</ul>"
        else:
            cell = _esc(_format_value(value))
        rows.append(f"<tr><th>{_esc(key)}</th><td>{cell}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


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
    sections: Mapping | None = None,
    model_card: Mapping | None = None,
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
    sections : mapping, default=None
        ``"calibration"``, ``"referral"`` and ``"decision_rules"`` of the
        report's JSON, shown as tables.
    model_card : mapping, default=None
        Shown first, as a two-column table.

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
    parts = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(date)}'
        + (f" &middot; device: {_esc(device)}" if device else "")
        + "</p>",
        "<h2>Data</h2>",
        _key_value_table(data_description, humanize=True),
        f'<p class="{"ok" if grouped else "note"}">{_esc(split_note)}</p>',
        "<h2>Clinical scores (out-of-fold predictions)</h2>",
        report_html,
        *_clinical_sections_html(sections or {}),
    ]
    if model_card:
        parts[2:2] = ["<h2>Model card</h2>", _model_card_html(model_card)]
    if fold_scores:
        parts += ["<h2>Scores per fold</h2>", _records_table(fold_scores)]
    if figures:
        parts += ["<h2>Figures</h2>"]
        parts += [_figure(png, caption) for caption, png in figures]
    parts += [
        "<h2>Parameters</h2>",
        _key_value_table(params),
        "<h2>Versions</h2>",
        _key_value_table(versions),
    ]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
