"""An etcd restore takes the cluster's resourceVersions back below what ingest stored:
the Resync the restarted forwarder sends re-baselines, and the changes made after the
restore, the Ingress's deletion included, reach AWS."""

from __future__ import annotations

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.system import LocalSystem
from albatross.store.table import Store
from tests.e2e.test_restarts import rules
from tests.e2e.test_slice import NAME, NS, ready_2048
from tests.k8s_typing import body, must


def set_path(system: LocalSystem, path: str) -> int:
    """Route the Ingress's one path to ``path``; returns its new resourceVersion."""
    backend = {"service": {"name": NAME, "port": {"number": 80}}}
    patched = k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"spec": {"rules": [{"http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]}}]}}
    )
    return int(must(must(patched.metadata).resource_version))


def restart_and_wait_for_resync(system: LocalSystem, store: Store) -> None:
    """Restart the forwarder (as a restore's runbook restarts every client of the API
    server) and wait until ingest has applied the new one's Resync."""
    before = store.last_resync()
    system.restart_forwarder()
    system.wait_for("the new forwarder's Resync", lambda: store.last_resync() != before)


def ingress_exists(system: LocalSystem) -> bool:
    try:
        k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(NAME, NS)
    except k8s.exceptions.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def test_after_an_etcd_restore_later_changes_and_the_deletion_reach_aws(system: LocalSystem) -> None:
    store = Store(str(system.output("StateTableName")))
    ready_2048(system)
    backup = system.kube.cluster.resource_version()
    # After the backup the cluster moves on (writes of any kind take the versions up),
    # the Ingress changes, and a Resync marks where the watches stood.
    leases = k8s.CoordinationV1Api(system.api())
    for i in range(100):
        leases.create_namespaced_lease(NS, body({"metadata": {"name": f"churn-{i}"}, "spec": {}}))
    stored = set_path(system, "/before-restore")
    system.wait_for("the change before the restore", lambda: rules() == [["/before-restore"]])
    restart_and_wait_for_resync(system, store)

    system.kube.cluster.restore(backup)
    restart_and_wait_for_resync(system, store)
    later = set_path(system, "/after-restore")
    assert later < stored  # what this test is about: a version below the one ingest holds
    system.wait_for("the change after the restore", lambda: rules() == [["/after-restore"]], timeout=90)

    k8s.NetworkingV1Api(system.api()).delete_namespaced_ingress(NAME, NS)
    system.wait_for(
        "the load balancer gone", lambda: not clients.elbv2().describe_load_balancers()["LoadBalancers"], timeout=120
    )
    system.wait_for("the finalizer removed and the Ingress gone", lambda: not ingress_exists(system), timeout=60)
