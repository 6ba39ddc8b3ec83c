"""Benchmark: the speech kind's real-time factor (seconds of compute per second of
audio; below 1 is faster than real time), two ways, same model and text.

  bare      a transformers script: VitsModel on the whole text in one call
  executor  genq's speech executor in process: sentence by sentence, seeded,
            16-bit WAV encoded as the runner stores it

Run:
  python -m ops.bench.speech                                   # CPU, tiny model
  python -m ops.bench.speech --threads 1                       # the same, on one thread (a busy machine)
  python -m ops.bench.speech --model DIR --device cuda         # e.g. an MMS-TTS checkpoint
"""

import argparse
import os
import platform as host
import tempfile
import time
import uuid
from pathlib import Path

import torch
import transformers

from db.kinds.speech import SpeechSpec
from db.settings import Settings
from ops.bench.harness import synchronize
from worker.executors.interface import JobInput
from worker.executors.speech import run_speech
from worker.model_cache import resolve_device
from worker.speech_models import SpeechModelCache
from worker.tiny_speech_models import build_tiny_vits

# About 20 s of speech at a natural pace: ten sentences of an ordinary length.
TEXT = " ".join(
    [
        "The lighthouse keeper climbed the stairs at dusk.",
        "He wiped the great lens until it shone.",
        "Far out at sea, a ship was turning for home.",
        "The wind had dropped, and the water lay still.",
        "Gulls settled on the rocks below the tower.",
        "He wrote the time and the weather in his book.",
        "Then he lit the lamp, and the beam swept the bay.",
        "Somewhere a bell rang across the harbour.",
        "The ship's lights answered, small and steady.",
        "By midnight it was safe inside the breakwater.",
    ]
)


class BenchJobContext:
    """The JobContext the speech executor uses (its model cache, progress), in
    process: progress is dropped, so the executor's own cost is all that is added."""

    def __init__(self, speech_models: SpeechModelCache) -> None:
        self.speech_models = speech_models

    def report_progress(self, step: int, total: int) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a speech model directory; default: the tiny VITS")
    parser.add_argument("--device", default="auto", help="as GENQ_DEVICE: auto, cpu, cuda, cuda:N")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (after one warm-up)")
    parser.add_argument("--threads", type=int, help="torch's CPU threads (torch.set_num_threads); default: torch's")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.disable_progress_bar()  # loading bars would bury the report

    model_dir = args.model
    if model_dir is None:
        model_dir = Path(tempfile.mkdtemp(prefix="genq-bench-")) / "models" / "tiny-speech"
        build_tiny_vits(model_dir)
    model_dir = model_dir.resolve()
    device = resolve_device(args.device)
    cache = SpeechModelCache(Settings(models_dir=model_dir.parent, device=args.device))
    loaded = cache.get(model_dir.name)

    def bare(seed: int) -> float:
        inputs = loaded.tokenizer(TEXT, return_tensors="pt").to(device)
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = loaded.model(**inputs)
        return int(output.sequence_lengths[0]) / loaded.sample_rate

    context = BenchJobContext(cache)

    def executor(seed: int) -> float:
        params = SpeechSpec(text=TEXT, seed=seed).model_dump(mode="json")
        [output] = run_speech(JobInput(uuid.uuid4(), model_dir.name, params), context)
        output.encoded()
        assert output.audio is not None
        return output.audio.duration_seconds

    runs = {"bare": bare, "executor": executor}
    for run in runs.values():
        run(args.repeats)  # warm-up
    # Each run's own factor (the seed changes how long the speech is), the two
    # taking turns: on a shared machine the load changes.
    factors: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
    for seed in range(args.repeats):
        for name, run in runs.items():
            synchronize(device)
            started = time.perf_counter()
            audio_seconds = run(seed)
            synchronize(device)
            seconds = time.perf_counter() - started
            factors[name].append((seconds / audio_seconds, seconds, audio_seconds))

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{host.processor() or host.machine()}, {os.cpu_count()} CPU cores"
    print("\n== speech, real-time factor (compute seconds per audio second; lower is faster)")
    print(
        f"device: {device} ({name}); float32; {torch.get_num_threads()} torch threads; torch {torch.__version__}; "
        f"transformers {transformers.__version__}\n"
        f"model: {model_dir} ; {len(TEXT)} characters, 10 sentences ; repeats {args.repeats} ; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    for name, measured in factors.items():
        rtf, seconds, audio = sorted(measured)[len(measured) // 2]  # the median run
        print(f"{name:<8}  RTF {rtf:8.4f}  ({1 / rtf:7.1f} x real time; {seconds:.3f} s for {audio:.2f} s of audio)")


if __name__ == "__main__":
    main()
