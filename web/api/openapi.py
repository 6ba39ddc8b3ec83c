"""GET /api/v1/openapi.json: the OpenAPI 3.1 description of every /api/v1 route,
for this deployment (its kinds, models and caps), built from the code: the routes
of the blueprint, each view's record (web/api/operations.py), the db/contract
response models and the pydantic request models, turned into JSON Schema by
pydantic in one call. A route without a record fails the document (and its test).
"""

import re
import uuid
from typing import Annotated, Any

from flask import current_app
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from werkzeug.routing import Rule

from db.kinds import job_kinds
from db.registry import ModelEntry, list_models
from db.settings import Settings
from db.specs import CAP_MARK, MODELS_MARK, SubmitRequest
from web.api import api
from web.api.operations import COMMON_ANSWERS, OPERATIONS, Answer, Body, Header, Operation, operation
from web.context import platform

SCHEMA_REF = "#/components/schemas/{model}"
# Flask's converters as the document's path parameters.
PATH_TYPES: dict[str, Any] = {"uuid": uuid.UUID, "int": Annotated[int, Field(ge=0)], "default": str}
ROUTE_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")
# Headers and methods Flask answers for every route by itself.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
BINARY = TypeAdapter(bytes).json_schema()


class _ContractJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, without the `default: null` of a field that is left
    out rather than sent as null (SkipJsonSchema[None]): null is no value of its schema."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None and not _allows_null(json_schema):
            del json_schema["default"]
        return json_schema


def _allows_null(schema: JsonSchemaValue) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(branch) for branch in schema.get("anyOf", []) + schema.get("oneOf", []))


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(model=name)}


def _schema_of(annotation: Any) -> dict[str, Any]:
    return TypeAdapter(annotation).json_schema(ref_template=SCHEMA_REF, schema_generator=_ContractJsonSchema)


class _Schemas:
    """Every model the operations name, to JSON Schema at once (shared definitions
    under components), responses in serialization mode, requests in validation mode."""

    def __init__(self, operations: list[Operation]) -> None:
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
        for record in operations:
            for answer in [*record.answers.values(), *COMMON_ANSWERS.values()]:
                if answer.model is not None:
                    wanted.append((answer.model, "validation" if answer.media_types else "serialization"))
            for model in (record.query, record.headers):
                if model is not None:
                    wanted.append((model, "validation"))
            if record.body is not None and not isinstance(record.body.model, str):
                wanted.append((record.body.model, "validation"))
        wanted += [(kind.spec, "validation") for kind in job_kinds().values()]
        wanted.append((SubmitRequest, "validation"))
        unique = list(dict.fromkeys(wanted))
        refs, definitions = models_json_schema(unique, ref_template=SCHEMA_REF, schema_generator=_ContractJsonSchema)
        self.components: dict[str, Any] = definitions.get("$defs", {})
        self._refs = refs
        self._inlined: set[str] = set()

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return self._refs[(model, mode)]

    def inline(self, model: type[BaseModel]) -> dict[str, Any]:
        """A request model's own schema (its fields become parameters), not kept as a component."""
        name = self.ref(model, "validation")["$ref"].rsplit("/", 1)[-1]
        self._inlined.add(name)
        return dict(self.components[name])

    def shared(self) -> dict[str, Any]:
        """The components: every definition but the inlined ones."""
        return {name: schema for name, schema in self.components.items() if name not in self._inlined}


def _parameters(schemas: _Schemas, model: type[BaseModel] | None, location: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = schemas.inline(model)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": location, "required": name in required, "schema": field_schema}
        for name, field_schema in schema["properties"].items()
    ]


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": _schema_of(PATH_TYPES[converter or "default"])}
        for converter, name in ROUTE_ARGUMENT.findall(rule.rule)
    ]


def _headers(headers: dict[str, Header]) -> dict[str, Any]:
    return {
        name: {"description": header.description, "required": header.required, "schema": _schema_of(header.type)}
        for name, header in headers.items()
    }


def _answer(schemas: _Schemas, answer: Answer) -> dict[str, Any]:
    described: dict[str, Any] = {"description": answer.description}
    if answer.media_types:
        schema = BINARY if answer.model is None else schemas.ref(answer.model, "validation")
        described["content"] = {media: {"schema": schema} for media in answer.media_types}
    elif answer.model is not None:
        described["content"] = {"application/json": {"schema": schemas.ref(answer.model, "serialization")}}
    if answer.headers:
        described["headers"] = _headers(dict(answer.headers))
    if answer.links:
        described["links"] = {
            name: {"operationId": link.view, "parameters": dict(link.parameters)} for name, link in answer.links.items()
        }
    return described


