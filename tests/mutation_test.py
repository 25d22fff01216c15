"""The mutation tool's own mechanics (tests/mutation.py), on a tiny fake project: no TensorFlow, a few seconds."""

import subprocess
import sys

import pytest

from tests import mutation as mt

CALC = "def add(a, b):\n    return a + b\n\n\ndef double(a):\n    return a + a\n"
CALC_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def _mutation(original: str, replacement: str, tests=("calc_test.py",), name="m") -> mt.Mutation:
    return mt.Mutation(name, "calc.py", original, replacement, tests, "breaks calc")


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "calc_test.py").write_text(CALC_TEST)
    return root


def test_a_snippet_absent_or_ambiguous_is_stale_and_names_the_file():
    assert mt.mutated_text(CALC, _mutation("a + b", "a - b")) == CALC.replace("a + b", "a - b")
    with pytest.raises(mt.StaleMutation, match=r"'a \* b' does not occur in calc.py"):
        mt.mutated_text(CALC, _mutation("a * b", "a / b"))
    with pytest.raises(mt.StaleMutation, match="'return a' occurs 2 times in calc.py"):
        mt.mutated_text(CALC, _mutation("return a", "return 0"))


def test_the_verdict_follows_the_tests_and_the_file_is_restored(project):
    before = ((project / "calc.py").read_text(), (project / "calc.py").stat().st_mtime_ns)
    killed = mt.run_mutant(project, _mutation("a + b", "a - b"), sys.executable, timeout=120)
    assert killed.verdict == mt.KILLED and "calc_test.py::test_add" in killed.detail
    # double() has no test: breaking it goes unnoticed.
    survived = mt.run_mutant(project, _mutation("a + a", "a * 3"), sys.executable, timeout=120)
    assert survived.verdict == mt.SURVIVED
    assert ((project / "calc.py").read_text(), (project / "calc.py").stat().st_mtime_ns) == before


def test_a_stale_mutation_is_not_run(project):
    result = mt.run_mutant(project, _mutation("a * b", "a / b"), sys.executable, timeout=120)
    assert (result.verdict, result.seconds) == (mt.STALE, 0.0) and "does not occur" in result.detail
    result = mt.run_mutant(project, _mutation("a + b", "a - b", tests=("gone_test.py",)), sys.executable, 120)
    assert result.verdict == mt.STALE and "gone_test.py" in result.detail


def test_tests_that_run_past_the_timeout_give_timeout(project):
    (project / "calc_test.py").write_text(CALC_TEST + "\n\ndef test_slow():\n    import time\n    time.sleep(60)\n")
    result = mt.run_mutant(project, _mutation("a + a", "a * 3"), sys.executable, timeout=5)
    assert result.verdict == mt.TIMEOUT


def test_verdicts_by_exit_code():
    assert [mt.verdict(c) for c in (0, 1, 2, 4, 5, None)] == [
        mt.SURVIVED,
        mt.KILLED,  # failed
        mt.KILLED,  # interrupted: e.g. the mutant breaks the import of a test module
        mt.STALE,  # usage error: a test path that is not there
        mt.STALE,  # no tests collected
        mt.TIMEOUT,
    ]


def test_the_copy_holds_tracked_and_untracked_files_and_imports_from_itself(tmp_path):
    repo = tmp_path / "checkout"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / ".gitignore").write_text("ignored.txt\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "pkg", ".gitignore"], check=True)
    (repo / "new.py").write_text("")  # untracked, not ignored: copied
    (repo / "ignored.txt").write_text("")
    copy = tmp_path / "copy"
    assert mt.copy_tree(repo, copy) == 3
    assert sorted(p.name for p in copy.rglob("*") if p.is_file()) == [".gitignore", "__init__.py", "new.py"]
    mt.check_imports_from(copy, sys.executable, packages=("pkg",))
    with pytest.raises(RuntimeError, match="imports .* from elsewhere"):
        mt.check_imports_from(copy, sys.executable, packages=("pytest",))


def test_every_named_mutation_fits_the_code_and_names_existing_tests():
    """Catches a stale mutation at `make test` time, before anyone runs the slow `make mutation`."""
    assert len({m.name for m in mt.MUTATIONS}) == len(mt.MUTATIONS)
    for m in mt.MUTATIONS:
        mt.check_fits(mt.REPO, m)


def test_only_selects_by_name_and_refuses_unknown_names():
    assert [m.name for m in mt.select(["policy-always-bless"])] == ["policy-always-bless"]
    assert len(mt.select([])) == len(mt.MUTATIONS)
    with pytest.raises(SystemExit, match="unknown mutation"):
        mt.select(["no-such-mutation"])
