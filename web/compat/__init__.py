"""Endpoints in the shapes of APIs that existing clients already speak: OpenAI's
(openai.py, under /v1) and AUTOMATIC1111's (a1111.py, under /sdapi/v1). Each call
becomes an ordinary genq job (jobs.py) that the request waits for (waiting.py).
Like all of web/, this never imports torch, transformers or the worker."""
