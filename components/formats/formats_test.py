"""The shared formats stay light (the CLI, pipeline.config and Beam workers import them) and hold one name
per thing."""

import subprocess
import sys

from components import formats
from components.formats import examples


def test_formats_and_waveform_do_not_import_tensorflow_or_tfx():
    code = (
        "import sys; import components.formats, components.formats.examples, components.formats.serving, "
        "components.formats.push, components.formats.blessing, components.waveform; "
        "print(sorted(m for m in ('tensorflow', 'tfx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_transformed_examples_keep_raw_features_only_from_the_raw_contract():
    assert set(examples.PASSTHROUGH) <= set(examples.ALL_FEATURES)
    assert not {examples.LOG_MEL, examples.MEL_IMAGE, examples.ENGINEERED} & set(examples.ALL_FEATURES)
    assert formats.SPLITS == ("train", "eval", "test")