def _body(schemas: _Schemas, body: Body) -> dict[str, Any]:
    schema = ref(body.model) if isinstance(body.model, str) else schemas.ref(body.model, "validation")
    content: dict[str, Any] = {"schema": schema}
    if body.file_types:
        content["encoding"] = {name: {"contentType": types} for name, types in body.file_types.items()}
    return {"required": True, "content": {body.media_type: content}}


def _operation(schemas: _Schemas, rule: Rule, record: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {"operationId": rule.endpoint.removeprefix(f"{api.name}."), "summary": record.summary}
    if record.description:
        described["description"] = record.description
    parameters = [
        *_path_parameters(rule),
        *_parameters(schemas, record.query, "query"),
        *_parameters(schemas, record.headers, "header"),
    ]
    if parameters:
        described["parameters"] = parameters
    if record.body is not None:
        described["requestBody"] = _body(schemas, record.body)
    answers = {**record.answers, **COMMON_ANSWERS}
    described["responses"] = {str(status): _answer(schemas, answer) for status, answer in answers.items()}
    return described


def _deployment_schemas(schemas: dict[str, Any], settings: Settings) -> None:
    """What the models cannot know before start-up: the kinds registered, the models
    installed, the caps in settings (the specs check them from validation context)."""
    installed = list_models(settings)
    _fill_marks(schemas, settings, installed)
    submit = schemas["SubmitRequest"]
    submit["properties"]["kind"]["enum"] = list(job_kinds())
    submit["properties"]["model"] = _model_choice([entry.name for entry in installed])
    # Which params and models go with which kind: one branch per kind that can run here.
    default_kind = SubmitRequest.model_fields["kind"].default
    branches = []
    for kind in job_kinds().values():
        models = [entry.name for entry in installed if entry.kind == kind.model_kind]
        if kind.model_param is None and not models:
            continue  # no model to run its jobs on
        branches.append(
            {
                "properties": {
                    "kind": {"const": kind.name},
                    # A kind whose params name what it runs on takes no model.
                    "model": {"type": "null"} if kind.model_param else _model_choice(models),
                    "params": ref(kind.spec.__name__),
                },
                "required": [] if kind.name == default_kind else ["kind"],
            }
        )
    submit["oneOf"] = branches


def _fill_marks(schema: Any, settings: Settings, installed: list[ModelEntry]) -> None:
    """Each field marked Capped (db/specs.py) gets its cap from settings as the
    keyword its type takes (a list's maxItems, a text's maxLength, a number's
    maximum); each field marked as naming a model, the names it takes here."""
    if isinstance(schema, list):
        for item in schema:
            _fill_marks(item, settings, installed)
    if not isinstance(schema, dict):
        return
    if CAP_MARK in schema:
        cap = getattr(settings, schema.pop(CAP_MARK))
        kind = schema.get("type")
        keyword = "maxItems" if kind == "array" else "maxLength" if kind == "string" else "maximum"
        schema[keyword] = min(cap, schema.get(keyword, cap))
    if MODELS_MARK in schema:
        names = schema.pop(MODELS_MARK)
        schema["enum"] = [*names["also"], *(entry.name for entry in installed if entry.kind == names["kind"])]
    for value in schema.values():
        _fill_marks(value, settings, installed)


def _model_choice(names: list[str]) -> dict[str, Any]:
    """One of these models or null (the kind's default); null only when there are none."""
    return {"anyOf": [{"type": "string", "enum": names}, {"type": "null"}]} if names else {"type": "null"}


class OpenApiDocument(BaseModel, extra="allow"):
    """This document: OpenAPI 3.1's own schema describes the rest."""

    openapi: str
    paths: dict[str, Any]


def openapi_document(rules: list[Rule], settings: Settings) -> dict[str, Any]:
    """The document of these routes of the api blueprint."""
    records = [(rule, OPERATIONS[rule.endpoint]) for rule in rules]
    schemas = _Schemas([record for _rule, record in records])
    paths: dict[str, dict[str, Any]] = {}
    for rule, record in records:
        path = ROUTE_ARGUMENT.sub(r"{\2}", rule.rule.removeprefix(api.url_prefix or ""))
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
            paths.setdefault(path, {})[method.lower()] = _operation(schemas, rule, record)
    components = schemas.shared()
    _deployment_schemas(components, settings)
    return {
        "openapi": "3.1.0",
        "info": {"title": "genq", "version": "1", "description": "A job queue for generative AI."},
        "servers": [{"url": api.url_prefix}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API key, gq_live_..."}
            },
            "schemas": components,
        },
    }


@api.get("/openapi.json")
@operation("This document", {200: Answer("the OpenAPI document", OpenApiDocument)})
def get_openapi() -> dict[str, Any]:
    rules = [rule for rule in current_app.url_map.iter_rules() if rule.endpoint.startswith(f"{api.name}.")]
    return openapi_document(rules, platform().settings)
