"""The Grafana dashboards (ops/grafana/*.json): a model Grafana imports as it is, each panel
asking the Prometheus chosen in the dashboard's data source variable, every query valid PromQL
(promtool parses them as recording rules) reading only documented metrics."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap import ensure_monitoring_tools

from tests.support.promql import (
    BUILTIN,
    DASHBOARDS,
    dashboard_targets,
    documented_metrics,
    documented_name,
    expressions,
    fill_grafana_variables,
    metric_names,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def model(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_the_four_promised_dashboards_exist() -> None:
    names = [path.stem for path in DASHBOARDS]
    assert names == ["boletos", "conversions", "notifier", "overview"]
    uids = [model(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_a_dashboard_chooses_its_prometheus_in_a_variable(path: Path) -> None:
    dashboard = model(path)
    assert dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = dashboard["templating"]["list"]
    assert {"name": "datasource", "type": "datasource", "query": "prometheus"}.items() <= (
        variables[0].items()
    )
    for panel in dashboard["panels"]:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_panels_have_unique_ids_a_place_and_queries(path: Path) -> None:
    panels = model(path)["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    places = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}
    assert len(places) == len(panels), "two panels on the same spot"
    for panel in panels:
        assert panel["type"] in ("timeseries", "stat") and panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_reads_documented_metrics(path: Path) -> None:
    table = documented_metrics()
    for title, expr in dashboard_targets(path):
        names = metric_names(fill_grafana_variables(expr))
        assert names, f"{title!r} reads no metric"
        unknown = [name for name in names - BUILTIN if documented_name(name, table) is None]
        assert unknown == [], f"{title!r} reads undocumented {unknown}"


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Recording rules are the one place promtool parses PromQL without a server."""
    rules = [
        {"record": f"check:query_{number}", "expr": expr}
        for number, expr in enumerate(expressions().values())
    ]
    file = tmp_path / "queries.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    promtool = ensure_monitoring_tools()["promtool"]
    checked = subprocess.run(
        [promtool, "check", "rules", str(file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout
