"""Issue 15, "one source of truth": which Ingresses are ours, which IngressGroup each
joins, its order and its finalizer (:mod:`albatross.contract.membership`), each rule as
LBC documents or implements it:

- class selection: LBC's group loader (``classifyIngress``: the legacy
  ``kubernetes.io/ingress.class`` annotation, when it exists, decides alone), its class
  annotation matcher (``alb`` when the configured class is empty), its class loader (an
  Ingress without ``ingressClassName`` takes the IngressClass annotated
  ``ingressclass.kubernetes.io/is-default-class: "true"``; several are an error; the
  class's ``spec.parameters`` must be ``elbv2.k8s.aws`` ``IngressClassParams``, else
  "IngressClass <name> references unknown parameters");
- groups: the IngressGroup docs (``group.name``: "lower case alphanumeric characters, '-'
  or '.', and must start and end with an alphanumeric character", "no more than 63
  characters"; the IngressClassParams ``spec.group.name`` wins over the annotation; an
  Ingress without a group is alone in its implicit group);
- order: ``group.order`` is an int64 (Go's ``strconv.ParseInt``) within [-1000, 1000],
  default 0; members are sorted by order, then by ``namespace/name`` as a string;
- finalizers: ``group.ingress.k8s.aws/<group>`` or ``ingress.k8s.aws/resources``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albatross.contract import membership as m
from albatross.contract.membership import ClassInfo
from albatross.k8s import ingress as ingress_view
from albatross.k8s.ingress_class import class_params_of, parse_ingress_class
from albatross.k8s.params import parse_params
from albatross.model.group import members_of

OURS = ClassInfo(controller="ingress.k8s.aws/alb", is_default=False)
NGINX = ClassInfo(controller="k8s.io/ingress-nginx", is_default=False)
PARAMS_REF = {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "team-params"}


def ingress(
    *,
    cls: str | None = None,
    legacy: str | None = None,
    group: str | None = None,
    order: str | None = None,
    finalizers: tuple[str, ...] = (),
) -> dict[str, Any]:
    annotations = {}
    if legacy is not None:
        annotations[m.LEGACY_CLASS_ANNOTATION] = legacy
    if group is not None:
        annotations[m.GROUP_NAME_ANNOTATION] = group
    if order is not None:
        annotations[m.GROUP_ORDER_ANNOTATION] = order
    return {
        "metadata": {"namespace": "shop", "name": "web", "annotations": annotations, "finalizers": list(finalizers)},
        "spec": {"ingressClassName": cls} if cls is not None else {},
    }


def params(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "team-params"},
        "spec": spec,
    }


def ingress_class(name: str, *, default: str | None = None, parameters: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default is not None:
        meta["annotations"] = {m.DEFAULT_CLASS_ANNOTATION: default}
    spec: dict[str, Any] = {"controller": "ingress.k8s.aws/alb"}
    if parameters is not None:
        spec["parameters"] = parameters
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta, "spec": spec}


# --- which Ingresses are ours ------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "classes", "configured", "ours"),
    [
        # spec.ingressClassName: the class's controller decides
        (ingress(cls="web"), {"web": OURS}, "alb", True),
        (ingress(cls="web"), {"web": NGINX}, "alb", False),
        # the legacy annotation, when present, decides alone (even over an ingressClassName)
        (ingress(cls="web", legacy="alb"), {"web": NGINX}, "alb", True),
        (ingress(cls="web", legacy="nginx"), {"web": OURS}, "alb", False),
        # ... even when empty: it exists, and matches only an empty configured class
        (ingress(cls="web", legacy=""), {"web": OURS}, "alb", False),
        (ingress(legacy=""), {}, "", True),
        # with an empty configured class, the annotation must say "alb"
        (ingress(legacy="alb"), {}, "", True),
        (ingress(legacy="nginx"), {}, "", False),
        # no class at all: the default IngressClass decides
        (ingress(), {"alb": ClassInfo(OURS.controller, True)}, "alb", True),
        (ingress(), {"nginx": ClassInfo(NGINX.controller, True), "alb": OURS}, "alb", False),
        # several defaults: LBC refuses to choose ("multiple default IngressClasses found")
        (ingress(), {"a": ClassInfo(OURS.controller, True), "b": ClassInfo(OURS.controller, True)}, "alb", False),
        # no default: ours only with an empty configured class (--ingress-class="")
        (ingress(), {"alb": OURS}, "alb", False),
        (ingress(), {"alb": OURS}, "", True),
        # an empty ingressClassName names no IngressClass that can exist; no default applies
        (ingress(cls=""), {"alb": ClassInfo(OURS.controller, True)}, "alb", False),
        # a class not known yet counts as ours when it is the configured one (events are unordered)
        (ingress(cls="alb"), {}, "alb", True),
        (ingress(cls="other"), {}, "alb", False),
        # a member whose class cannot be loaded stays in its group (LBC issue 2731: it
        # fails the group rather than let the member go), not an Ingress that never was one
        (ingress(cls="gone", finalizers=(m.IMPLICIT_FINALIZER,)), {}, "alb", True),
        (ingress(cls="gone", finalizers=("group.ingress.k8s.aws/shop",)), {}, "alb", True),
        (ingress(cls="gone", finalizers=("example.com/other",)), {}, "alb", False),
        (
            ingress(finalizers=(m.IMPLICIT_FINALIZER,)),
            {"a": ClassInfo(OURS.controller, True), "b": ClassInfo(OURS.controller, True)},
            "alb",
            True,
        ),
        # a class that exists and is another controller's: the member leaves, finalizer or not
        (ingress(cls="web", finalizers=(m.IMPLICIT_FINALIZER,)), {"web": NGINX}, "alb", False),
        (ingress(finalizers=(m.IMPLICIT_FINALIZER,)), {"alb": OURS}, "alb", False),
    ],
)
def test_which_ingresses_are_ours(
    obj: dict[str, Any], classes: dict[str, ClassInfo], configured: str, ours: bool
) -> None:
    assert m.ingress_is_ours(obj, classes=classes, configured=configured) is ours


@pytest.mark.parametrize(
    ("obj", "classes", "error"),
    [
        (ingress(cls="web"), {"web": OURS}, None),
        (
            ingress(cls="gone"),
            {"web": OURS},
            'invalid ingress class: ingressclasses.networking.k8s.io "gone" not found',
        ),
        # the configured class's event may be late: not taken as gone
        (ingress(cls="alb"), {}, None),
        (
            ingress(),
            {"a": ClassInfo(OURS.controller, True), "b": ClassInfo(OURS.controller, True)},
            "multiple default IngressClasses found",
        ),
        (ingress(), {"alb": OURS}, None),
        (ingress(cls="gone", legacy="alb"), {}, None),  # the legacy annotation has no IngressClass
        (
            ingress(cls="web"),
            {
                "web": ClassInfo(
                    OURS.controller,
                    False,
                    params_error="invalid ingress class: IngressClass web references unknown parameters",
                )
            },
            "invalid ingress class: IngressClass web references unknown parameters",
        ),
    ],
)
def test_a_class_that_cannot_be_loaded_says_why_in_lbc_s_words(
    obj: dict[str, Any], classes: dict[str, ClassInfo], error: str | None
) -> None:
    assert m.class_error(obj, classes, "alb") == error


def test_the_default_class_annotation_counts_only_as_exactly_true() -> None:
    assert m.class_info(ingress_class("a", default="true")).is_default
    for spelling in ("True", "TRUE", "1", "yes", ""):
        assert not m.class_info(ingress_class("a", default=spelling)).is_default


@pytest.mark.parametrize(
    ("parameters", "name", "error"),
    [
        (None, None, None),
        (PARAMS_REF, "team-params", None),
        # LBC: APIGroup nil, another group or another kind → "references unknown parameters"
        ({"kind": "IngressClassParams", "name": "team-params"}, None, "unknown parameters"),
        ({**PARAMS_REF, "apiGroup": "example.com"}, None, "unknown parameters"),
        ({**PARAMS_REF, "kind": "ConfigMap"}, None, "unknown parameters"),
    ],
)
def test_an_ingress_class_names_params_of_lbc_s_kind_only(parameters: Any, name: str | None, error: str | None) -> None:
    obj = ingress_class("team", parameters=parameters)
    info = m.class_info(obj)
    assert (info.params, m.params_name(obj)) == (name, name)
    assert (info.params_error is None) is (error is None)
    if error:
        assert info.params_error == "invalid ingress class: IngressClass team references unknown parameters"
    view = parse_ingress_class(obj)  # the model's view reads it alike
    assert (view.params, view.params_error) == (info.params, info.params_error)


def test_the_default_class_s_params_apply_to_an_ingress_without_a_class() -> None:
    classes = {
        c.name: c
        for c in map(
            parse_ingress_class, [ingress_class("team", default="true", parameters=PARAMS_REF), ingress_class("alb")]
        )
    }
    assert class_params_of(ingress(), classes) == "team-params"
    assert class_params_of(ingress(cls="alb"), classes) is None
    assert class_params_of(ingress(legacy="alb"), classes) is None  # the legacy annotation has no IngressClass


# --- which group, which finalizer --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("shop", None),
        ("a", None),
        ("0", None),
        ("team-a.shop", None),
        ("a" * 63, None),
        ("a" * 64, "invalid ingress group: groupName must be no more than 63 characters"),
        ("Shop", "must consist of lower case alphanumeric characters, '-' or '.'"),
        ("-shop", "must start and end with an alphanumeric character"),
        ("shop.", "must start and end with an alphanumeric character"),
        ("team_a", "must consist of lower case alphanumeric characters"),
        ("team/a", "must consist of lower case alphanumeric characters"),
        ("", "must consist of lower case alphanumeric characters"),
    ],
)
def test_group_names_follow_lbc(name: str, error: str | None) -> None:
    found = m.group_name_error(name)
    if error is None:
        assert found is None
        assert m.group_key_of(ingress(group=name)) == name
        assert m.finalizer_for(ingress(group=name)) == f"group.ingress.k8s.aws/{name}"
        assert m.is_our_finalizer(f"group.ingress.k8s.aws/{name}")
    else:
        assert found is not None
        assert error in found
        assert found.startswith("invalid ingress group: groupName must ")
        # an invalid name leaves the Ingress in its implicit group, where the build reports it
        assert m.group_key_of(ingress(group=name)) == "shop/web"
        assert m.finalizer_for(ingress(group=name)) == "ingress.k8s.aws/resources"
        assert not m.is_our_finalizer(f"group.ingress.k8s.aws/{name}")


def test_without_a_group_an_ingress_is_alone_in_its_implicit_group() -> None:
    assert m.group_name_of(ingress()) is None
    assert m.group_key_of(ingress()) == "shop/web"
    assert m.finalizer_for(ingress()) == "ingress.k8s.aws/resources"
    assert m.is_our_finalizer("ingress.k8s.aws/resources")
    assert not m.is_our_finalizer("example.com/other")
    assert ingress_view.group_key_of(ingress()) == "shop/web"  # the model's routing reads it alike


def test_the_class_s_params_group_wins_over_the_annotation() -> None:
    classes = [
        ingress_class("team", parameters=PARAMS_REF),
        ingress_class("plain"),
        ingress_class("default", default="true", parameters={**PARAMS_REF, "name": "edge-params"}),
    ]
    params = [
        {"metadata": {"name": "team-params"}, "spec": {"group": {"name": "team-a"}}},
        {"metadata": {"name": "edge-params"}, "spec": {"group": {"name": "edge"}}},
    ]
    grouped = m.class_groups(classes, params)
    assert grouped == {"team": "team-a", "default": "edge", m.DEFAULT_CLASS: "edge"}
    assert m.group_key_of(ingress(cls="team", group="mine"), grouped) == "team-a"
    assert m.finalizer_for(ingress(cls="team"), grouped) == "group.ingress.k8s.aws/team-a"
    assert m.group_key_of(ingress(cls="plain", group="mine"), grouped) == "mine"
    # no class: the default class's params
    assert m.group_key_of(ingress(group="mine"), grouped) == "edge"
    # the legacy annotation has no IngressClass, hence no params
    assert m.group_key_of(ingress(cls="team", legacy="alb", group="mine"), grouped) == "mine"
    assert m.group_key_of(ingress(legacy="alb"), grouped) == "shop/web"
    # the forwarder's maps give the same answer
    infos = {str(c["metadata"]["name"]): m.class_info(c) for c in classes}
    assert m.class_groups_of(infos, {"team-params": "team-a", "edge-params": "edge"}) == grouped


def test_an_invalid_params_group_sets_no_group() -> None:
    classes = [ingress_class("team", parameters=PARAMS_REF)]
    for bad in ("Team_A", "", "a" * 64):
        params = [{"metadata": {"name": "team-params"}, "spec": {"group": {"name": bad}}}]
        grouped = m.class_groups(classes, params)
        assert grouped == {}
        assert m.group_key_of(ingress(cls="team", group="mine"), grouped) == "mine"


def test_a_params_group_is_read_as_the_model_reads_it() -> None:
    """Membership and the model's IngressClassParams view agree on which names are valid
    (else an Ingress would join a group whose build reports the name invalid)."""
    for name in ("team-a", " team-a", "team-a ", "Team", ""):
        obj = params({"group": {"name": name}})
        view = parse_params(obj)
        assert (m.params_group(obj) is not None) is (view.group is not None) is (view.group_error is None)


def test_several_default_classes_give_no_default_group() -> None:
    classes = [
        ingress_class("a", default="true", parameters=PARAMS_REF),
        ingress_class("b", default="true", parameters=PARAMS_REF),
    ]
    params = [{"metadata": {"name": "team-params"}, "spec": {"group": {"name": "team-a"}}}]
    assert m.DEFAULT_CLASS not in m.class_groups(classes, params)


# --- order -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "order"), [(None, 0), ("10", 10), ("-1000", -1000), ("1000", 1000), ("+5", 5), ("007", 7)]
)
def test_group_order(value: str | None, order: int) -> None:
    assert m.group_order(ingress(order=value)) == order


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1001", "explicit Ingress group order must be within [-1000:1000], Ingress: shop/web, order: 1001"),
        ("-1001", "explicit Ingress group order must be within [-1000:1000], Ingress: shop/web, order: -1001"),
        (
            "first",
            "failed to load Ingress group order for ingress: shop/web: failed to parse int64 annotation, "
            'alb.ingress.kubernetes.io/group.order: first: strconv.ParseInt: parsing "first": invalid syntax',
        ),
        ("1.5", 'parsing "1.5": invalid syntax'),
        ("", 'parsing "": invalid syntax'),
        ("９", 'parsing "９": invalid syntax'),  # noqa: RUF001  # a fullwidth digit: Go reads ASCII digits only
        ("9223372036854775808", 'parsing "9223372036854775808": value out of range'),
        ("1" * 5000, "value out of range"),
    ],
)
def test_a_group_order_lbc_refuses(value: str, message: str) -> None:
    with pytest.raises(m.OrderError) as raised:
        m.group_order(ingress(order=value))
    assert message in str(raised.value)


def test_members_are_sorted_as_lbc_sorts_them() -> None:
    members = [(0, "a", "x"), (0, "a-b", "x"), (-1, "z", "z"), (0, "a", "w")]
    # by order, then by the string namespace/name: "a-b/x" < "a/w" since '-' < '/'
    assert sorted(members, key=lambda t: m.member_sort_key(*t)) == [
        (-1, "z", "z"),
        (0, "a-b", "x"),
        (0, "a", "w"),
        (0, "a", "x"),
    ]


# --- the model reads membership through the same rules -----------------------------------


def test_a_member_of_a_class_with_unknown_parameters_reports_it() -> None:
    classes = {c.name: c for c in [parse_ingress_class(ingress_class("team", parameters={**PARAMS_REF, "kind": "X"}))]}
    obj = ingress(cls="team")
    found = members_of(
        group="shop/web", keys=["shop/web"], objects={"shop/web": obj}, classes=classes, ingress_class="alb"
    )
    assert found.live == []
    assert found.errors == {"shop/web": "invalid ingress class: IngressClass team references unknown parameters"}
    assert found.class_errors == {"shop/web"}


# --- any shape -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        *("metadata", "spec", "name", "namespace", "annotations", "ingressClassName", "controller", "parameters"),
        *("apiGroup", "kind", "group", m.LEGACY_CLASS_ANNOTATION, m.DEFAULT_CLASS_ANNOTATION),
        *(m.GROUP_NAME_ANNOTATION, m.GROUP_ORDER_ANNOTATION, "finalizers", m.IMPLICIT_FINALIZER),
    ]
)
SHAPED = st.recursive(JSON, lambda inner: st.dictionaries(KEYS, inner, max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(obj=SHAPED, other=SHAPED)
def test_no_shape_makes_a_membership_rule_raise(obj: Any, other: Any) -> None:
    """The forwarder calls these on whatever the API server sends: they never raise (a
    group.order LBC refuses is the one error, and it is an OrderError)."""
    info = m.class_info(obj)
    classes = {"alb": info, "other": m.class_info(other)}
    grouped = m.class_groups([obj, other], [obj, other])
    for configured in ("alb", ""):
        assert isinstance(m.ingress_is_ours(obj, classes=classes, configured=configured), bool)
    assert isinstance(m.group_key_of(obj, grouped), str)
    assert m.finalizer_for(obj, grouped).startswith(("ingress.k8s.aws/", "group.ingress.k8s.aws/"))
    m.class_of(obj, classes)
    m.class_error(obj, classes, "alb")
    m.holds_our_finalizer(obj)
    m.uses_ingress_class(obj)
    m.params_group(obj)
    m.params_name(obj)
    with contextlib.suppress(m.OrderError):
        m.group_order(obj)
