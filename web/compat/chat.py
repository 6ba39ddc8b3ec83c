"""Chat messages to one prompt, for /v1/chat/completions: rendered with the
model's own chat template (a local model's chat_template.jinja, or the
chat_template of its tokenizer_config.json) in Jinja's sandbox, as transformers'
apply_chat_template does, else with a plain `role: content` template.

Reads template files only; never imports transformers (the web must not).
"""

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter, ValidationError

from db.refusals import SubmissionRejected, field_errors
from db.registry import find_model
from db.settings import Settings
from web.compat.bodies import reworded
from web.compat.errors import CompatError

PLAIN_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = get_args(Role)


def _text_of_parts(content: Any) -> Any:
    """A list of content parts as the text of its text parts (images and the like are dropped)."""
    if not isinstance(content, list):
        return content
    return "".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))


class ChatMessage(BaseModel):
    role: Role
    content: Annotated[str | None, BeforeValidator(_text_of_parts)] = None


ChatMessages = Annotated[
    list[Annotated[ChatMessage, reworded(f"needs a role ({', '.join(sorted(ROLES))}) and text content")]],
    Field(min_length=1),
    reworded("must be a non-empty list"),
]
_CHAT_MESSAGES = TypeAdapter(ChatMessages)


def chat_messages(raw: Any) -> list[dict[str, str]]:
    """OpenAI's messages as {role, content} with text content; a list of parts keeps its text parts."""
    try:
        messages = _CHAT_MESSAGES.validate_python(raw)
    except ValidationError as error:
        raise SubmissionRejected("validation_error", field_errors(error, prefix="messages")) from None
    return [{"role": message.role, "content": message.content or ""} for message in messages]


def render_chat(settings: Settings, model: str | None, messages: list[dict[str, str]]) -> str:
    entry = find_model(settings, model) if model else None
    template, special_tokens = PLAIN_TEMPLATE, dict[str, str]()
    if entry is not None and entry.origin == "local":
        template, special_tokens = _model_template(entry.source)
    try:
        prompt: str = _compiled(template).render(messages=messages, add_generation_prompt=True, **special_tokens)
        return prompt
    except TemplateError as error:
        raise CompatError(422, "chat_template_error", f"the model's chat template failed: {error}") from None


def _model_template(directory: str) -> tuple[str, dict[str, str]]:
    """The model's template and the special tokens templates refer to (bos_token, eos_token)."""
    try:
        config = json.loads((Path(directory) / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        config = {}
    special_tokens = {
        name: token.get("content", "") if isinstance(token, dict) else token
        for name in ("bos_token", "eos_token")
        if isinstance(token := config.get(name), str | dict)
    }
    template_file = Path(directory) / "chat_template.jinja"
    if template_file.is_file():
        return template_file.read_text(), special_tokens
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((item.get("template") for item in template if item.get("name") == "default"), None)
    return (template if isinstance(template, str) else PLAIN_TEMPLATE), special_tokens


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=32)
def _compiled(template: str):
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = _raise_exception
    return environment.from_string(template)
