"""Listener rules of one Ingress: its paths in LBC's order, their conditions (pathType
semantics, ``conditions.<name>`` annotations) and actions (a Service, or an
``actions.<name>`` annotation: forward with weights and stickiness, redirect,
fixed-response)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from albatross.contract import reading
from albatross.contract.needs import action_services
from albatross.k8s.annotations import PREFIX, Annotations, decimal
from albatross.k8s.errors import AnnotationError, ObjectError, integer, show
from albatross.k8s.ingress import Ingress, Path

USE_ANNOTATION = "use-annotation"
MISSING_ACTION_503 = {
    "Type": "fixed-response",
    "FixedResponseConfig": {
        "StatusCode": "503",
        "ContentType": "text/plain",
        "MessageBody": "Backend action does not exist",
    },
}
_CONDITION_CONFIGS = {
    "host-header": "HostHeaderConfig",
    "http-header": "HttpHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "path-pattern": "PathPatternConfig",
    "query-string": "QueryStringConfig",
    "source-ip": "SourceIpConfig",
}

MISSING_BACKEND_503 = {
    "Type": "fixed-response",
    "FixedResponseConfig": {
        "StatusCode": "503",
        "ContentType": "text/plain",
        "MessageBody": "Backend service does not exist",
    },
}

# (service name, port number, port name) → the forward target (a ref to a target group);
# raises MissingService when the Service does not exist.
Forward = Callable[[str, int | None, str | None], dict[str, Any]]


class MissingService(ObjectError):
    """A backend names a Service that does not exist."""


def ordered_paths(ing: Ingress) -> list[Path]:
    """LBC's order: spec.rules as written; within one rule, Exact paths, then Prefix paths
    longest first, then ImplementationSpecific, each stable."""
    out: list[Path] = []
    for rule in sorted({p.rule for p in ing.paths}):
        paths = [p for p in ing.paths if p.rule == rule]
        out += [p for p in paths if p.path_type == "Exact"]
        out += sorted((p for p in paths if p.path_type == "Prefix"), key=lambda p: -len(p.path))
        out += [p for p in paths if p.path_type == "ImplementationSpecific"]
    return out


def path_values(path: Path) -> list[str]:
    """LBC's path-pattern values for a path and its pathType."""
    if path.path_type == "Exact":
        if "*" in path.path or "?" in path.path:
            raise ObjectError(f"exact path shouldn't contain wildcards: {path.path}")
        return [path.path]
    if path.path_type == "Prefix":
        if path.path == "/":
            return ["/*"]
        if "*" in path.path or "?" in path.path:
            raise ObjectError(f"prefix path shouldn't contain wildcards: {path.path}")
        trimmed = path.path.rstrip("/")
        return [trimmed, trimmed + "/*"]
    return [path.path] if path.path else []


def _key(obj: Any, name: str) -> Any:
    """A JSON field, as LBC's decoder finds it (keys in any case; None when ``obj`` is
    not a JSON object): the reading the forwarder shares (:mod:`albatross.contract.reading`),
    so that it sends what the rules built here need."""
    return reading.field(obj, name)


# ALB's limits for a forward action (CreateRule): a target group's weight, and how long
# stickiness may last. Checked here so that a value out of range is its own Ingress's
# error, not AWS refusing the whole group's change.
MAX_WEIGHT = 999
MAX_STICKINESS_SECONDS = 604800


def _optional_string(annotation: str, raw: str, value: Any, where: str) -> str | None:
    """A field LBC decodes into a ``*string``: absent, or a string."""
    if value is not None and not isinstance(value, str):
        raise AnnotationError(annotation, raw, f"invalid {where}: must be a string")
    return value


