"""The `echo` kind: writes its text `copies` times into a text file, on a queue
of its own; each copy counts against the daily budget like an image."""

from pydantic import ConfigDict, Field

from db.kinds.definition import JobKind, QuotaUnits
from db.specs import JsonBody

ECHO_QUEUE = "echo"


class EchoSpec(JsonBody):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=100)
    copies: int = Field(default=1, ge=1, le=4)


KIND = JobKind(
    name="echo",
    spec=EchoSpec,
    queue=ECHO_QUEUE,
    model_kind="text",
    executor_module="tests.support.kinds.echo_executor",
    steps_param="copies",
    quota=QuotaUnits("copies"),
)
