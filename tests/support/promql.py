"""What the monitoring code promises, read from the files that hold it: the metric table of
docs/monitoring.md, the PromQL of ops/prometheus/rules.yml and of the Grafana dashboards, and
the metric names an expression reads."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING_DOC = ROOT / "docs" / "monitoring.md"
RULES = ROOT / "ops" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "ops" / "prometheus" / "rules_test.yml"
ALERTMANAGER_CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
DASHBOARDS = sorted((ROOT / "ops" / "grafana").glob("*.json"))

# series Prometheus writes itself for every target
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Grafana's own variables, as Grafana would fill them in before asking Prometheus
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
SERIES_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "counter": ("",)}


@dataclass(frozen=True)
class Metric:
    name: str
    type: str

    def series(self) -> list[str]:
        """The names Prometheus stores: a histogram as its buckets, sum and count."""
        return [self.name + suffix for suffix in SERIES_SUFFIXES[self.type]]


def documented_metrics() -> dict[str, Metric]:
    """The rows of the table under "## Metrics" in docs/monitoring.md, by metric name."""
    section = MONITORING_DOC.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_:]+)` \| (\w+) \|", section, re.MULTILINE)
    return {name: Metric(name, kind) for name, kind in rows}


def alerting_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_targets(path: Path) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, rows' panels included."""
    found = []
    for panel in _panels(json.loads(path.read_text())["panels"]):
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def expressions() -> dict[str, str]:
    """Every PromQL expression of the rules and dashboards, by where it is written, with
    Grafana's variables filled in."""
    found = {f"rules.yml {rule['alert']}": rule["expr"] for rule in alerting_rules()}
    for path in DASHBOARDS:
        for number, (title, expr) in enumerate(dashboard_targets(path)):
            found[f"{path.name} #{number} {title!r}"] = fill_grafana_variables(expr)
    return found


def fill_grafana_variables(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


# what in PromQL names no metric: strings, label matchers, ranges, grouping clauses
_NOT_NAMES = [
    r'"(?:[^"\\]|\\.)*"',
    r"`[^`]*`",
    r"\{[^}]*\}",
    r"\[[^\]]*\]",
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
]
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The series names ``expr`` reads: identifiers that are neither functions, aggregations
    (followed by a parenthesis), keywords nor durations."""
    for pattern in _NOT_NAMES:
        expr = re.sub(pattern, " ", expr)
    names = re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", expr)
    return {name for name in names if name.lower() not in _KEYWORDS}


def documented_name(series: str, table: dict[str, Metric]) -> str | None:
    """The table's metric that stores ``series`` (``x_bucket`` is histogram ``x``'s)."""
    for metric in table.values():
        if series in metric.series():
            return metric.name
    return None


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for panel in panels:
        flat.append(panel)
        flat.extend(_panels(panel.get("panels", [])))
    return flat
