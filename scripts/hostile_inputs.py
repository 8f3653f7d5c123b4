"""Write the hostile-input suite's cases to a folder, the same bytes the e2e suite sends.

    python scripts/hostile_inputs.py OUT_DIR [--seed N] [--truncations 40] [--random 14]

``OUT_DIR/files/`` holds the uploads (random, truncated, XML, archives), ``OUT_DIR/bodies/``
the raw request bodies with their Content-Type in a ``.content-type`` file next to each, and
``OUT_DIR/messages/`` the malformed CloudEvents as JSON (headers; the body base64). The
external-entity cases point at ``--listener-port`` and at ``OUT_DIR/canary.txt``.
"""

import argparse
import base64
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hostile import (  # noqa: E402
    SEED,
    archive_cases,
    malformed_messages,
    mspdi_variants,
    multipart_bodies,
    random_files,
    truncations,
)

SAMPLES = ROOT / "tests" / "fixtures" / "projects"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--truncations", type=int, default=40)
    parser.add_argument("--random", type=int, default=14)
    parser.add_argument("--listener-port", type=int, default=9)
    args = parser.parse_args()
    files, bodies, messages = (args.out / name for name in ("files", "bodies", "messages"))
    for folder in (files, bodies, messages):
        folder.mkdir(parents=True, exist_ok=True)
    canary = args.out / "canary.txt"
    canary.write_text("a file no conversion may read\n")
    rng = random.Random(args.seed)
    sources = sorted(p for p in SAMPLES.glob("*/*") if p.suffix != ".md")
    sample = (SAMPLES / "other" / "legacy__sample.xml").read_bytes()
    cases = [
        *random_files(rng, args.random),
        *truncations(rng, sources, args.truncations),
        *mspdi_variants(sample, canary, args.listener_port),
        *archive_cases(rng, sample, args.out / "escaped.xml"),
    ]
    for case in cases:
        (files / f"{case.name}{Path(case.filename).suffix}").write_bytes(case.content)
    for body in multipart_bodies(sources[0].read_bytes()[:4096]):
        (bodies / f"{body.name}.body").write_bytes(body.body)
        (bodies / f"{body.name}.content-type").write_text(body.content_type)
    for name, headers, payload in malformed_messages():
        shown = {
            k: v if isinstance(v, str) else base64.b64encode(v).decode() for k, v in headers.items()
        }
        record = {"headers": shown, "body_base64": base64.b64encode(payload).decode()}
        (messages / f"{name}.json").write_text(json.dumps(record, indent=2))
    print(f"{len(cases)} files, bodies and messages written to {args.out}")


if __name__ == "__main__":
    main()
