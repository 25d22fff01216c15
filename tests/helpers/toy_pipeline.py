"""A two-step TFX pipeline to stand in for pipeline.create_pipeline where a test needs LocalDagRunner itself
(components must be defined at module level): Produce, then Consume, which writes part of its output and then
finishes, raises, is interrupted (KeyboardInterrupt, as Ctrl-C) or hangs (to be killed)."""

from tfx import v1 as tfx
from tfx.types.standard_artifacts import Examples


@tfx.dsl.components.component
def Produce(examples: tfx.dsl.components.OutputArtifact[Examples]):
    with open(f"{examples.uri}/data.txt", "w") as f:
        f.write("ok")


@tfx.dsl.components.component
def Consume(
    examples: tfx.dsl.components.InputArtifact[Examples],
    result: tfx.dsl.components.OutputArtifact[Examples],
    behaviour: tfx.dsl.components.Parameter[str],
):
    with open(f"{result.uri}/partial.txt", "w") as f:
        f.write("half")
    if behaviour == "interrupt":
        raise KeyboardInterrupt
    if behaviour == "hang":  # until the test kills the process
        import time

        with open(f"{result.uri}/../../hanging", "w") as f:  # <pipeline_root>/Consume/hanging
            f.write("")
        time.sleep(600)
    if behaviour == "fail":
        raise RuntimeError("step failed")


def create_pipeline_that(behaviour: str):
    """A create_pipeline(config, metadata_connection_config=..., beam_pipeline_args=...) of the toy pipeline."""

    def create(config, metadata_connection_config, beam_pipeline_args):
        produce = Produce()
        consume = Consume(examples=produce.outputs["examples"], behaviour=behaviour)
        return tfx.dsl.Pipeline(
            pipeline_name=config.pipeline_name,
            pipeline_root=config.pipeline_root,
            components=[produce, consume],
            enable_cache=False,
            metadata_connection_config=metadata_connection_config,
        )

    return create
