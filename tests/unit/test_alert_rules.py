"""The alert rules and Alertmanager's configuration, checked by the tools Prometheus ships:
promtool checks the rules and runs their unit tests (ops/prometheus/rules_test.yml), amtool
checks the routing; and each alert has the runbook and the tests it promises."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap import ensure_monitoring_tools
from prometheus import scrape_config

from tests.support.promql import (
    ALERTMANAGER_CONFIG,
    BUILTIN,
    MONITORING_DOC,
    RULES,
    RULES_TEST,
    alerting_rules,
    documented_metrics,
    documented_name,
    metric_names,
)

ALERTS = [rule["alert"] for rule in alerting_rules()]


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return ensure_monitoring_tools()


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rules(tools: dict[str, str]) -> None:
    checked = run(tools["promtool"], "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def test_every_alert_passes_its_unit_tests(tools: dict[str, str]) -> None:
    tested = run(tools["promtool"], "test", "rules", str(RULES_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_accepts_the_configuration_make_observe_writes(
    tools: dict[str, str], tmp_path: Path
) -> None:
    targets = {"upload-api": 8000, "converter": 9003}
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets, "1s", alertmanager_port=9093)))
    checked = run(tools["promtool"], "check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def test_amtool_accepts_the_alertmanager_configuration(tools: dict[str, str]) -> None:
    checked = run(tools["amtool"], "check-config", str(ALERTMANAGER_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_ten_promised_alerts_exist() -> None:
    assert sorted(ALERTS) == sorted(
        [
            "TargetDown",
            "QueueBacklogGrowing",
            "DeadLettersPresent",
            "ApiErrorRate",
            "ApiLatencyHigh",
            "InterThrottled",
            "RateLimiterSaturated",
            "WebhookFailureRate",
            "JvmWorkerRestarts",
            "OutboxBacklog",
        ]
    )


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = [
        case for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]  # fmt: skip
    for alert in ALERTS:
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert} is never shown firing"
        assert any(not case["exp_alerts"] for case in mine), f"{alert} is never shown silent"


@pytest.mark.parametrize("rule", alerting_rules(), ids=ALERTS)
def test_every_alert_has_a_severity_a_summary_and_a_runbook_in_the_docs(
    rule: dict[str, Any],
) -> None:
    headings = re.findall(r"^### (\w+)$", MONITORING_DOC.read_text(), re.MULTILINE)
    name, annotations = rule["alert"], rule["annotations"]
    assert annotations["summary"]
    assert rule["labels"] in ({"severity": "critical"}, {"severity": "warning"})
    assert annotations["runbook_url"] == f"docs/monitoring.md#{name.lower()}"
    assert name in headings, f"no '### {name}' runbook in {MONITORING_DOC}"


@pytest.mark.parametrize("rule", alerting_rules(), ids=ALERTS)
def test_every_metric_an_alert_reads_is_documented(rule: dict[str, str]) -> None:
    table = documented_metrics()
    names = metric_names(rule["expr"])
    assert names, "the expression reads no metric"
    assert [n for n in names - BUILTIN if documented_name(n, table) is None] == []
