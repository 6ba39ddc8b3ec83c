"""The executor of the `echo` kind (tests/support/kinds/echo.py)."""

from tests.support.kinds.echo import EchoSpec
from worker.executors.interface import ArtifactOutput, JobContext, JobInput, KindExecutor


def run_echo(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = EchoSpec.model_validate(job.params)
    for copy in range(1, spec.copies + 1):
        context.report_progress(copy, spec.copies)
    data = (spec.text * spec.copies).encode()
    return [ArtifactOutput(index=0, kind="text", content_type="text/plain", extension="txt", data=data)]


EXECUTOR = KindExecutor(run_echo)
