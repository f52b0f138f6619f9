"""The dependency-free SVG line chart (the demo's quality-vs-NFE figure)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from ladd_core.evaluation.svg import line_chart_svg


def test_line_chart_is_valid_svg_with_one_line_per_series_and_a_legend(tmp_path):
    series = {"mdlm": [(1, 1.65), (4, 1.16), (16, 1.04), (64, 1.02)], "co<ladd>": [(10, 1.01), (74, math.nan)]}
    path = line_chart_svg(tmp_path / "f.svg", series, title="t", xlabel="NFE", ylabel="x entropy", hlines={"data": 1.0})
    root = ET.parse(path).getroot()  # well-formed XML (names are escaped)
    tags = [e.tag.rsplit("}", 1)[-1] for e in root.iter()]
    assert tags.count("polyline") == 2 and tags.count("circle") == 5  # the NaN point is left out
    texts = {e.text for e in root.iter() if e.tag.endswith("text")}
    assert {"mdlm", "co<ladd>", "data", "NFE", "x entropy", "1", "64"} <= texts  # legend, labels, log2 ticks
    xs = [float(p.split(",")[0]) for p in root.find("{http://www.w3.org/2000/svg}polyline").get("points").split()]
    assert xs == sorted(xs) and xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)  # 1, 4, 16: log2 axis


def test_line_chart_without_finite_points_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no finite points"):
        line_chart_svg(tmp_path / "f.svg", {"a": [(1, math.nan)]}, title="t", xlabel="x", ylabel="y")
