"""Run every benchmark script in bench/ (each prints JSON lines) and print their JSON lines; `make bench` calls this."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("*.py")):
        # Support modules (the shared serving code, a WSGI entry point, a URLconf) are not benchmarks.
        if script.name in ("run.py", "__init__.py", "serving.py") or script.stem.endswith(("_wsgi", "_urls")):
            continue
        # Progress and errors go to stderr; stdout is kept for the JSON lines only.
        print(f"bench: {script.name} ...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, stdout=subprocess.PIPE, text=True)
        for line in done.stdout.splitlines():
            if line.lstrip().startswith("{"):
                print(line, flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
