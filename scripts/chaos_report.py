"""The table of docs/resilience.md from the figures `make chaos` wrote (CHAOS_RESULTS).

python scripts/chaos_report.py [.data/chaos/results.json]
"""

import json
import sys
from pathlib import Path

COLUMNS = [
    ("scenario", "scenario"),
    ("accepted", "accepted"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("lost", "lost"),
    ("duplicates", "doubled"),
    ("retransmitted", "resent"),
    ("answers_500", "500s"),
    ("answers_503", "503s"),
    ("slowest_503_s", "slowest 503 (s)"),
    ("slowest_upload_s", "slowest upload (s)"),
    ("not_ready", "readiness 503s"),
    ("unanswered_probes", "probes unanswered"),
    ("recovery_s", "recovery (s)"),
    ("drained_s", "all final (s)"),
    ("delivered_s", "all delivered (s)"),
]


def render(results: dict[str, object]) -> str:
    lines = [
        f"Run {results['date']} on {results['machine']}; load average at the end "
        f"{', '.join(str(x) for x in results['load_at_end'])}.",  # type: ignore[attr-defined]
        "",
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in results["scenarios"]:  # type: ignore[attr-defined]
        cells = ["-" if row.get(key) is None else str(row[key]) for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else ".data/chaos/results.json")
    print(render(json.loads(path.read_text())))
