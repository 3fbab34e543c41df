"""``albatross local``: the whole system on one machine, offline.

AWS is moto in server mode on 127.0.0.1 (:mod:`.cloud`), provisioned from the
translated ``template.yaml`` (:mod:`.template`); Lambda invocations reach the real
handlers in this process; EventBridge rules and SQS event sources are delivered by
:mod:`.dispatch`; the cluster is the HTTP double in :mod:`.kube`. Handlers' log lines go
to CloudWatch Logs (:mod:`.logship`); what moto lacks is filled in :mod:`.gaps` and
:mod:`.insights`. :mod:`.up` keeps the system running for other terminals, which change
the cluster with :mod:`.manifests`. Not part of the layer.
"""
