"""Reading the audio artifacts of speech jobs on the web side, with soundfile
(libsndfile; never torch): their samples for the waveform chart, and the raw
16-bit PCM that OpenAI's `pcm` response format is."""

import io

import numpy as np
import soundfile


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """The samples of a WAV or FLAC file (16-bit integers, the first channel) and its sample rate."""
    samples, sample_rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    return samples[:, 0], sample_rate


def raw_pcm(data: bytes) -> bytes:
    """A WAV or FLAC file's samples without a header: 16-bit signed, little-endian."""
    samples, _sample_rate = decode_audio(data)
    return samples.astype("<i2").tobytes()
