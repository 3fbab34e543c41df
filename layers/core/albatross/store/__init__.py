"""The state store: one DynamoDB table (``pk``/``sk`` strings) holding

* object snapshots — ``obj#<Kind>#<key>`` / ``#`` (EndpointSlices: ``obj#EndpointSlice#<ns>/<service>``
  / ``<slice name>``, so one query returns a Service's slices; IngressClasses and
  IngressClassParams: ``obj#<Kind>`` / ``<name>``), with ``rv`` (the newest
  resourceVersion seen; 0 once re-baselined, see below), ``deleted`` and ``body`` (the
  trimmed object as JSON), and the object's ``uid`` and ``created`` (its
  creationTimestamp) when it has both; a deleted object's tombstone carries ``expires``
  (15 days on; the table's TTL attribute);
* group membership — ``grp#<stack>`` / ``ing#<ns>/<name>``, with the member's last version
  that built without error (``good``);
* group state — ``grp#<stack>`` / ``#state``: the desired model being applied, the
  Ingresses leaving the group, the running execution, the dirty mark, the stack
  index (``stackIndex``: physical ids and applied digests, see
  :class:`albatross.plan.actual.StackIndex`) and the load balancers Albatross made or
  adopted for the group (``ownedLoadBalancers``, a string set of ARNs that outlives a
  forgotten index: the only load balancers Albatross deletes), what the state machines'
  phases made and the tag search may not list yet (``made:<physical id>``: the resource
  id and when, one attribute each, until Albatross deletes it or the search lists it)
  and the failed executions in a row (``failedRuns``: how many, and when the last was);
* references — ``ref#<ns>/<service>`` / ``grp#<stack>``: which groups use a Service.
* holders — ``held#<physical id>`` / ``grp#<stack>``: the group's stack index holds that
  load balancer, target group or security group (written when the index is saved, kept
  when it is forgotten), so an AWS event about one finds its group with one query
  (:mod:`albatross.controller.aws_events`).
* registrations — ``grp#<stack>`` / ``registered#<target group id>``: the targets the
  group's last sync registered in that target group, its ARN (``arn``) and a version
  (``n``) each write is conditional on; ``targets`` (``address:port``, comma-joined) or,
  when long, ``packed`` (zlib, base64). See :mod:`albatross.store.registered` (ADR 0019).
* backend rules — ``grp#<stack>`` / ``net#<target group id>``: the security group that
  guards each of the target group's targets and the rules it needs on each
  (``record``); ``sgrules#<security group id>`` / ``<stack>|<target group id>``: the
  rules that target group needs on that security group (``rules``). One query gives
  everything a security group must allow.
* the forwarder's last Resync — ``forwarder#resync`` / ``#``: the EventBridge event id
  (``event``), when ingest applied it (``at``, epoch seconds) and when the forwarder sent
  it (``sent``); ``albatross install`` waits for a new one to know the forwarder it
  installed reaches ingest.
* sync holds — ``forwarder#held`` / ``<group>``: a group whose reconciles wait for the
  forwarder's next Resync (``at``: since when); see :mod:`albatross.controller.ingest`.
* awaited objects — ``forwarder#awaited`` / ``<Kind>/<key>``: an Ingress or Service a
  Resync listed before ingest had stored it (``at``); the held groups wait for it.
* the account's AWS call budget — ``budget#<service>#<bucket>`` / ``#``: a token bucket at
  the stack's share of one of AWS's (``tokens``, ``at``, version ``v``), written by
  :mod:`albatross.aws.budget` from every function that calls ELBv2, EC2 or tagging (ADR 0016).
* Resync marks — ``forwarder#mark`` / ``<Kind>``: where the watch of that kind stood
  (``rv``, the ``asOf``) in the last-sent Resync applied, when it was sent (``sent``,
  epoch seconds), its event id (``event``) and the mark before it (``prior``). A Resync
  sent later whose ``asOf`` is below the mark says the cluster's resourceVersions went
  back; the kind's snapshots are re-baselined (:func:`albatross.controller.ingest.apply_resync`).
"""
