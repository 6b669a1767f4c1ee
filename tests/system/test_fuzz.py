"""We test these aspects: the coverage-guided fuzzers run and find nothing, briefly, on
every test run (`make fuzz` runs them for minutes):

- libFuzzer on the C API (native/fuzz/fuzz_classifier.cpp, built by `make fuzz-build`
  with ASan and UBSan): the seed corpus and every saved regression replay cleanly, and a
  short fuzzing run from them ends without a crash, a leak or a broken contract;
- atheris on the body parser (tests/fuzz/fuzz_body.py): the same, in a subprocess, since
  atheris takes the process over.

Each run is bounded by a number of executions, not by time, so the test does as much
work on a slow machine as on a fast one; the figures libFuzzer prints are shown with -s.
"""

import os
import re
import subprocess
import sys

from testbed.paths import ROOT
from testbed.tools import require

NATIVE = ROOT / ".cache" / "fuzz" / "fuzz_classifier"
NATIVE_SEEDS = [ROOT / "native" / "fuzz" / "corpus", ROOT / "native" / "fuzz" / "regressions"]
BODY_SEEDS = [ROOT / "tests" / "fuzz" / "corpus", ROOT / "tests" / "fuzz" / "regressions"]
HARNESS = ROOT / "tests" / "fuzz" / "fuzz_body.py"


def run(argv: list, tmp_path) -> str:
    """Run a libFuzzer-style target; its output, or a failure showing the end of it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([*map(str, argv), f"-artifact_prefix={tmp_path}/"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-", "oom-")))
    assert result.returncode == 0 and not crashes, f"{crashes}\n{result.stderr[-4000:]}"
    return result.stderr


def figures(output: str) -> str:
    """libFuzzer's last status line (executions, coverage, corpus)."""
    lines = [line for line in output.splitlines() if re.match(r"#\d+\s+(DONE|INITED)", line)]
    assert lines, output[-2000:]
    print(lines[-1])
    return lines[-1]


def replay_and_fuzz(target: list, seeds: list, runs: int, tmp_path) -> None:
    work = tmp_path / "corpus"
    work.mkdir()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    replayed = figures(run([*target, "-runs=0", *seeds], artifacts))
    assert int(re.match(r"#(\d+)", replayed).group(1)) >= len(list(seeds[0].iterdir()))
    fuzzed = figures(run([*target, f"-runs={runs}", "-seed=1", work, *seeds], artifacts))
    assert "DONE" in fuzzed and int(re.search(r"cov: (\d+)", fuzzed).group(1)) > 0


def test_native_fuzzer_finds_nothing(tmp_path):
    """The C API under ASan and UBSan keeps its contract on the corpus and 20,000 new inputs."""
    require(NATIVE.exists(), f"{NATIVE} (make fuzz-build)")
    replay_and_fuzz([NATIVE], NATIVE_SEEDS, 20_000, tmp_path)


def test_body_fuzzer_finds_nothing(tmp_path):
    """parse_body keeps its promises on the corpus and 5,000 new inputs."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        require(False, "atheris (requirements-dev.txt)")
    replay_and_fuzz([sys.executable, HARNESS, f"-dict={HARNESS.with_name('body.dict')}"], BODY_SEEDS,
                    5_000, tmp_path)
