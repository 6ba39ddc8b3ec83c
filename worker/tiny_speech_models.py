"""A tiny VITS text-to-speech model with random weights, built offline.

The speech twin of worker/tiny_text_models.py: tests and the first run (`genq up`)
get a speech model without a hub, saved with save_pretrained (safetensors) and
loaded by speech jobs through the same from_pretrained path as an MMS-TTS
checkpoint. Its tokenizer is VitsTokenizer over a character vocabulary (lower-case
letters, digits, space and punctuation, as MMS's English one, without phonemes);
what it says is noise, not speech.
"""

import json
import tempfile
from pathlib import Path

import torch
from transformers import VitsConfig, VitsModel, VitsTokenizer

CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789 '.,!?-"
PAD, UNKNOWN = "<pad>", "<unk>"
SAMPLE_RATE = 16_000


def _character_tokenizer() -> VitsTokenizer:
    vocab = {PAD: 0, **{character: index for index, character in enumerate(CHARACTERS, start=1)}}
    vocab[UNKNOWN] = len(vocab)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.json"
        vocab_file.write_text(json.dumps(vocab))
        return VitsTokenizer(str(vocab_file), pad_token=PAD, unk_token=UNKNOWN, phonemize=False)


def build_tiny_vits(directory: str | Path, seed: int = 0) -> Path:
    """Write a VITS with small layers (137 KB of weights, 256 samples per frame) and
    its tokenizer to `directory`."""
    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer = _character_tokenizer()
    config = VitsConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=33,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        duration_predictor_filter_channels=16,
        duration_predictor_num_flows=1,
        depth_separable_num_layers=1,
        prior_encoder_num_flows=2,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        sampling_rate=SAMPLE_RATE,
        pad_token_id=tokenizer.pad_token_id,
    )
    VitsModel(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory
