"""The HTML report: one self-contained file a person opens after a run.

It holds the matrix table, every case's boot drawn as a bar of named pieces on one shared time
axis (an inline SVG drawn by matplotlib, text kept as text), and for each case that was not as
expected its cause, console tail, the servers' last log lines and links to its artifacts. No
script, no external style sheet, font or image: the file can be mailed or kept as a CI artifact.
Rows carry ``id="case-<id>"`` and ``data-case`` so a browser test (or a person's search) finds
them. Rows of ``compare`` carry ``firmware_label``: each is then named ``<id>@<label>`` (its
anchors too, ``data-firmware`` holds the label), and when the rows hold several labels a
section before the matrix shows the comparison, case x build, with its differences
(``compare.differences``, the same the terminal lists).
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .compare import cell as compare_cell
from .compare import comparison_grid, differences, group_by_label
from .segments import HARNESS_ACTIVITY, MILESTONES, Segment, row_segments

PLAIN_ACTIVITIES = (*dict.fromkeys(m.activity for m in MILESTONES), HARNESS_ACTIVITY)
ACTIVITY_COLOURS = ("#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#9467bd", "#17becf", "#c5b0d5",
                    "#ff9896", "#8c564b", "#f7b6d2", "#7f7f7f")  # fmt: skip
"""One colour per activity, in boot order (an HTTPS piece takes its plain activity's colour)."""
SPANNING_COLOUR = "#dbdb8d"
"""A piece that spans several activities (a milestone was not seen)."""
FAILED_COLOURS = ("#d62728", "#ff7f0e", "#8c0000", "#e377c2", "#bcbd22")
"""Where a boot stopped, one colour per phase (as many phases as one report shows)."""

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
td.met { color: #186a18; }
td.not-met { background: #fde8e8; color: #a00; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.not-met td { background: #fde8e8; }
tr.met td.result { color: #186a18; font-weight: bold; }
tr.not-met td.result { color: #a00; font-weight: bold; }
.problems { border: 2px solid #a00; background: #fde8e8; padding: 0.5em 1em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto;
      font-size: 0.85em; }
section.case { border-top: 1px solid #ccc; margin-top: 1.5em; }
svg { max-width: 100%; height: auto; }
"""


def _plain(activity: str) -> str:
    """The plain activity behind an HTTPS one (one colour for HEAD with or without TLS)."""
    for milestone in MILESTONES:
        if activity in (milestone.activity, milestone.tls_activity):
            return milestone.activity
    return activity


def activity_colour(activity: str) -> str:
    plain = _plain(activity)
    if plain in PLAIN_ACTIVITIES:
        return ACTIVITY_COLOURS[PLAIN_ACTIVITIES.index(plain) % len(ACTIVITY_COLOURS)]
    return SPANNING_COLOUR


def timelines_svg(rows: Sequence[Mapping[str, Any]]) -> str:
    """Every case's pieces as one horizontal stacked bar, on one shared time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    drawn = [(_name(row), row_segments(row)) for row in rows]
    failed_phases = list(dict.fromkeys(s.activity for _, pieces in drawn for s in pieces
                                       if s.failed))  # fmt: skip
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "httpboot"}):
        figure, axis = plt.subplots(
            figsize=(11, 2.4 + 0.42 * max(len(drawn), 1)), layout="constrained"
        )
        legend: dict[str, str] = {}
        for index, (_case_id, pieces) in enumerate(drawn):
            for piece in pieces:
                colour = _piece_colour(piece, failed_phases)
                legend.setdefault(piece.activity, colour)
                hatch = "//" if piece.failed else None
                axis.barh(index, piece.seconds, left=piece.start, color=colour,
                          edgecolor="white", linewidth=0.5, hatch=hatch)  # fmt: skip
        axis.set_yticks(range(len(drawn)), [case_id for case_id, _ in drawn])
        axis.invert_yaxis()
        axis.set_xlabel("seconds from the guest's start")
        axis.grid(axis="x", alpha=0.3)
        ordered = sorted(legend, key=_legend_rank)
        handles = [Patch(facecolor=legend[name], label=name,
                         hatch="//" if name.startswith("stopped at") else None)
                   for name in ordered]  # fmt: skip
        figure.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8,
                      frameon=False)  # fmt: skip
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight")
        plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _piece_colour(piece: Segment, failed_phases: list[str]) -> str:
    if piece.failed:
        return FAILED_COLOURS[failed_phases.index(piece.activity) % len(FAILED_COLOURS)]
    return activity_colour(piece.activity)


def _legend_rank(name: str) -> tuple[int, int]:
    if name.startswith("stopped at"):
        return (2, 0)
    plain = _plain(name)
    if plain in PLAIN_ACTIVITIES:
        return (0, PLAIN_ACTIVITIES.index(plain))
    return (1, 0)


def _seconds(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"


def _case_anchor(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", case_id)


def _name(row: Mapping[str, Any]) -> str:
    """The row's name on the page: its case id, with ``@<label>`` for a build under comparison
    (the same case appears once per build)."""
    label = row.get("firmware_label")
    return f"{row['id']}@{label}" if label is not None else str(row["id"])


def _firmware_attribute(row: Mapping[str, Any]) -> str:
    label = row.get("firmware_label")
    return f" data-firmware='{html.escape(str(label))}'" if label is not None else ""


def _artifacts_link(row: Mapping[str, Any], page: Path) -> str:
    """A link relative to the page: the case's folder where it exists here, else
    ``<case id>/`` (the report kept in the folder that holds the case folders; ``<label>/<case
    id>/`` for a build under comparison)."""
    folder = Path(str(row.get("artifacts") or ""))
    if row.get("artifacts") and folder.is_dir():
        return os.path.relpath(folder, page.parent.absolute())
    label = row.get("firmware_label")
    return f"{label}/{row['id']}/" if label is not None else f"{row['id']}/"


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = ("case", "architecture", "firmware", "expected", "verdict", "phase", "firmware s",
            "total s", "result")  # fmt: skip
    out = ["<table id='matrix'><thead><tr>"]
    out += [f"<th>{h}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        case_id, name = str(row["id"]), _name(row)
        met = bool(row.get("met_expectation"))
        timings = row.get("timings") or {}
        expected = str(row.get("expected", ""))
        if row.get("expected_phase"):
            expected += f" at {row['expected_phase']}"
        if (note := row.get("expected_release")) and note.get("since") != "unknown":
            expected += f" (edk2 {note['since']} and later: {note.get('reference', '')})"
        cells = [
            f"<td><a href='#detail-{_case_anchor(name)}'>{html.escape(name)}</a></td>"
            if not met or row.get("verdict") != "booted"
            else f"<td>{html.escape(name)}</td>",
            f"<td>{html.escape(str(row.get('arch', 'x86_64')))}</td>",
            f"<td class='firmware'>{html.escape(str(row.get('firmware_version') or '-'))}</td>",
            f"<td>{html.escape(expected)}</td>",
            f"<td>{html.escape(str(row.get('verdict', '')))}</td>",
            f"<td>{html.escape(str(row.get('phase') or '-'))}</td>",
            f"<td class='num'>{_seconds(timings.get('firmware'))}</td>",
            f"<td class='num'>{_seconds(timings.get('total'))}</td>",
            f"<td class='result'>{'as expected' if met else 'NOT as expected'}</td>",
        ]  # fmt: skip
        state = "met" if met else "not-met"
        out.append(
            f"<tr id='case-{_case_anchor(name)}' data-case='{html.escape(case_id)}'"
            f"{_firmware_attribute(row)} class='{state}'>{''.join(cells)}</tr>"
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _comparison(rows: Sequence[Mapping[str, Any]]) -> str:
    """Case x build, each cell as the terminal shows it, then the differences named; empty when
    the rows hold fewer than two builds."""
    by_build = group_by_label(rows)
    if len(by_build) < 2:
        return ""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in by_build)
    out = ["<h2>Firmware builds compared</h2>",
           f"<table id='compare'><thead><tr><th>case</th>{head}</tr></thead><tbody>"]  # fmt: skip
    for case_id, cells in comparison_grid(by_build):
        out.append(f"<tr data-case='{html.escape(case_id)}'><td>{html.escape(case_id)}</td>")
        for label, row in zip(by_build, cells, strict=True):
            state = "met" if row is not None and row.get("met_expectation") else "not-met"
            out.append(f"<td class='{state}' data-firmware='{html.escape(label)}'>"
                       f"{html.escape(compare_cell(row))}</td>")  # fmt: skip
        out.append("</tr>")
    out.append("</tbody></table>")
    found = differences(by_build)
    if not found:
        out.append("<p id='differences'>differences: none</p>")
        return "\n".join(out)
    out.append("<p>differences:</p><ul id='differences'>")
    out += [f"<li data-case='{html.escape(d.case)}' data-field='{html.escape(d.field)}'>"
            f"{html.escape(d.describe())}</li>" for d in found]  # fmt: skip
    out.append("</ul>")
    return "\n".join(out)


def _detail(row: Mapping[str, Any], page: Path) -> str:
    name = _name(row)
    link = _artifacts_link(row, page)
    parts = [
        f"<section class='case' id='detail-{_case_anchor(name)}' "
        f"data-failing-case='{html.escape(str(row['id']))}'{_firmware_attribute(row)}>",
        f"<h3>{html.escape(name)}: {html.escape(str(row.get('verdict')))}"
        + (f" at {html.escape(str(row['phase']))}" if row.get("phase") else "")
        + f", expected {html.escape(str(row.get('expected')))}</h3>",
        f"<p>{html.escape(str(row.get('summary') or ''))}</p>",
    ]
    if row.get("firmware_version"):
        parts.append(f"<p>firmware: {html.escape(str(row['firmware_version']))}</p>")
    if row.get("cause"):
        parts.append(f"<p>cause: {html.escape(str(row['cause']))}</p>")
    if row.get("error"):
        parts.append(f"<p>harness error: {html.escape(str(row['error']))}</p>")
    files = ("console.txt", "timeline.txt", "verdict.json", "screens.txt", "qemu.log")
    links = " ".join(
        f"<a href='{html.escape(link.rstrip('/') + '/' + name)}'>{name}</a>" for name in files
    )
    folder = html.escape(link)
    parts.append(f"<p>artifacts: <a href='{folder}'>{folder}</a> ({links})</p>")
    parts.append("<h4>console (last lines)</h4>")
    parts.append(f"<pre>{html.escape(chr(10).join(row.get('console_tail') or ['(none)']))}</pre>")
    for name, lines in (row.get("log_tails") or {}).items():
        parts.append(f"<h4>{html.escape(str(name))} (last lines)</h4>")
        parts.append(f"<pre>{html.escape(chr(10).join(lines) or '(empty)')}</pre>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(
    rows: Sequence[Mapping[str, Any]],
    page: Path,
    *,
    title: str = "httpboot-harness report",
    problems: Sequence[str] = (),
) -> str:
    """The whole page; ``page`` is where it will be written (links are relative to it)."""
    rows = sorted(rows, key=lambda r: str(r["id"]))
    met = sum(bool(r.get("met_expectation")) for r in rows)
    failing = [r for r in rows if not r.get("met_expectation") or r.get("verdict") != "booted"]
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p id='summary'>{len(rows)} cases: {met} as expected, {len(rows) - met} not.</p>",
    ]
    if problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        body.append(f"<div class='problems'><strong>This report is incomplete:</strong>"
                    f"<ul>{items}</ul></div>")  # fmt: skip
    comparison = _comparison(rows)
    if comparison:
        body.append(comparison)
    body += [_table(rows), "<h2>Where the time went</h2>",
             "<p>Each bar is one boot, cut where the timeline shows a milestone; every piece is "
             "named for what the firmware was doing then. A hatched piece is where a boot that "
             "did not boot stopped.</p>",
             f"<div id='timelines'>{timelines_svg(rows)}</div>"]  # fmt: skip
    if failing:
        body.append("<h2>Cases that did not boot or were not as expected</h2>")
        body += [_detail(row, page) for row in failing]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_html(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    problems: Sequence[str] = (),
    title: str = "httpboot-harness report",
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(rows, path, problems=problems, title=title))
