"""The `speech` executor: a text to one audio file (WAV or FLAC, 16-bit PCM, mono)
with a cached transformers text-to-waveform model (VITS).

The text is spoken one sentence at a time (db.kinds.speech.split_sentences) and
the waveforms are joined in order; progress is sentences spoken of all, reported
after each (a cancel raises there, so it takes effect within one sentence).
Seeds: the global torch generator is seeded with the job's seed before every
sentence (VITS draws its durations' and its latents' noise from it), so the same
seed, model and params give the same samples, and a sentence sounds the same
wherever it stands. Encoding is soundfile's (libsndfile), done where the runner
stores the file. Never touches Celery, the database or storage.
"""

import io

import numpy as np
import soundfile
import torch

from db.failures import FailureCode
from db.kinds.speech import SpeechSpec, split_sentences
from worker.executors.interface import ArtifactOutput, AudioInfo, JobContext, JobInput, KindExecutor
from worker.failures import JobFailure, parse_params
from worker.speech_models import SpeechModel

CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac"}
SOUNDFILE_FORMATS = {"wav": "WAV", "flac": "FLAC"}


def run_speech(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = parse_params(SpeechSpec, job.params, "speech")
    loaded = context.speech_models.get(job.model)
    sentences = split_sentences(spec.text)
    context.report_progress(0, len(sentences))
    waveforms = []
    for spoken, sentence in enumerate(sentences, start=1):
        waveform = speak(loaded, sentence, spec)
        if waveform is not None:
            waveforms.append(waveform)
        context.report_progress(spoken, len(sentences))
    if not waveforms:
        raise JobFailure(FailureCode.INVALID_PARAMS, "the text has no character the model's vocabulary holds")
    samples = np.concatenate(waveforms)
    return [
        ArtifactOutput(
            index=0,
            kind="audio",
            content_type=CONTENT_TYPES[spec.format],
            extension=spec.format,
            data=lambda: encode_audio(samples, loaded.sample_rate, spec.format),
            seed=spec.seed,
            audio=AudioInfo(loaded.sample_rate, duration_seconds=len(samples) / loaded.sample_rate),
        )
    ]


def speak(loaded: SpeechModel, sentence: str, spec: SpeechSpec) -> np.ndarray | None:
    """One sentence's samples (float32 in [-1, 1]); None when the tokenizer keeps
    nothing of it (no character of the model's vocabulary)."""
    inputs = loaded.tokenizer(sentence, return_tensors="pt").to(loaded.model.device)
    if inputs.input_ids.shape[1] == 0:
        return None
    torch.manual_seed(spec.seed)
    with torch.inference_mode():
        output = loaded.model(**inputs, speaking_rate=spec.speaking_rate)
    length = int(output.sequence_lengths[0])
    samples: np.ndarray = output.waveform[0, :length].float().cpu().numpy().clip(-1.0, 1.0)
    return samples


def encode_audio(samples: np.ndarray, sample_rate: int, audio_format: str) -> bytes:
    # Quantized here, once: libsndfile's WAV and FLAC writers round floats differently,
    # and the two formats must hold the same 16-bit samples.
    pcm = np.round(samples * np.iinfo(np.int16).max).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, sample_rate, format=SOUNDFILE_FORMATS[audio_format], subtype="PCM_16")
    return buffer.getvalue()


EXECUTOR = KindExecutor(run_speech)