def _strings(value: Any, where: str, annotation: str, raw: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise AnnotationError(annotation, raw, f"invalid {where}: values cannot be empty")
    return list(value)


def _values_or_regex(annotation: str, raw: str, config: Any, where: str) -> dict[str, list[str]]:
    """``values`` or ``regexValues`` of a host-header, http-header or path-pattern
    condition (ELBv2's ``Values`` / ``RegexValues``), exactly one of them, as LBC checks:
    an empty list counts as absent."""
    found: dict[str, list[str]] = {}
    for field, key in (("values", "Values"), ("regexValues", "RegexValues")):
        value = _key(config, field)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise AnnotationError(annotation, raw, f"invalid {where}: {field} must be a list of strings")
        if value:
            found[key] = list(value)
    if not found:
        raise AnnotationError(annotation, raw, f"invalid {where}: values or regexValues must be specified")
    if len(found) > 1:
        raise AnnotationError(
            annotation, raw, f"invalid {where}: precisely one of values and regexValues can be specified"
        )
    return found


def parse_conditions(annotation: str, raw: str, data: Any) -> list[dict[str, Any]]:
    """``conditions.<name>``: a JSON list of LBC rule conditions → ELBv2 shapes."""
    if not isinstance(data, list):
        raise AnnotationError(annotation, raw, "must be a JSON list of conditions")
    out: list[dict[str, Any]] = []
    for item in data:
        field = _key(item, "field")
        if not isinstance(field, str) or field not in _CONDITION_CONFIGS:
            raise AnnotationError(annotation, raw, f"unknown condition field: {field!s:.80}")
        config_name = _CONDITION_CONFIGS[field]
        config = _key(item, config_name)
        if not isinstance(config, Mapping):
            raise AnnotationError(annotation, raw, f"missing {config_name[0].lower()}{config_name[1:]}")
        where = config_name[0].lower() + config_name[1:]
        values = _key(config, "values")
        if field in ("host-header", "path-pattern"):
            out.append({"Field": field, config_name: _values_or_regex(annotation, raw, config, where)})
        elif field == "query-string":
            if not isinstance(values, list) or not values:
                raise AnnotationError(annotation, raw, f"invalid {where}: Values cannot be empty")
            pairs = []
            for pair in values:
                value = _key(pair, "value") if isinstance(pair, Mapping) else None
                if not isinstance(value, str) or not value:
                    raise AnnotationError(annotation, raw, f"invalid {where}: value cannot be empty")
                key = _optional_string(annotation, raw, _key(pair, "key"), f"{where}: key")
                pairs.append({"Key": key, "Value": value} if key else {"Value": value})
            out.append({"Field": field, config_name: {"Values": pairs}})
        elif field == "http-header":
            header = _key(config, "httpHeaderName")
            if not isinstance(header, str) or not header:
                raise AnnotationError(annotation, raw, f"invalid {where}: httpHeaderName cannot be empty")
            out.append(
                {
                    "Field": field,
                    config_name: {"HttpHeaderName": header, **_values_or_regex(annotation, raw, config, where)},
                }
            )
        else:
            out.append({"Field": field, config_name: {"Values": _strings(values, where, annotation, raw)}})
    return out


def conditions(ing: Ingress, path: Path) -> list[dict[str, Any]]:
    """The rule's conditions: annotation ones first (except host and path), then the
    host-header and path-pattern conditions combining the rule's own values with the
    annotation's (and, with ``use-regex-path-match``, an ImplementationSpecific path as a
    regular expression); ``/*`` when nothing else applies. As LBC: one condition holds
    either plain values or regular expressions, so mixing them for the host or the path
    (a spec host with a ``regexValues`` host condition, say) is an error."""
    name = path.backend.service
    raw = ing.annotations.raw(f"conditions.{name}")
    extra = (
        parse_conditions(PREFIX + f"conditions.{name}", raw, ing.annotations.json(f"conditions.{name}")) if raw else []
    )
    hosts = [path.host] if path.host else []
    regex = path.path_type == "ImplementationSpecific" and ing.annotations.boolean("use-regex-path-match", False)
    paths = [] if regex else path_values(path)
    # LBC drops the leading "/" Kubernetes requires of a path: a regular expression need not have it
    host_regex: list[str] = []
    path_regex = [path.path[1:]] if regex and path.path else []
    out: list[dict[str, Any]] = []
    for cond in extra:
        if cond["Field"] == "host-header":
            hosts += cond["HostHeaderConfig"].get("Values", [])
            host_regex += cond["HostHeaderConfig"].get("RegexValues", [])
        elif cond["Field"] == "path-pattern":
            paths += cond["PathPatternConfig"].get("Values", [])
            path_regex += cond["PathPatternConfig"].get("RegexValues", [])
        else:
            out.append(cond)
    for what, values, regexes in (("host", hosts, host_regex), ("path", paths, path_regex)):
        if values and regexes:
            raise ObjectError(
                f"{what} condition must specify exactly one of Values and RegexValues, "
                f"got both Values {show(values)} and RegexValues {show(regexes)}"
            )
    if hosts:
        out.append({"Field": "host-header", "HostHeaderConfig": {"Values": hosts}})
    if host_regex:
        out.append({"Field": "host-header", "HostHeaderConfig": {"RegexValues": host_regex}})
    if paths:
        out.append({"Field": "path-pattern", "PathPatternConfig": {"Values": paths}})
    if path_regex:
        out.append({"Field": "path-pattern", "PathPatternConfig": {"RegexValues": path_regex}})
    if not out:
        out.append({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}})
    return out


def _service_port(annotation: str, raw: str, port: Any) -> tuple[int | None, str | None]:
    """LBC's servicePort (an IntOrString, read as ``intstr.Parse`` reads it for the old
    controller's sake): a JSON integer is a port number, a string of decimal digits too,
    any other string a port name."""
    if integer(port):
        return port, None
    if isinstance(port, str):
        number = decimal(port)
        return (number, None) if number is not None else (None, port)
    raise AnnotationError(
        annotation, raw, "invalid ForwardConfig: invalid TargetGroupTuple: servicePort must be a number or a name"
    )


def _bounded(annotation: str, raw: str, value: Any, *, what: str, low: int, high: int) -> int:
    """A JSON integer field within [low, high] (LBC decodes these into an int64)."""
    if not integer(value):
        raise AnnotationError(annotation, raw, f"invalid ForwardConfig: {what} must be an integer")
    if not low <= value <= high:
        raise AnnotationError(annotation, raw, f"invalid ForwardConfig: {what} must be within [{low}, {high}]")
    return value


# ELBv2's target group name: 1-32 alphanumerics and hyphens, no hyphen at either end.
_TARGET_GROUP_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?")

# A target group's ARN by its name (None when there is none): ``actions.*`` may name a
# target group made outside Kubernetes by ``targetGroupName``, as LBC resolves it.
ByName = Callable[[str], str | None]


def _no_names(name: str) -> str | None:
    """No target group has a name (the default where no discovery is given)."""
    return None


def _external(annotation: str, raw: str, *, arn: Any, name: Any, by_name: ByName) -> dict[str, Any]:
    """A tuple's target group given by ``targetGroupARN`` or ``targetGroupName`` (the ARN
    wins when both are there)."""
    for value, field in ((arn, "targetGroupARN"), (name, "targetGroupName")):
        if value is not None and (not isinstance(value, str) or not value):
            raise AnnotationError(
                annotation, raw, f"invalid ForwardConfig: invalid TargetGroupTuple: {field} must be a string"
            )
    if arn is not None:
        return {"TargetGroupArn": arn}
    if not _TARGET_GROUP_NAME.fullmatch(name):
        raise AnnotationError(
            annotation, raw, f"invalid ForwardConfig: invalid TargetGroupTuple: invalid targetGroupName {name!r:.80}"
        )
    found = by_name(name)
    if found is None:
        raise AnnotationError(annotation, raw, f"invalid ForwardConfig: couldn't find targetGroup with name: {name}")
    return {"TargetGroupArn": found}


def _forward_action(
    annotation: str, raw: str, data: Mapping[str, Any], forward: Forward, *, by_name: ByName
) -> dict[str, Any]:
    arn, tg_name = _key(data, "targetGroupARN"), _key(data, "targetGroupName")
    config = _key(data, "forwardConfig")
    if arn is None and tg_name is None and config is None:
        raise AnnotationError(annotation, raw, "missing ForwardConfig or TargetGroupARN/TargetGroupName")
    if (arn is not None or tg_name is not None) and config is not None:
        raise AnnotationError(
            annotation, raw, "either ForwardConfig or TargetGroupARN/TargetGroupName can be specified"
        )
    if config is not None and not isinstance(config, Mapping):
        raise AnnotationError(annotation, raw, "invalid ForwardConfig: must be a JSON object")
    tuples = [{"targetGroupARN": arn, "targetGroupName": tg_name}] if config is None else _key(config, "targetGroups")
    if not isinstance(tuples, list) or not tuples:
        raise AnnotationError(annotation, raw, "invalid ForwardConfig: targetGroups cannot be empty")
    groups: list[dict[str, Any]] = []
    missing: list[str] = []
    for item in tuples:
        if not isinstance(item, Mapping):
            raise AnnotationError(annotation, raw, "invalid ForwardConfig: each of targetGroups must be a JSON object")
        tg_arn, tg_name, service = (
            _key(item, "targetGroupARN"),
            _key(item, "targetGroupName"),
            _key(item, "serviceName"),
        )
        external = tg_arn is not None or tg_name is not None
        if not external and service is None:
            raise AnnotationError(
                annotation,
                raw,
                "invalid ForwardConfig: invalid TargetGroupTuple: "
                "missing serviceName or targetGroupARN/targetGroupName",
            )
        if external and service is not None:
            raise AnnotationError(
                annotation,
                raw,
                "invalid ForwardConfig: invalid TargetGroupTuple: "
                "either serviceName or targetGroupARN/targetGroupName can be specified",
            )
        if service is not None:
            if not isinstance(service, str) or not service:
                raise AnnotationError(
                    annotation, raw, "invalid ForwardConfig: invalid TargetGroupTuple: serviceName must be a string"
                )
            port = _key(item, "servicePort")
            if port is None:
                raise AnnotationError(
                    annotation, raw, "invalid ForwardConfig: invalid TargetGroupTuple: missing servicePort"
                )
            number, name = _service_port(annotation, raw, port)
            try:
                target = forward(service, number, name)
            except MissingService as e:
                missing.append(str(e))
                continue
            except AnnotationError:
                raise  # names its own annotation (a Service's target-type, say)
            except ObjectError as e:  # a port the Service lacks, ...: this annotation asked for it
                raise AnnotationError(annotation, raw, f"invalid ForwardConfig: {e}") from None
        else:
            target = _external(annotation, raw, arn=tg_arn, name=tg_name, by_name=by_name)
        weight = _key(item, "weight")
        if weight is not None:
            target = {**target, "Weight": _bounded(annotation, raw, weight, what="weight", low=0, high=MAX_WEIGHT)}
        groups.append(target)
    if missing and len(tuples) == 1:
        return MISSING_BACKEND_503
    if missing:
        raise AnnotationError(annotation, raw, f"invalid ForwardConfig: {missing[0]}")
    if len(groups) > 1 and any("Weight" not in g for g in groups):
        raise AnnotationError(
            annotation, raw, "invalid ForwardConfig: weight must be set when route to multiple target groups"
        )
    forward_config: dict[str, Any] = {"TargetGroups": groups}
    stickiness = _key(config, "targetGroupStickinessConfig")
    if stickiness is not None and not isinstance(stickiness, Mapping):
        raise AnnotationError(
            annotation, raw, "invalid ForwardConfig: targetGroupStickinessConfig must be a JSON object"
        )
    if isinstance(stickiness, Mapping):
        enabled = _key(stickiness, "enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise AnnotationError(annotation, raw, "invalid ForwardConfig: stickiness enabled must be true or false")
        sticky: dict[str, Any] = {"Enabled": bool(enabled)}
        duration = _key(stickiness, "durationSeconds")
        if duration is not None:
            sticky["DurationSeconds"] = _bounded(
                annotation, raw, duration, what="durationSeconds", low=1, high=MAX_STICKINESS_SECONDS
            )
        forward_config["TargetGroupStickinessConfig"] = sticky
    return {"Type": "forward", "ForwardConfig": forward_config}


def _copy_config(annotation: str, raw: str, config: Any, name: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """A redirect or fixed-response config: LBC's fields are all strings."""
    if not isinstance(config, Mapping):
        raise AnnotationError(annotation, raw, f"missing {name}")
    if not _key(config, "statusCode"):
        raise AnnotationError(annotation, raw, f"invalid {name}: statusCode is required")
    out = {f: _optional_string(annotation, raw, _key(config, f), f"{name}: {f[0].lower()}{f[1:]}") for f in fields}
    return {f: v for f, v in out.items() if v is not None}


def parse_action(
    annotation: str, raw: str, data: Any, forward: Forward, *, by_name: ByName = _no_names
) -> dict[str, Any]:
    """``actions.<name>``: one LBC action → its ELBv2 shape."""
    if not isinstance(data, Mapping):
        raise AnnotationError(annotation, raw, "must be a JSON object")
    kind = _key(data, "type")
    if kind == "forward":
        return _forward_action(annotation, raw, data, forward, by_name=by_name)
    if kind == "redirect":
        fields: tuple[str, ...] = ("Host", "Path", "Port", "Protocol", "Query", "StatusCode")
        return {
            "Type": "redirect",
            "RedirectConfig": _copy_config(annotation, raw, _key(data, "redirectConfig"), "RedirectConfig", fields),
        }
    if kind == "fixed-response":
        fields = ("ContentType", "MessageBody", "StatusCode")
        config = _copy_config(annotation, raw, _key(data, "fixedResponseConfig"), "FixedResponseConfig", fields)
        return {"Type": "fixed-response", "FixedResponseConfig": config}
    raise AnnotationError(annotation, raw, f"unknown action type: {kind}")


def action(
    ing: Ingress, path: Path, forward: Forward, *, tolerate_missing_action: bool, by_name: ByName = _no_names
) -> dict[str, Any]:
    backend = path.backend
    if backend.port_name != USE_ANNOTATION:
        try:
            target = forward(backend.service, backend.port_number, backend.port_name)
        except MissingService:
            return MISSING_BACKEND_503
        return {"Type": "forward", "ForwardConfig": {"TargetGroups": [target]}}
    name = f"actions.{backend.service}"
    raw = ing.annotations.raw(name)
    if raw is None:
        if tolerate_missing_action:
            return MISSING_ACTION_503
        raise ObjectError(f"missing {name} configuration")
    return parse_action(PREFIX + name, raw, ing.annotations.json(name), forward, by_name=by_name)


_TRANSFORMS = {"url-rewrite": "UrlRewriteConfig", "host-header-rewrite": "HostHeaderRewriteConfig"}


def transforms(ing: Ingress, path: Path) -> list[dict[str, Any]] | None:
    """``transforms.<name>``: URL and host header rewrites for the rules of ``<name>``."""
    name = f"transforms.{path.backend.service}"
    raw = ing.annotations.raw(name)
    if raw is None:
        return None
    data, annotation = ing.annotations.json(name), PREFIX + name
    if not isinstance(data, list) or not data:
        raise AnnotationError(annotation, raw, "must be a non-empty JSON list of transforms")
    out = []
    for item in data:
        kind = _key(item, "type")
        if not isinstance(kind, str) or kind not in _TRANSFORMS:
            raise AnnotationError(annotation, raw, f"unknown transform type: {kind!s:.80}")
        config = _key(item, _TRANSFORMS[kind]) or {}
        rewrites = _key(config, "rewrites")
        if not isinstance(rewrites, list) or not rewrites:
            raise AnnotationError(annotation, raw, f"{kind}: rewrites cannot be empty")
        pairs = []
        for r in rewrites:
            regex, replace = _key(r, "regex"), _key(r, "replace")
            if not isinstance(regex, str) or not isinstance(replace, str):
                raise AnnotationError(annotation, raw, f"{kind}: each rewrite needs a regex and a replace string")
            pairs.append({"Regex": regex, "Replace": replace})
        out.append({"Type": kind, _TRANSFORMS[kind]: {"Rewrites": pairs}})
    return out


AUTH_TYPES = ("none", "cognito", "oidc")
UNAUTHENTICATED = ("authenticate", "allow", "deny")
JWT_CLAIM_FORMATS = ("single-string", "string-array", "space-separated-values")


def authentication(ing: Ingress, path: Path, service_annotations: Annotations | None) -> dict[str, Any] | None:
    """The pre-routing action of a rule (HTTPS listeners only): an authenticate action
    from ``auth-*`` annotations, or a ``jwt-validation`` action; a Service's annotations
    win when the rule forwards to that one Service. OIDC client credentials are a reference
    to the Kubernetes Secret (``{"$secret": ns/name, "key"}``), never the values."""
    a = ing.annotations.under(service_annotations) if service_annotations is not None else ing.annotations
    kind = a.raw("auth-type") or "none"
    if kind not in AUTH_TYPES:
        raise AnnotationError(PREFIX + "auth-type", kind, f"unknown authType: {kind}")
    jwt = _jwt_validation(a)
    if jwt is not None and kind != "none":
        raise AnnotationError(
            PREFIX + "jwt-validation",
            str(a.raw("jwt-validation")),
            f"jwt-validation cannot be combined with auth-type {kind}: a rule has one pre-routing action",
        )
    if kind == "none":
        return jwt
    common: dict[str, Any] = {
        "OnUnauthenticatedRequest": a.choice("auth-on-unauthenticated-request", UNAUTHENTICATED, "authenticate"),
        "Scope": a.string("auth-scope") or "openid",
        "SessionCookieName": a.string("auth-session-cookie") or "AWSELBAuthSessionCookie",
        "SessionTimeout": a.integer("auth-session-timeout", default=604800, low=1, high=604800),
    }
    name = "auth-idp-cognito" if kind == "cognito" else "auth-idp-oidc"
    raw, data = a.raw(name), a.json(name)
    if not isinstance(data, Mapping):
        raise AnnotationError(PREFIX + name, raw or "", f"auth-type {kind} needs this annotation as a JSON object")

    def need(field: str) -> str:
        value = _key(data, field)
        if not isinstance(value, str) or not value:
            raise AnnotationError(PREFIX + name, raw or "", f"{field} is required")
        return value

    extra = _extra_params(PREFIX + name, raw or "", _key(data, "authenticationRequestExtraParams"))
    if extra:
        common["AuthenticationRequestExtraParams"] = extra

    if kind == "cognito":
        cognito = {
            "UserPoolArn": need("userPoolARN"),
            "UserPoolClientId": need("userPoolClientID"),
            "UserPoolDomain": need("userPoolDomain"),
        }
        return {"Type": "authenticate-cognito", "AuthenticateCognitoConfig": {**cognito, **common}}
    oidc: dict[str, Any] = {
        "Issuer": need("issuer"),
        "AuthorizationEndpoint": need("authorizationEndpoint"),
        "TokenEndpoint": need("tokenEndpoint"),
        "UserInfoEndpoint": need("userInfoEndpoint"),
    }
    secret = f"{ing.namespace}/{need('secretName')}"
    oidc["ClientId"] = {"$secret": secret, "key": "clientID"}
    oidc["ClientSecret"] = {"$secret": secret, "key": "clientSecret"}
    return {"Type": "authenticate-oidc", "AuthenticateOidcConfig": {**oidc, **common}}


# ELBv2's AuthenticateCognitoConfig / AuthenticateOidcConfig: "the query parameters (up to
# 10) to include in the redirect request to the authorization endpoint". Checked here so
# that one more is its own Ingress's error, not AWS refusing the group's change.
MAX_EXTRA_PARAMS = 10


def _extra_params(annotation: str, raw: str, value: Any) -> dict[str, str]:
    """``authenticationRequestExtraParams`` of ``auth-idp-cognito`` / ``auth-idp-oidc``: a
    JSON object of strings (LBC decodes it into a ``map[string]string``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise AnnotationError(annotation, raw, "authenticationRequestExtraParams must map strings to strings")
    if len(value) > MAX_EXTRA_PARAMS:
        raise AnnotationError(
            annotation, raw, f"authenticationRequestExtraParams takes up to {MAX_EXTRA_PARAMS} query parameters"
        )
    return {str(k): str(v) for k, v in value.items()}


def _jwt_validation(a: Annotations) -> dict[str, Any] | None:
    """``jwt-validation``: ``{"jwksEndpoint", "issuer", "additionalClaims": [{"name",
    "format", "values"}]}`` → ALB's ``jwt-validation`` action."""
    raw = a.raw("jwt-validation")
    if raw is None:
        return None
    annotation, data = PREFIX + "jwt-validation", a.json("jwt-validation")
    if not isinstance(data, Mapping):
        raise AnnotationError(annotation, raw, "must be a JSON object with jwksEndpoint and issuer")
    config: dict[str, Any] = {}
    for field, key in (("jwksEndpoint", "JwksEndpoint"), ("issuer", "Issuer")):
        value = _key(data, field)
        if not isinstance(value, str) or not value:
            raise AnnotationError(annotation, raw, f"{field} is required")
        config[key] = value
    claims = _key(data, "additionalClaims")
    if claims is not None:
        if not isinstance(claims, list):
            raise AnnotationError(annotation, raw, "additionalClaims must be a list")
        out = []
        for claim in claims:
            name = _key(claim, "name") if isinstance(claim, Mapping) else None
            form = _key(claim, "format") if isinstance(claim, Mapping) else None
            values = _key(claim, "values") if isinstance(claim, Mapping) else None
            if not isinstance(name, str) or not name:
                raise AnnotationError(annotation, raw, "each additional claim needs a name")
            if form not in JWT_CLAIM_FORMATS:
                raise AnnotationError(
                    annotation, raw, f"claim {name}: format must be within [{' '.join(JWT_CLAIM_FORMATS)}]: {form}"
                )
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise AnnotationError(annotation, raw, f"claim {name}: values must be a non-empty list of strings")
            out.append({"Format": form, "Name": name, "Values": list(values)})
        if out:
            config["AdditionalClaims"] = out
    return {"Type": "jwt-validation", "JwtValidationConfig": config}


def referenced_services(ing: Ingress) -> set[str]:
    """``namespace/name`` of every Service the Ingress may forward to: path and default
    backends, and the forward targets of the ``actions.<name>`` annotations its paths
    use, found as the forwarder finds them (:func:`albatross.contract.needs.action_services`:
    it sends no other Service)."""
    backends = [p.backend for p in ing.paths] + ([ing.default_backend] if ing.default_backend else [])
    names = {b.service for b in backends if b.port_name != USE_ANNOTATION}
    for backend in backends:
        if backend.port_name != USE_ANNOTATION:
            continue
        try:
            data = ing.annotations.json(f"actions.{backend.service}")
        except AnnotationError:
            continue  # reported when the rule is built
        names |= action_services(data)
    return {f"{ing.namespace}/{n}" for n in names}
