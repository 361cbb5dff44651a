"""An OpenAPI document that tells the truth: the real error shape and every error status an operation
can answer, the API-key scheme, enums for closed vocabularies, exact time and month formats, and links
that let a client (or schemathesis' stateful phase) go from a created request or redraw to what follows.

FastAPI's generated document is post-processed here, in one place, from the routes themselves (their
dependencies, parameters and bodies) rather than by annotating every router."""
from __future__ import annotations

import inspect
import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.methods import flat_routes
from gis.vocab import LEVELS

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
KEY_SCHEME = "ApiKey"
KEY_QUERY_SCHEME = "ApiKeyQuery"
BROWSER_PREFIXES = ("/maps/", "/tiles/")  # pages a browser opens from a link: `?api_key=` is allowed there

ERROR = {
    "type": "object",
    "title": "Error",
    "description": "Every non-2xx answer: `detail` says what is wrong in one sentence naming the field; "
                   "`errors` lists each bad field; a 500 carries `error_id` to quote to the operator. "
                   "Some answers add context (e.g. `allowed` next statuses, `candidates` addresses).",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
        "error_id": {"type": "string", "description": "500 only: the id under which the fault is logged"},
    },
    "additionalProperties": True,
}
FIELD_ERROR = {
    "type": "object",
    "title": "FieldError",
    "required": ["field", "message"],
    "properties": {"field": {"type": "string", "description": "e.g. `lat`, `points[3]`, `body`"},
                   "message": {"type": "string"}},
}

REASONS = {
    "400": "the body cannot be parsed (e.g. a broken multipart form)",
    "401": "no API key, or an unknown or revoked one (send it in the `X-API-Key` header)",
    "403": "the key's role may not do this",
    "404": "what the path (or the query) names does not exist; `detail` says what",
    "409": "not possible in the current state; `detail` says why",
    "413": "the body (or a list or upload in it) is over the configured limit",
    "422": "a parameter or body field is not valid; `errors` names each",
    "429": "too many requests for this key (or too many wrong keys); wait `Retry-After` seconds",
    "500": "an unexpected fault; quote `error_id`",
    "503": "the database is unreachable; retry later",
}

# Statuses handlers answer beyond those derived from the route's shape (key, path ids, parameters,
# bodies): the state-dependent ones (409: not possible now) and lookups by query (404).
EXTRA: dict[tuple[str, str], tuple[str, ...]] = {
    ("get", "/v1/coverage"): ("404", "409"),
    ("get", "/v1/stations/siting"): ("409",),
    ("get", "/v1/rankings"): ("409",),
    ("get", "/v1/reverse"): ("404",),
    ("post", "/v1/generations/{generation}/activate"): ("409",),
    ("post", "/v1/redraws/{redraw_id}/commit"): ("409",),
    ("post", "/v1/requests/{rid}/moves"): ("409",),
    ("post", "/v1/requests/{rid}/acknowledgements"): ("409",),
    ("get", "/maps/grids"): ("409",),
    ("get", "/maps/coverage"): ("409",),
    ("get", "/maps/heatmap"): ("409",),
    ("get", "/maps/hotspots"): ("409",),
    ("get", "/maps/overdue"): ("409",),
    ("get", "/maps/ranking"): ("409",),
    ("get", "/v1/people"): ("404",),  # `area` names no area of the active generation
    ("post", "/v1/roles"): ("409",),  # the code is taken
    ("delete", "/v1/roles/{code}"): ("409",),  # a builtin, or a role someone holds
    ("post", "/v1/pledges/{pledge_id}/settle"): ("409",),  # settled already
}

MONTH = "(20[0-9][0-9]|2100)-(0[1-9]|1[0-2])"  # = gis.command.periods.parse_month

# Rules across fields that a JSON schema cannot say; listed in the operation (`x-rules` and its
# description) so clients know them, and so a fuzzer knows a 422 for schema-valid input can be right.
RULES: dict[tuple[str, str], tuple[str, ...]] = {
    ("get", "/v1/hotspots"): ("`start` before `end`",),
    ("get", "/maps/heatmap"): ("`start` before `end`",),
    ("get", "/maps/hotspots"): ("`start` before `end`",),
    ("get", "/v1/areas"): ("`generation` or `at`, not both; `at` after the first generation",),
    ("get", "/v1/locate"): ("`lon` and `lat` together, or `address` (found precisely)",
                            "`generation` or `at`, not both; `at` after the first generation"),
    ("post", "/v1/locate"): ("`generation` or `at`, not both; `at` after the first generation",),
    ("get", "/tiles/{level}/{z}/{x}/{y}.pbf"): ("`x` and `y` below 2^`z`",),
    ("post", "/v1/requests"): ("`lon` and `lat`, or an `address` the geocoder finds precisely "
                               "(otherwise 422 with `candidates`)",
                               "the point lies in a grid of the active generation (someone answers for it)"),
    ("post", "/v1/redraws"): ("`parent` is an area of the active generation one level up; the features "
                              "are GeoJSON Polygons",),
    ("post", "/v1/redraws/file"): ("`parent` is an area of the active generation one level up; the file "
                                   "is readable GeoJSON, GeoPackage or zipped Shapefile",),
    ("post", "/v1/redraws/auto"): ("`parent` is a community with grids (or a grid, with level unit)",),
    ("post", "/v1/redraws/split"): ("`grid` is a grid of the active generation with enough units",),
    ("post", "/v1/redraws/merge"): ("`grids` are neighbouring grids of one community",),
    ("post", "/v1/people"): ("each assignment's `role` exists (GET /v1/roles) and its `area` is a code of its "
                             "`level` in the active generation; all are written or none",
                             "`phone` is a mainland mobile (11 digits) or landline (area code and number)"),
    ("post", "/v1/roles"): ("`code` is not taken yet",),
}

_CODE = {"type": "string", "minLength": 1, "maxLength": 64}
_ROLE = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$", "description": "a role code (GET /v1/roles)"}
_FEATURES = {"type": "object", "required": ["type", "features"],
             "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                            "features": {"type": "array", "minItems": 1, "items": {"type": "object"}}}}
# The bodies handlers read as plain dicts, as they read them.
BODIES: dict[tuple[str, str], dict] = {
    ("post", "/v1/geocode"): {"type": "object", "required": ["addresses"], "properties": {
        "addresses": {"type": "array", "items": {"type": "string", "maxLength": 200}},
        "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 1}}},
    ("post", "/v1/redraws"): {"type": "object", "required": ["level", "parent", "features"], "properties": {
        "level": {"type": "string", "enum": ["grid", "unit"]}, "parent": _CODE, "features": _FEATURES}},
    ("post", "/v1/redraws/auto"): {"type": "object", "required": ["parent"], "properties": {
        "parent": _CODE, "level": {"type": "string", "enum": ["grid", "unit"], "default": "grid"},
        "k": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "default": None,
              "description": "default: households / the middle of the grid target range"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2 ** 32 - 1},
        "tolerance": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.1}}},
    ("post", "/v1/redraws/split"): {"type": "object", "required": ["grid"], "properties": {
        "grid": _CODE, "parts": {"type": "integer", "minimum": 2, "default": 2}}},
    ("post", "/v1/redraws/merge"): {"type": "object", "required": ["grids"], "properties": {
        "grids": {"type": "array", "minItems": 2, "items": _CODE}}},
    ("post", "/v1/people"): {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "phone": {"anyOf": [{"type": "string", "maxLength": 32}, {"type": "null"}], "default": None},
        "organisation": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}], "default": None},
        "assignments": {"anyOf": [{"type": "array", "items": {
            "type": "object", "required": ["role", "level", "area"], "properties": {
                "role": _ROLE, "level": {"type": "string", "enum": list(LEVELS)},
                "area": {"type": "string", "minLength": 1, "maxLength": 32}}}}, {"type": "null"}],
            "default": [], "description": "none (null or []) for a person not yet assigned"}}},
    ("post", "/v1/roles"): {"type": "object", "required": ["code", "name"], "properties": {
        "code": _ROLE, "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "roams": {"type": "boolean", "default": False}}},
}


def install(app: FastAPI) -> None:
    """Serve truthful_openapi(app) at /openapi.json (built once, on first use)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = truthful_openapi(app)
        return app.openapi_schema

    app.openapi = openapi


def truthful_openapi(app: FastAPI) -> dict:
    """FastAPI's document for `app`, corrected as the module docstring says."""
    doc = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                      description=app.description, routes=app.routes)
    comps = doc.setdefault("components", {})
    schemas = comps.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"], schemas["FieldError"] = ERROR, FIELD_ERROR
    comps["securitySchemes"] = {
        KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "An API key (`wangge keys create --role ROLE`); its role decides what it may do."},
        KEY_QUERY_SCHEME: {"type": "apiKey", "in": "query", "name": "api_key",
                           "description": "The same key as a query parameter, only on map pages and tiles "
                                          "(a browser following a link cannot send a header)."},
    }
    vocab = _vocabularies(app)
    for route in flat_routes(app):
        if getattr(route, "dependant", None) is None or not getattr(route, "include_in_schema", False):
            continue
        path = route.path_format
        for method in sorted(m.lower() for m in route.methods or ()):
            op = doc.get("paths", {}).get(path, {}).get(method)
            if op is not None:
                _operation(op, method, path, route, vocab)
    _bodies(schemas, vocab)
    _links(doc, vocab)
    return doc


def _operation(op: dict, method: str, path: str, route: APIRoute, vocab: dict) -> None:
    """Security, error responses and parameter vocabularies of one operation."""
    capability = required_capability(route)
    statuses = {"500", "503"}
    if capability is not None:
        alternatives = [{KEY_SCHEME: []}] + ([{KEY_QUERY_SCHEME: []}] if path.startswith(BROWSER_PREFIXES) else [])
        op["security"] = alternatives
        statuses |= {"401", "429"}
        if _some_role_lacks(capability):
            statuses.add("403")
    params = op.get("parameters", [])
    if any(p.get("in") == "path" for p in params):
        statuses.add("404")
    if params or "requestBody" in op:
        statuses.add("422")
    if "requestBody" in op:
        statuses |= {"400", "413"}  # 400: a body that cannot be parsed (broken JSON or form)
        body = BODIES.get((method, path))
        if body is not None:
            content = op["requestBody"].setdefault("content", {}).setdefault("application/json", {})
            content["schema"] = {**body, **({"examples": content["schema"]["examples"]}
                                            if "examples" in content.get("schema", {}) else {})}
    rules = RULES.get((method, path))
    if rules:
        op["x-rules"] = list(rules)
        op["description"] = (op.get("description", "").rstrip() + "\n\nAlso checked (422 otherwise): "
                             + "; ".join(rules) + ".").lstrip()
    statuses |= set(EXTRA.get((method, path), ()))
    responses = op.setdefault("responses", {})
    for status in sorted(statuses):
        responses[status] = {"description": REASONS[status],
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for p in params:
        _parameter(p, vocab)


def _parameter(p: dict, vocab: dict) -> None:
    """Closed vocabularies as enums; times and months as exactly what the server accepts."""
    from gis.command.periods import TIME_HELP

    name, schema = p["name"], p.get("schema", {})
    if name in vocab:
        p["schema"] = _nullable_enum(schema, vocab[name])
    elif name in ("start", "end", "at"):
        p["description"] = f"{p.get('description', '').rstrip('.')}. {TIME_HELP}".lstrip(". ")
    elif name == "month":  # empty means the default month unless the route's own pattern refuses it
        pattern = f"^{MONTH}$" if _patterns(schema) else f"^({MONTH})?$"
        p["schema"] = _replace_string(schema, {"type": "string", "pattern": pattern})
        p["description"] = (p.get("description") or "YYYY-MM") + " (years 2000–2100)"
    elif name == "z" and p.get("in") == "path":
        p["schema"] = {**schema, "minimum": 0, "maximum": 22}
    elif name in ("x", "y") and p.get("in") == "path":
        p["schema"] = {**schema, "minimum": 0, "maximum": 2 ** 22 - 1}


def _patterns(schema: dict) -> bool:
    """Whether `schema` (or one of its alternatives) has a pattern of its own."""
    return "pattern" in schema or any("pattern" in a for a in schema.get("anyOf", ()))


def _nullable_enum(schema: dict, values: list[str]) -> dict:
    """`schema` (a string, or string-or-null) with its string restricted to `values`."""
    return _replace_string(schema, {"type": "string", "enum": list(values)})


def _replace_string(schema: dict, new: dict) -> dict:
    """`schema` with its string alternative replaced by `new`, keeping a null alternative and the default."""
    out = {k: v for k, v in schema.items() if k in ("title", "default", "description")}
    alternatives = schema.get("anyOf")
    if alternatives and any(a.get("type") == "null" for a in alternatives):
        return {**out, "anyOf": [new, {"type": "null"}]}
    return {**out, **new}


def _vocabularies(app: FastAPI) -> dict[str, list[str]]:
    """The closed vocabularies by parameter name: request categories (the rules menu), area levels,
    coordinate systems the API accepts, request statuses, heatmap frames."""
    from gis.command.rules import load_rules  # noqa: I001
    from gis.coords import CRS_NAMES
    from gis.vocab import LEVELS, STEP_NAMES
    from gis.settings import get_settings

    from api.routers.requests import HIGH, NORMAL
    from gis.command.rules import MATTER_ALIASES

    rules = getattr(app.state, "rules", None) or load_rules(get_settings().request_rules)
    return {"matter_class": list(MATTER_ALIASES), "level_words": sorted(HIGH | NORMAL),
            "category": list(rules.categories), "level": list(LEVELS), "crs": _accepted_crs(CRS_NAMES),
            "status": list(STEP_NAMES) + ["open"], "step": ["hour", "day", "week"], "to": list(STEP_NAMES)}


def _accepted_crs(names) -> list[str]:
    """Every spelling the one CRS parser (gis.coords.normalize_crs) accepts, canonical names first."""
    from gis.coords import CRS_SPELLINGS

    return list(names) + [s for n in names for s in CRS_SPELLINGS.get(n, ()) if s != n]


def _bodies(schemas: dict, vocab: dict) -> None:
    """Body models: enums for their closed vocabularies, and the rules the handlers enforce that the
    models do not say (a request needs lon+lat or an address; a move needs the version read)."""
    new = schemas.get("NewRequest")
    if new:
        new["properties"]["category"] = {**new["properties"]["category"], "enum": vocab["category"]}
        new["properties"]["crs"] = {**new["properties"]["crs"], "enum": vocab["crs"]}
        new["properties"]["matter_class"]["anyOf"] = [{"type": "string", "enum": vocab["matter_class"]},
                                                      {"type": "null"}]
        for name in ("importance", "urgency"):  # as api.routers.requests._level reads them
            new["properties"][name]["anyOf"] = [{"type": "boolean"}, {"type": "integer", "minimum": 0, "maximum": 3},
                                                {"type": "string", "enum": vocab["level_words"]}, {"type": "null"}]
    batch = schemas.get("BatchLocate")
    if batch and "crs" in batch.get("properties", {}):
        batch["properties"]["crs"] = {**batch["properties"]["crs"], "enum": vocab["crs"]}
    move = schemas.get("Move")
    if move:
        move["properties"]["to"] = {**move["properties"]["to"], "enum": vocab["to"]}
        move["required"] = sorted(set(move.get("required", [])) | {"version"})
        move["properties"]["version"] = {k: v for k, v in move["properties"]["version"].items() if k != "anyOf"} | {
            "type": "integer", "minimum": 1}
    for name, schema in schemas.items():  # an empty form field is read as missing: say so for required ones
        if name.startswith("Body_") and "multipart" not in name:
            for field in schema.get("required", []):
                prop = schema["properties"].get(field, {})
                if prop.get("type") == "string" and prop.get("format") != "binary":
                    prop["minLength"] = max(1, prop.get("minLength", 0))
    if new:
        # each branch narrows the nullable properties with `not null` rather than restating their type,
        # which ReDoc would merge with the property's own anyOf as two incompatible types
        not_null = {"not": {"type": "null"}}
        new["anyOf"] = [{"required": ["lon", "lat"], "properties": {"lon": not_null, "lat": not_null}},
                        {"required": ["address"], "properties": {"address": {**not_null, "minLength": 1,
                                                                             "pattern": "\\S"}}}]


def required_capability(route: APIRoute) -> str | None:
    """The capability a route's `require(...)` dependency (api.deps) checks, or None when it is open."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        call = dep.call
        if getattr(call, "__qualname__", "").startswith("require.<locals>."):
            capability = inspect.getclosurevars(call).nonlocals.get("capability")
            if capability is not None:
                return capability
        stack.extend(dep.dependencies)
    return None


def _some_role_lacks(capability: str) -> bool:
    """Whether a 403 is possible: some role's key may not use `capability`."""
    from gis import keys
    from gis.store.models import ROLES

    return any(not keys.allows(role, capability) for role in ROLES)


# Where a created resource's id leads: (operation that creates, status) -> links to follow.
LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("post", "/v1/requests", "201"): {
        "GetRequest": {"operationId": "show_v1_requests__rid__get", "parameters": {"rid": "$response.body#/id"}},
        "MoveRequest": {"operationId": "move_v1_requests__rid__moves_post", "parameters": {"rid": "$response.body#/id"},
                        "requestBody": {"to": "$response.body#/allowed/0", "version": "$response.body#/version"}},
        "AcknowledgeRequest": {"operationId": "acknowledge_v1_requests__rid__acknowledgements_post",
                               "parameters": {"rid": "$response.body#/id"}},
    },
    ("post", "/v1/requests/{rid}/moves", "200"): {
        "MoveAgain": {"operationId": "move_v1_requests__rid__moves_post", "parameters": {"rid": "$response.body#/id"},
                      "requestBody": {"to": "$response.body#/allowed/0", "version": "$response.body#/version"}},
        "GetMoved": {"operationId": "show_v1_requests__rid__get", "parameters": {"rid": "$response.body#/id"}},
    },
}
# Existing records lead on too: an open request from the listing to its next move; an area to a request
# raised at its corner, to an automatic redraw of its parent (a grid's community) or to a split of it.
LINKS[("get", "/v1/requests", "200")] = {
    "MoveListed": {"operationId": "move_v1_requests__rid__moves_post",
                   "parameters": {"rid": "$response.body#/requests/0/id"},
                   "requestBody": {"to": "$response.body#/requests/0/allowed/0",
                                   "version": "$response.body#/requests/0/version"}},
    "GetListed": {"operationId": "show_v1_requests__rid__get", "parameters": {"rid": "$response.body#/requests/0/id"}},
}
LINKS[("get", "/v1/areas", "200")] = {
    "ReportAtArea": {"operationId": "create_v1_requests_post",  # a corner of the first area (MultiPolygon)
                     "requestBody": {"category": "{category}", "lon": "$response.body#/features/0/geometry/coordinates/0/0/0/0",
                                     "lat": "$response.body#/features/0/geometry/coordinates/0/0/0/1"}},
    "RedrawArea": {"operationId": "propose_auto_v1_redraws_auto_post",  # defaults: k from the households
                   "requestBody": {"parent": "$response.body#/features/0/properties/parent", "level": "grid",
                                   "k": None, "tolerance": 0.1, "seed": 0}},
    "SplitArea": {"operationId": "propose_split_v1_redraws_split_post",
                  "requestBody": {"grid": "$response.body#/features/0/properties/code"}},
}
REDRAW_LINKS = {
    "GetRedraw": {"operationId": "show_v1_redraws__redraw_id__get", "parameters": {"redraw_id": "$response.body#/id"}},
    "CommitRedraw": {"operationId": "commit_v1_redraws__redraw_id__commit_post",
                     "parameters": {"redraw_id": "$response.body#/id"}},
    "RedrawMap": {"operationId": "redraw_maps_redraws__redraw_id__get", "parameters": {"redraw_id": "$response.body#/id"}},
}
for _path in ("/v1/redraws", "/v1/redraws/auto", "/v1/redraws/split", "/v1/redraws/merge", "/v1/redraws/file"):
    LINKS[("post", _path, "200")] = REDRAW_LINKS


def _links(doc: dict, vocab: dict) -> None:
    """Add LINKS to the responses they start from (only links whose target operation exists)."""
    known = {op.get("operationId") for ops in doc.get("paths", {}).values() for op in ops.values()
             if isinstance(op, dict)}
    category = next(iter(vocab["category"]), "")
    for (method, path, status), links in LINKS.items():
        response = doc.get("paths", {}).get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response["links"] = {name: json.loads(json.dumps(link).replace("{category}", category))
                                 for name, link in links.items() if link["operationId"] in known}
