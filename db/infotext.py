"""AUTOMATIC1111's "infotext": the text its PNGs carry in a `parameters` chunk
(prompt, `Negative prompt: ...`, then `Steps: 25, Sampler: Euler a, ...` on the
last line), which its png-info and other tools read; and A1111's sampler names
for genq's schedulers. Written and parsed as A1111 does; no Flask, no torch.
"""

import contextlib
import json
import re
from collections.abc import Mapping

PARAMETERS_CHUNK = "parameters"
NEGATIVE_PROMPT = "Negative prompt:"

# A1111's sampler names (and its k-diffusion aliases) for genq's schedulers. Its
# "Karras" variants differ only in the sigma schedule, which genq leaves to the model.
SAMPLERS: dict[str, tuple[str, list[str]]] = {
    "Euler": ("euler", ["k_euler"]),
    "Euler a": ("euler_a", ["k_euler_a"]),
    "DDIM": ("ddim", []),
    "DPM++ 2M": ("dpmpp_2m", ["k_dpmpp_2m"]),
    "DPM++ 2M Karras": ("dpmpp_2m", ["k_dpmpp_2m_ka"]),
    "Heun": ("heun", ["k_heun"]),
    "PLMS": ("pndm", []),
    "UniPC": ("unipc", []),
}
SCHEDULER_OF_SAMPLER = {
    name.lower(): scheduler for sampler, (scheduler, aliases) in SAMPLERS.items() for name in (sampler, *aliases)
}
# The first name of each scheduler is the one an infotext says.
SAMPLER_OF_SCHEDULER = {scheduler: sampler for sampler, (scheduler, _) in reversed(SAMPLERS.items())}

# A1111's own patterns (modules/infotext_utils.py): `Key: value` pairs, a value
# quoted as JSON when it holds a comma, colon or newline.
PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")
# The fewest pairs that make a last line the settings rather than more prompt.
MIN_SETTINGS = 3


def _quoted(value: str) -> str:
    return json.dumps(value) if any(mark in value for mark in ",:\n") else value


def format_infotext(prompt: str, negative_prompt: str, settings: Mapping[str, object]) -> str:
    """The infotext of an image: settings in order, those that are None left out."""
    lines = [prompt]
    if negative_prompt:
        lines.append(f"{NEGATIVE_PROMPT} {negative_prompt}")
    lines.append(", ".join(f"{key}: {_quoted(str(value))}" for key, value in settings.items() if value is not None))
    return "\n".join(lines)


def parse_infotext(text: str) -> dict[str, str]:
    """The fields of an infotext as A1111's png-info answers them: `Prompt`,
    `Negative prompt` and each setting (a size `WxH` as `Size-1` and `Size-2`)."""
    *lines, last = text.strip().split("\n")
    if len(PARAM.findall(last)) < MIN_SETTINGS:
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in (line.strip() for line in lines):
        if line.startswith(NEGATIVE_PROMPT):
            negative.append(line.removeprefix(NEGATIVE_PROMPT).strip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    fields = {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative)}
    for key, value in PARAM.findall(last):
        if len(value) > 1 and value[0] == value[-1] == '"':
            # A quote that does not read as JSON is kept as written, as A1111 keeps it.
            with contextlib.suppress(ValueError):
                value = str(json.loads(value))
        size = IMAGE_SIZE.match(value)
        if size is not None:
            fields |= {f"{key}-1": size[1], f"{key}-2": size[2]}
        else:
            fields[key] = value
    return fields


def infotext_of_genq_chunks(chunks: Mapping[str, str], size: tuple[int, int]) -> str | None:
    """The infotext of an image genq made, from the text chunks its generate
    executor writes (prompt, seed, steps, ...); None for an image without them."""
    if "prompt" not in chunks or "seed" not in chunks:
        return None
    settings = {
        "Steps": chunks.get("steps"),
        "Sampler": SAMPLER_OF_SCHEDULER.get(chunks.get("scheduler", "")),
        "CFG scale": chunks.get("guidance_scale"),
        "Seed": chunks["seed"],
        "Size": f"{size[0]}x{size[1]}",
        "Model": chunks.get("model"),
        "Denoising strength": chunks.get("strength"),
        "Mask blur": chunks.get("mask_blur"),
    }
    return format_infotext(chunks["prompt"], chunks.get("negative_prompt", ""), settings)
