"""genq's GPU worker: the Celery app, thin tasks, executors and the pipeline
cache. The only package that imports torch and diffusers; never imports web/."""
