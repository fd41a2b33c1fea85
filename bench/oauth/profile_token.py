"""py-spy profile of the vault's token endpoint under wrk load (code exchange, then refresh rotation).

    .venv/bin/python bench/oauth/profile_token.py [--seconds 8] [--codes 3000] [--out /tmp/token-profile] [--gil]

Writes ``OUT-code.txt`` and ``OUT-refresh.txt`` (py-spy raw collapsed stacks) and prints the top frames by share of
samples (self and inclusive), the summary quoted in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import collections
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_token import LUA, REDIRECT, VaultSide, basic, challenge_of, vault_backend
from wrkload import PIDS, wrk


def summary(collapsed: Path, top: int = 25) -> str:
    """Top frames of a py-spy ``--format raw`` file: inclusive share (frame anywhere on the stack) and self share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    out = [f"{total} samples", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    out.append("self:")
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--codes", type=int, default=3000)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "token-profile"))
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only threads holding the GIL: Python's own CPU, without the waits on fsync and SQLite's C code",
    )
    args = parser.parse_args()
    verifier = secrets.token_urlsafe(48)
    with vault_backend(args.backend) as vault:
        side = VaultSide(vault)
        try:
            with vault.serve() as base:
                codes = side.mint(args.codes, challenge_of(verifier))
                work = Path(tempfile.mkdtemp(prefix="profile-token-"))
                (work / "codes.txt").write_text("\n".join(codes) + "\n")
                auth = basic(side.client_id, side.secret)
                common = [verifier, auth, quote(REDIRECT, safe=""), "2"]
                for mode, source, prefix in (("code", "codes.txt", "rt"), ("refresh", "refresh.txt", "rt2-")):
                    if mode == "refresh":
                        tokens = [t for f in sorted(work.glob("rt[0-9]*.txt")) for t in f.read_text().split()]
                        (work / "refresh.txt").write_text("\n".join(tokens) + "\n")
                    raw = Path(f"{args.out}-{mode}.txt")
                    spy = subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "--pid",
                            str(PIDS[base]),
                            "--format",
                            "raw",
                            "--rate",
                            "200",
                            "--duration",
                            str(args.seconds),
                            "--output",
                            str(raw),
                            "--nonblocking",
                            *(["--gil"] if args.gil else []),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        executable=str(Path(sys.executable).parent / "py-spy"),
                    )
                    result = wrk(
                        base + "/oauth/token",
                        seconds=args.seconds,
                        script=LUA,
                        script_args=[str(work / source), str(work / prefix), mode, *common],
                        server=base,
                    )
                    spy.wait(timeout=60)
                    print(
                        f"## {mode}: {result.ok_rps:.0f} ok/s, {result.per_cpu_second:.0f} per CPU-second, "
                        f"{result.errors} errors of {result.requests}\n"
                    )
                    print(summary(raw) if raw.exists() else "(no profile)")
                    print()
        finally:
            side.close()


if __name__ == "__main__":
    main()
