"""A tiny GPT-2-shaped causal language model with random weights, built offline.

The text twin of worker/tiny_models.py: tests and the first run (`genq up`) get a
text model without a hub, saved with save_pretrained (safetensors) and loaded by
textgen jobs through the same from_pretrained path as a real checkpoint. Its
tokenizer is byte-level BPE with no merges, so any text tokenizes (one token per
byte); the text it writes is random bytes, not language.
"""

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"
# Prompt bytes plus new tokens must fit: GENQ_MAX_PROMPT_CHARS and max_new_tokens' defaults.
CONTEXT_LENGTH = 4096
# A role-tagged plain layout, so chat requests have a template to render with.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def _byte_level_tokenizer() -> PreTrainedTokenizerFast:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    vocab[END_OF_TEXT] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([END_OF_TEXT])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        model_max_length=CONTEXT_LENGTH,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_gpt2(directory: str | Path, seed: int = 0) -> Path:
    """Write a two-layer GPT-2 and its tokenizer (with a chat template) to `directory`."""
    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer = _byte_level_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=CONTEXT_LENGTH,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory
