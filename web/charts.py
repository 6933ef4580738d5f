"""Charts for the supervision pages, drawn on the server as SVG by pygal: the page carries them
inline, so they need no script, print as they look, and stay readable without JavaScript. Each
chart has a title and a text description for screen readers; the numbers behind every chart are
also in a table on the same page (and in its CSV export).

Not here: what is counted (the domain computes the series; this only draws them).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

# pygal puts an import finder of its own on `sys.meta_path` (for its map plugins, unused here)
# that has no find_spec(): every import failing after it (an optional package another library
# tries, such as httpx trying brotli) then warns, which the tests' warnings-as-errors turn into
# a failed import or a crashed test session. Nothing of ours needs it.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

#: Muted colours that stay apart for the common colour-blindnesses (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442")

_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#222",
    foreground_strong="#111",
    foreground_subtle="#666",
    colors=PALETTE,
    font_family="system-ui, sans-serif",
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    value_font_size=11,
)

Series = Mapping[str, Sequence[float | None]]
#: Series named per row of the legend under a chart.
LEGEND_COLUMNS = 4


def _config(kind: type[pygal.graph.graph.Graph], title: str, **options: object) -> pygal.Graph:
    chart = kind(
        title=title,
        style=_STYLE,
        js=[],  # no script from anywhere: the tooltips are not worth a third-party load
        disable_xml_declaration=True,
        width=720,
        height=320,
        explicit_size=False,
        show_legend=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=LEGEND_COLUMNS,
        print_values=False,
        margin=12,
        **options,
    )
    return chart


#: Room added below the drawing per row of legend: pygal lays a legend at the bottom out past
#: the bottom of its own box (and further under rotated labels), where it would be cut off.
LEGEND_ROW = 24
_VIEWBOX = re.compile(r'viewBox="0 0 (\d+) (\d+)"')
#: pygal's configuration script (always written, read only by its tooltips, which we do not
#: load): the pages' Content-Security-Policy forbids inline script (`web.security`).
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)


def _render(chart: pygal.Graph, description: str, series: int) -> Markup:
    svg: str = chart.render(is_unicode=True)
    # No inline script, and no style attribute (the policy allows neither): its one style
    # attribute is an SVG presentation attribute as well. The <style> gets the answer's nonce
    # in the page (`_csp.html`).
    svg = _SCRIPT.sub("", svg).replace('style="opacity: 0"', 'opacity="0"')
    # The title is in the SVG; a description tells what the chart shows to those who cannot
    # see it (the table below it has the numbers).
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(description)}" ', 1)
    rows = -(-series // LEGEND_COLUMNS)  # the legend's rows, rounded up
    svg = _VIEWBOX.sub(
        lambda m: f'viewBox="0 0 {m.group(1)} {int(m.group(2)) + rows * LEGEND_ROW}"', svg, 1
    )
    return Markup(svg)


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def bars(
    *,
    title: str,
    labels: Sequence[str],
    series: Series,
    description: str,
    stacked: bool = False,
    horizontal: bool = False,
    percent: bool = False,
    value_range: tuple[float, float] | None = None,
) -> Markup:
    """Bars per label, one colour per series (stacked: one bar per label, split by series);
    `value_range` fixes the value axis (e.g. ratings 0 to 5) instead of fitting the data."""
    kind: type[pygal.graph.graph.Graph]
    if stacked:
        kind = pygal.HorizontalStackedBar if horizontal else pygal.StackedBar
    else:
        kind = pygal.HorizontalBar if horizontal else pygal.Bar
    options: dict[str, object] = {"x_labels": list(labels), "x_label_rotation": 0}
    if percent:
        options.update(range=(0, 100), value_formatter=lambda v: f"{v:.0f}%")
    elif value_range is not None:
        options["range"] = value_range
    chart = _config(kind, title, **options)
    for name, values in series.items():
        chart.add(name, list(values))
    return _render(chart, description, len(series))


def lines(
    *,
    title: str,
    labels: Sequence[str],
    series: Series,
    description: str,
    percent: bool = False,
    y_range: tuple[float, float] | None = None,
) -> Markup:
    """One line per series over `labels` (weeks, days); None leaves a gap."""
    options: dict[str, object] = {
        "x_labels": list(labels),
        "x_label_rotation": 30 if len(labels) > 8 else 0,
        "show_dots": True,
        "dots_size": 3,
        "allow_interruptions": True,
    }
    if percent:
        options.update(range=(0, 100), value_formatter=lambda v: f"{v:.0f}%")
    elif y_range is not None:
        options["range"] = y_range
    chart = _config(pygal.Line, title, **options)
    for name, values in series.items():
        chart.add(name, list(values))
    return _render(chart, description, len(series))
