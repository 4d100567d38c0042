#!/usr/bin/env python3
"""Validates the CI configuration snippets of a Markdown file against their published schemas.

A ```yaml block whose first line is a comment naming the file it belongs in is checked against
that file's schema (vendored by check-jsonschema, so nothing is fetched):
  # .github/workflows/NAME.yml  -> GitHub Actions workflow
  # .gitlab-ci.yml              -> GitLab CI
  # ...compose.yml / compose.yaml -> Compose Specification
Every other yaml block must at least parse. Usage: check_ci_docs.py DOC.md OUT_DIR
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

doc, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
blocks = re.findall(r"^```ya?ml\n(.*?)^```", doc.read_text(), flags=re.S | re.M)
schemas = {"github-workflows": [], "gitlab-ci": [], "compose-spec": []}
for n, block in enumerate(blocks):
    first = block.splitlines()[0].strip() if block.strip() else ""
    yaml.safe_load(block)  # raises on a block that does not parse
    if re.fullmatch(r"# \.github/workflows/[\w.-]+\.ya?ml", first):
        schema = "github-workflows"
    elif first == "# .gitlab-ci.yml":
        schema = "gitlab-ci"
    elif re.fullmatch(r"# .*compose\.ya?ml", first):
        schema = "compose-spec"
    else:
        print(f"ok   yaml block {n} parses")
        continue
    path = out / f"block-{n}.yml"
    path.write_text(block)
    schemas[schema].append(path)
    print(f"     yaml block {n} ({first[2:]}) -> vendor.{schema}")

missing = [s for s in ("github-workflows", "gitlab-ci") if not schemas[s]]
if missing:
    sys.exit(f"{doc}: no snippet for {', '.join(missing)}: the check would check nothing")
failed = []
for schema, paths in schemas.items():
    if paths:
        checker = Path(sys.executable).parent / "check-jsonschema"
        result = subprocess.run([checker, "--builtin-schema", f"vendor.{schema}", *map(str, paths)])
        if result.returncode != 0:
            failed.append(schema)
if failed:
    sys.exit(f"{doc}: snippets that break the {', '.join(failed)} schema(s); see above")
