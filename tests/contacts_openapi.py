"""An OpenAPI 3.1 model of the BSG Contacts family, for the conformance tests.

Written from the facts of BSG's published one-api spec (paths, parameters,
limits, shapes) and reconciled with the API's documented behaviour where the
spec contradicts itself or its own examples (see ``RECONCILED``): that is
what the SDK and the emulator are built to, so that is what they are tested
against. BSG's own file can be used instead: ``BSG_OPENAPI_SPEC=<path>``
(see ``tests/test_conformance.py``).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# Where this model departs from the letter of BSG's spec, and why.
RECONCILED = {
    "contact.fields": "object of id -> value, or [] when empty (the spec's examples and the "
    "real API); the spec's schema says an array of objects",
    "contact.groups in requests": "list ids or list objects (the examples send ids, the schema "
    "objects)",
    "created_at": "Y-m-d H:i:s without time zone, as documented; not RFC 3339 date-time",
    "list.default": "a boolean, or 0/1 as the API's own answers show it",
    "total": "an integer, or a string of digits (the stop-list seed page types it so)",
    "error statuses": "each operation lists the error statuses it really answers (see"
    " error_answers), each with the API's {message, errors?} object; no blanket 4XX",
    "stoplist types": "the stop-list filter is also read as `types`, the seed page's name for it",
    "204": "a 204 answer has no body (the spec gives some a JSON object schema)",
    "errors": "[] , [str] or {field: [str]} (the spec says an array)",
}

DATETIME: Schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"}
PHONE: Schema = {"type": "integer", "minimum": 100_000_000, "maximum": 999_999_999_999_999}
ID: Schema = {"type": "integer", "minimum": 1}
OPERATOR: Schema = {"type": "string", "enum": ["like", "=", ">=", ">", "<", "<="]}
WAY: Schema = {"type": "string", "enum": ["asc", "desc"]}
TOTAL: Schema = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+$"}]
}
STOP_TYPE: Schema = {"type": "string", "enum": ["sms", "viber", "rcs", "whatsapp"]}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Schema, *, min_items: int = 0, max_items: int | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if min_items:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def text(low: int, high: int, *, nullable: bool = False) -> Schema:
    kind: Any = ["string", "null"] if nullable else "string"
    return {"type": kind, "minLength": low, "maxLength": high}


GROUP = obj(
    {
        "id": {"type": "integer"},
        "name": text(3, 50),
        "description": text(1, 255, nullable=True),
        "default": {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]}, {"type": "null"}]},
        "created_at": DATETIME,
        "items": {"type": "integer", "minimum": 0},
        "stop_list_count": {"type": "integer", "minimum": 0},
    },
    ("id", "name", "created_at"),
)
CONTACT = obj(
    {
        "id": ID,
        "phone": PHONE,
        "fields": {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                {"type": "array", "maxItems": 0},
            ]
        },
        "created_at": DATETIME,
        "groups": array(GROUP, max_items=100),
        "hlr_status": {"type": "string"},
        "hlr_last_check": {"anyOf": [DATETIME, {"type": "null"}]},
    },
    ("id", "phone", "fields", "groups", "created_at"),
)
FIELD = obj(
    {
        "id": {"type": "integer"},
        "name": text(1, 30),
        "type": {"type": "string", "enum": ["text", "date", "number"]},
        "description": text(1, 255),
        "is_visible": {"type": "boolean"},
    },
    ("id", "name", "type"),
)
STOP_ENTRY = obj(
    {
        "id": ID,
        "phone": PHONE,
        "created_at": DATETIME,
        "sms_stoplist": {"type": "boolean"},
        "viber_stoplist": {"type": "boolean"},
        "rcs_stoplist": {"type": "boolean"},
    },
    ("id", "phone"),
)
LIST_FOUND = obj(
    {
        "id": {"type": "integer"},
        "name": text(3, 50),
        "description": text(1, 255, nullable=True),
        "is_default": {"type": ["boolean", "null"]},
        "items": {"type": "integer", "minimum": 0},
        "created_at": DATETIME,
    },
    ("id", "name"),
)
ERROR = obj(
    {
        "message": {"type": "string", "minLength": 1},
        "errors": {"type": ["array", "object"]},
    },
    ("message",),
)
EMPTY = {"type": "object"}


def paged(item: Schema) -> Schema:
    return obj({"data": array(item), "total": TOTAL}, ("data", "total"))


def found(item: Schema, search_field: Schema) -> Schema:
    criteria = obj({"field": search_field, "operator": OPERATOR, "value": {"type": "string"}})
    page = obj(
        {
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"},
            "offset": {"type": "integer", "minimum": 0},
        },
        ("total",),
    )
    return obj({"data": array(item), "meta": obj({"page": page, "search": criteria}, ("page",))})


def data(item: Schema) -> Schema:
    return obj({"data": item}, ("data",))


def query(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def path_id(schema: Schema = ID) -> Schema:
    return {"name": "id", "in": "path", "required": True, "schema": schema}


def paging(default_limit: int) -> list[Schema]:
    return [
        query("page[offset]", {"type": "integer", "minimum": 0, "default": 0}),
        query(
            "page[limit]",
            {"type": "integer", "minimum": 15, "maximum": 500, "default": default_limit},
        ),
    ]


def searching(field: Schema, sorts: list[str]) -> list[Schema]:
    return [
        query("sort", {"type": "string", "enum": sorts}),
        query("way", WAY),
        query("search[field]", field),
        query("search[operator]", OPERATOR),
        query("search[value]", {"type": "string"}),
        query("search_fields[0][field]", field),
        query("search_fields[0][operator]", OPERATOR),
        query("search_fields[0][value]", {"type": "string"}),
    ]


def error_answers(*, refresh: bool, has_body: bool, post: bool, error: Schema) -> Schema:
    """The error statuses one operation really answers, each with the API's error object.

    401 everywhere (a missing or expired token; at login, a rejected key);
    400 where a JSON body is read (one that is not JSON); 422 where input is
    validated (every operation but the token refresh); 429 on POSTs (BSG's
    duplicate-request detection). No blanket 4XX: a wrong status for a valid
    request fails the conformance test.
    """
    answer = {"description": "the API's error", "content": {"application/json": {"schema": error}}}
    statuses = ["401"]
    if has_body:
        statuses.append("400")
    if not refresh:
        statuses.append("422")
    if post:
        statuses.append("429")
    return dict.fromkeys(statuses, answer)


def _add_error_answers(paths: Schema, error: Schema) -> None:
    """Give every operation the error statuses it really answers (those it documents stay)."""
    for path, operations in paths.items():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            answers = error_answers(
                refresh=path.endswith("/auth/refresh"),
                has_body="requestBody" in op,
                post=method == "post",
                error=error,
            )
            for status, answer in answers.items():
                op["responses"].setdefault(status, answer)


def operation(
    operation_id: str,
    status: int,
    answer: Schema | None,
    *,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    secured: bool = True,
) -> Schema:
    success: Schema = {"description": "success"}
    if answer is not None:
        success["content"] = {"application/json": {"schema": answer}}
    op: Schema = {
        "operationId": operation_id,
        "parameters": parameters or [],
        "responses": {str(status): success},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if not secured:
        op["security"] = []
    return op


CONTACT_FIELD_NAME = {"type": "string", "pattern": r"^(\d+|id|phone|group_id|created_at)$"}
LIST_FIELD_NAME = {
    "type": "string",
    "enum": ["id", "name", "items", "created_at", "phone", "description"],
}
STOP_FIELD_NAME = {"type": "string", "enum": ["id", "phone", "created_at", "type"]}
CONTACT_BODY = obj(
    {
        "phone": PHONE,
        "groups": array(
            {"anyOf": [{"type": "integer"}, obj({"id": {"type": "integer"}}, ("id",))]},
            max_items=100,
        ),
        "fields": array(
            obj({"id": {"type": "integer"}, "value": {"type": "string"}}, ("id", "value"))
        ),
    },
    ("phone",),
)
LIST_BODY = obj(
    {
        "name": text(3, 50),
        "description": text(1, 255, nullable=True),
        "default": {"type": ["boolean", "null"]},
    },
    ("name",),
)
MEMBERSHIP = obj(
    {
        "contacts": array(ID, min_items=1, max_items=200),
        "groups": array({"type": "integer"}, min_items=1, max_items=100),
    },
    ("contacts", "groups"),
)
TOKEN = obj({"bearer": {"type": "string", "minLength": 1}}, ("bearer",))


def build() -> Schema:
    """The OpenAPI document of the 25 operations."""
    paths: Schema = {
        "/api/auth/login": {
            "post": operation(
                "login",
                200,
                TOKEN,
                body=obj({"api_key": {"type": "string"}}, ("api_key",)),
                secured=False,
            )
        },
        "/api/auth/refresh": {"post": operation("refresh", 200, TOKEN)},
        "/api/contacts": {
            "get": operation(
                "contacts_list",
                200,
                paged(CONTACT),
                parameters=[*paging(20), query("groups[]", array({"type": "integer"}))],
            ),
            "post": operation("contact_create", 201, data(CONTACT), body=CONTACT_BODY),
        },
        "/api/contacts/{id}": {
            "get": operation("contact_get", 200, data(CONTACT), parameters=[path_id()]),
            "put": operation(
                "contact_update", 200, data(CONTACT), parameters=[path_id()], body=CONTACT_BODY
            ),
            "delete": operation("contact_delete", 204, None, parameters=[path_id()]),
        },
        "/api/contacts/delete": {
            "post": operation(
                "contacts_delete",
                204,
                None,
                parameters=[
                    query("contact_ids[]", array(ID, max_items=5000)),
                    query("group_ids[]", array({"type": "integer"})),
                ],
            )
        },
        "/api/contacts/search": {
            "get": operation(
                "contacts_search",
                200,
                found(CONTACT, CONTACT_FIELD_NAME),
                parameters=[*paging(50), *searching(CONTACT_FIELD_NAME, ["id", "phone"])],
            )
        },
        "/api/contacts/fields": {
            "get": operation("fields_list", 200, obj({"data": array(FIELD)}, ("data",))),
            "post": operation(
                "field_create",
                201,
                data(FIELD),
                body=obj(
                    {
                        "name": text(1, 30),
                        "description": text(1, 255),
                        "is_visible": {"type": "boolean"},
                        "type": {"type": "string", "enum": ["text", "date", "number"]},
                    },
                    ("name", "type"),
                ),
            ),
        },
        "/api/contacts/fields/{id}": {
            "patch": operation(
                "field_update",
                200,
                data(FIELD),
                parameters=[path_id({"type": "integer"})],
                body=obj(
                    {
                        "name": text(1, 30),
                        "description": text(1, 255),
                        "is_visible": {"type": "boolean"},
                    }
                ),
            )
        },
        "/api/contacts/fields/delete": {
            "post": operation(
                "fields_delete",
                204,
                None,
                body=obj({"ids": array({"type": "integer"}, min_items=1, max_items=30)}, ("ids",)),
            )
        },
        "/api/groups": {
            "get": operation("groups_list", 200, paged(GROUP), parameters=paging(50)),
            "post": operation("group_create", 201, data(GROUP), body=LIST_BODY),
        },
        "/api/groups/{id}": {
            "get": operation(
                "group_get", 200, data(GROUP), parameters=[path_id({"type": "integer"})]
            ),
            "put": operation(
                "group_update",
                200,
                data(GROUP),
                parameters=[path_id({"type": "integer"})],
                body=LIST_BODY,
            ),
            "delete": operation(
                "group_delete", 204, None, parameters=[path_id({"type": "integer"})]
            ),
        },
        "/api/groups/attach": {"post": operation("groups_attach", 200, EMPTY, body=MEMBERSHIP)},
        "/api/groups/detach": {"post": operation("groups_detach", 200, EMPTY, body=MEMBERSHIP)},
        "/api/groups/search": {
            "get": operation(
                "groups_search",
                200,
                found(LIST_FOUND, LIST_FIELD_NAME),
                parameters=[
                    *paging(50),
                    *searching(
                        LIST_FIELD_NAME, ["id", "items", "name", "description", "created_at"]
                    ),
                ],
            )
        },
        "/api/stoplist": {
            "get": operation(
                "stoplist_list",
                200,
                paged(STOP_ENTRY),
                parameters=[*paging(20), query("type", STOP_TYPE), query("types", STOP_TYPE)],
            )
        },
        "/api/stoplist/attach": {
            "post": operation(
                "stoplist_attach",
                200,
                obj({"data": array(STOP_ENTRY)}, ("data",)),
                body=obj(
                    {"phones": array(PHONE, max_items=1000), "types": array(STOP_TYPE)},
                    ("phones", "types"),
                ),
            )
        },
        "/api/stoplist/detach": {
            "post": operation(
                "stoplist_detach",
                200,
                EMPTY,
                body=obj(
                    {"ids": array({"type": "integer"}, max_items=200), "types": array(STOP_TYPE)},
                    ("ids", "types"),
                ),
            )
        },
        "/api/stoplist/search": {
            "get": operation(
                "stoplist_search",
                200,
                found(STOP_ENTRY, STOP_FIELD_NAME),
                parameters=[
                    *paging(50),
                    query("contact_group_id", {"type": "integer"}),
                    *searching(STOP_FIELD_NAME, ["id", "phone"]),
                ],
            )
        },
    }
    _add_error_answers(paths, ERROR)
    return {
        "openapi": "3.1.0",
        "info": {"title": "BSG one-api, Contacts family (as reconciled)", "version": "2.0"},
        "servers": [{"url": "https://one-api.bsg.world"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
        "security": [{"bearer": []}],
    }


# ------------------------------------------------------------ BSG's own file

_DATETIME_30: Schema = {"type": "string", "pattern": DATETIME["pattern"]}
_ERROR_30: Schema = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "minLength": 1},
        "errors": {"anyOf": [{"type": "array"}, {"type": "object"}]},
    },
}


def _walk(node: Any) -> Any:
    """Every mapping inside a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def reconcile(document: Schema) -> Schema:
    """Apply ``RECONCILED`` to BSG's OpenAPI 3.0 file (already cut to the family)."""
    for node in _walk(document):
        if node.get("format") == "date-time":
            del node["format"]
            node["pattern"] = _DATETIME_30["pattern"]
        properties = node.get("properties")
        if isinstance(properties, dict) and "total" in properties:
            properties["total"] = {
                "anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\d+$"}]
            }
        if isinstance(properties, dict) and "errors" in properties:
            properties["errors"] = _ERROR_30["properties"]["errors"]
    schemas = document["components"]["schemas"]
    schemas["ContactSchema"]["properties"]["fields"] = {
        "anyOf": [
            {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
            {"type": "array", "maxItems": 0},
        ]
    }
    schemas["ContactGroupSchema"]["properties"]["default"] = {
        "anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}],
        "nullable": True,
    }
    for name in ("StoreContact", "ContactUpdateRequest"):
        groups = schemas[name]["properties"]["groups"]
        groups["items"] = {
            "anyOf": [
                {"type": "integer"},
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
            ]
        }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].get("204", {}).pop("content", None)
            if path == "/api/stoplist" and method == "get":
                operation.setdefault("parameters", []).append(
                    {
                        "name": "types",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(STOP_TYPE["enum"])},
                    }
                )
    _add_error_answers(document["paths"], _ERROR_30)
    return document
