"""The benchmark reports' shared helpers: one percentile, one markdown table, one section writer."""

import statistics
from pathlib import Path

import pytest

from bench.load_report import memory_growth
from bench.markdown import table, write_section
from bench.stats import percentile


def test_percentile_interpolates_linearly_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0  # halfway between 20 and 30
    assert percentile(values, 95) == pytest.approx(38.5)  # rank 2.85: 30 + 0.85 * 10


def test_percentile_ignores_input_order() -> None:
    assert percentile([40.0, 10.0, 30.0, 20.0], 75) == percentile([10.0, 20.0, 30.0, 40.0], 75)


def test_percentile_matches_the_standard_library_inclusive_quantiles() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    quantiles = statistics.quantiles(values, n=100, method="inclusive")
    for q in (1, 25, 50, 90, 95, 99):
        assert percentile(values, q) == pytest.approx(quantiles[q - 1])
    assert percentile(values, 50) == statistics.median(values)


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 0) == percentile([7.0], 95) == 7.0


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0, 2.0], q)


def test_table_renders_header_rule_and_rows() -> None:
    assert table(("a", "b"), [("1", "2"), ("3", "4")]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
        "| 3 | 4 |",
    ]


def test_table_escapes_a_pipe_inside_a_cell() -> None:
    assert table(("x",), [("a | b",)]).splitlines()[2] == "| a \\| b |"


def test_table_refuses_a_row_of_the_wrong_width() -> None:
    with pytest.raises(ValueError, match="2 cells under 3 headers"):
        table(("a", "b", "c"), [("1", "2")])


def test_write_section_replaces_only_its_own_markers(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text(
        "# Benchmarks\n\nnotes\n\n<!-- a:begin -->\nold a\n<!-- a:end -->\n"
        "<!-- b:begin -->\nold b\n<!-- b:end -->\ntail\n"
    )
    write_section(out, "a", "new a")
    assert out.read_text() == (
        "# Benchmarks\n\nnotes\n\n<!-- a:begin -->\nnew a\n<!-- a:end -->\n"
        "<!-- b:begin -->\nold b\n<!-- b:end -->\ntail\n"
    )


def test_write_section_appends_missing_markers_and_creates_the_file(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    write_section(out, "c", "first")
    write_section(out, "d", "second")
    text = out.read_text()
    assert text.startswith("# Benchmarks\n")
    c = "<!-- c:begin -->\nfirst\n<!-- c:end -->\n"
    d = "<!-- d:begin -->\nsecond\n<!-- d:end -->\n"
    assert text.endswith(f"{c}\n{d}")


def test_memory_growth_compares_each_process_with_itself() -> None:
    # process 11 peaks in run 2 and is back by run 3: one MB more is the most either kept
    runs = [
        {"upload-api": {10: 103.0, 11: 96.0}},
        {"upload-api": {10: 104.0, 11: 108.0}},
        {"upload-api": {10: 104.0, 11: 97.0}},
    ]
    assert memory_growth(runs) == 1.0
    runs[-1]["upload-api"][11] = 105.0  # this one kept 9 MB more
    assert memory_growth(runs) == 9.0
    assert memory_growth([{"upload-api": {10: 1.0}}, {"upload-api": {12: 1.0}}]) == float("inf")
