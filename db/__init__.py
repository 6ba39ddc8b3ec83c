"""genq's shared state layer: settings, models, specs, the job state machine,
object storage and queue names. Used by web/ and worker/; never imports Flask,
torch, diffusers or anything from web/ or worker/."""
