"""Prints the shell example that README.md shows under a heading, so .ci/run can run it as is.

Usage: python3 .ci/readme_examples.py "<heading prefix>"  (the first ```sh block after it)
"""
import sys

heading = sys.argv[1]
lines = open("README.md", encoding="utf-8").read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith("#") and l.lstrip("#").strip().startswith(heading))
begin = next(i for i in range(start, len(lines)) if lines[i].strip() == "```sh")
end = next(i for i in range(begin + 1, len(lines)) if lines[i].strip() == "```")
print("\n".join(lines[begin + 1 : end]))
