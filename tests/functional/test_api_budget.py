"""The account's AWS call budget (``albatross.aws.budget``, ADR 0016) against the
realistic local AWS: AWS's buckets (ELB's "Request throttling for the ELB API": Describe*
share 40 tokens refilled at 10 per second) enforced at the endpoint, the budget's buckets
in a moto DynamoDB table. Time is AWS's, on a clock the test moves: each request at the
endpoint advances it by ``STEP`` (callers asking faster than AWS refills), and a caller
waiting for the budget advances it by its wait. Nothing here waits on the wall clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from albatross.aws import applier, budget, clients, discovery
from albatross.aws.errors import Throttled, transient
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.local import clock
from albatross.local.realistic import Realistic, limited
from albatross.local.system import make_vpc
from albatross.model import limits
from albatross.model.builder import build
from albatross.model.config import ControllerConfig
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from tests.functional.motoserver import moto_server

STEP = 0.025  # AWS seconds each request takes: 40 a second asked, four times the Describe* refill
SHARE = 0.5
TABLE = "state"


@dataclass
class Clock:
    """AWS seconds, moved by the requests and by the budget's waits."""

    now: float = 1000.0
    step: float = STEP  # per request answered or refused
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


@dataclass
class Account:
    endpoint: str
    clock: Clock
    aws: Realistic
    admitted: list[float]  # when each ELBv2 Describe* request was answered, on AWS's clock


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    for name in (budget.ENV_SHARE, budget.ENV_TABLE, budget.ENV_WAIT, budget.ENV_CLOCK):
        monkeypatch.delenv(name, raising=False)
    hand = Clock()
    admitted: list[float] = []
    with (
        moto_server(monkeypatch) as (server, endpoint),
        clock.scaled(0.01),  # botocore's backoff, short
        limited(server, time_scale=1.0, clock=hand) as aws,
    ):
        admit = aws.throttle.admit

        def timed(service: str, action: str, params: dict[str, list[str]]) -> bool:
            hand.advance(hand.step)
            answered = admit(service, action, params)
            if answered and service == "elasticloadbalancing" and action.startswith("Describe"):
                admitted.append(hand())
            return answered

        aws.throttle.admit = timed  # type: ignore[method-assign]  # the endpoint's admission, timed
        clients.dynamodb().create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield Account(endpoint=endpoint, clock=hand, aws=aws, admitted=admitted)


def budgets(monkeypatch: pytest.MonkeyPatch, account: Account) -> list[budget.Budget | None]:
    """What the shared clients get from ``budget.from_env`` from now on (the real one; a
    budget it makes keeps the test's clock, which its waits advance)."""
    made: list[budget.Budget | None] = []
    from_env = budget.from_env

    def on_the_test_clock(dynamodb: Any) -> budget.Budget | None:
        found = from_env(dynamodb)
        if found is not None:
            found.clock = account.clock
            found.sleep = account.clock.advance
        made.append(found)
        return found

    monkeypatch.setattr(budget, "from_env", on_the_test_clock)
    return made


def gate(monkeypatch: pytest.MonkeyPatch, account: Account, *, wait: float = 60.0) -> budget.Budget:
    """The budget a function's environment sets, as the shared clients spend it."""
    monkeypatch.setenv(budget.ENV_SHARE, str(SHARE))
    monkeypatch.setenv(budget.ENV_TABLE, TABLE)
    monkeypatch.setenv(budget.ENV_WAIT, str(wait))
    made = budgets(monkeypatch, account)
    clients.reset()
    clients.elbv2()  # the first gated client reads the budget from the environment
    [spending] = made
    assert spending is not None
    return spending


def reads(n: int) -> None:
    """A reconcile's reads of one group, ``n`` of them, through the shared client."""
    elbv2: Any = clients.elbv2()
    calls = [elbv2.describe_load_balancers, elbv2.describe_target_groups, elbv2.describe_account_limits]
    for i in range(n):
        calls[i % 3]()


def most_in_a_window(times: list[float], seconds: float) -> int:
    """The most calls answered within any ``seconds`` of each other."""
    times = sorted(times)
    start, most = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def within_share(times: list[float]) -> bool:
    """No window holds more than the share of AWS's bucket: share of 40 at once, plus share
    of 10 a second, plus what one lease may hold back (one second of it)."""
    spec = budget.Share.of(limits.ELBV2_DESCRIBE, SHARE)
    return all(
        most_in_a_window(times, window) <= spec.capacity + spec.refill * (window + budget.LEASE_SECONDS)
        for window in (0.5, 1.0, 2.0, 5.0, 10.0)
    )


def test_without_the_budget_a_burst_of_reads_is_throttled_and_goes_past_the_share(account: Account) -> None:
    reads(60)
    tally = account.aws.throttle.tally
    assert tally.total("elasticloadbalancing", prefix="Describe", throttled=True) > 0
    assert not within_share(account.admitted)  # the check below can fail


def test_with_the_budget_the_same_burst_is_never_throttled_and_stays_within_the_share(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    spending = gate(monkeypatch, account)
    reads(60)
    tally = account.aws.throttle.tally
    assert tally.total("elasticloadbalancing", prefix="Describe", throttled=True) == 0
    assert tally.total("elasticloadbalancing", prefix="Describe") == 60
    assert within_share(account.admitted)
    assert spending.waits > 0  # it waited rather than be throttled, and says so
    assert spending.waited > 0


def test_several_lambdas_spending_at_once_keep_within_the_share(account: Account) -> None:
    """Four Lambdas (a budget each, as four processes have, on one table) read at once."""
    lambdas = [
        budget.Budget(
            ledger=budget.Ledger(TABLE, clients.dynamodb),
            share=SHARE,
            clock=account.clock,
            sleep=account.clock.advance,
            max_wait=60.0,
        )
        for _ in range(4)
    ]
    failures: list[BaseException] = []
    spent: list[float] = []  # when each token was granted, on the ledger's clock
    found = budget.bucket_of("elasticloadbalancing", "DescribeLoadBalancers", {})
    assert found is not None
    key = f"elasticloadbalancing#{found[0]}"

    class Reading:
        """The Lambda's clock, remembering its last reading: the time its grant was made at."""

        def __init__(self) -> None:
            self.last = 0.0

        def __call__(self) -> float:
            self.last = account.clock()
            return self.last

    def run(spending: budget.Budget) -> None:
        reading = Reading()
        spending.clock = reading
        # a client of its own, unhooked: this Lambda spends its own budget object
        elbv2: Any = boto3.client(
            "elbv2", endpoint_url=account.endpoint, config=Config(retries={"mode": "standard", "max_attempts": 1})
        )
        try:
            for _ in range(20):
                spending.spend("elasticloadbalancing", "DescribeLoadBalancers")
                # a token leased at the ledger's stamp is spent before the lease ends; a
                # grant's stamp may be later than the Lambda's reading (another wrote after
                # it read the clock and before its write): the later of the two
                spent.append(max(reading.last, spending.ledger.seen[key].at))
                elbv2.describe_load_balancers()
        except (ClientError, Throttled) as e:  # reported below: a thread's failure is the test's
            failures.append(e)

    threads = [threading.Thread(target=run, args=(s,)) for s in lambdas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(account.admitted) == 80
    assert account.aws.throttle.tally.total("elasticloadbalancing", throttled=True) == 0
    # the grants, not the endpoint's admissions, and as the ledger timed them: on this
    # clock a thread's wait moves time for all at once, so a thread held up on a busy
    # machine between its grant and reading the clock again would land among later grants
    assert within_share(sorted(spent))


def test_a_dry_budget_past_the_calls_deadline_raises_the_transient_error(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate(monkeypatch, account, wait=0.0)
    account.clock.step = 0.0  # no refill meanwhile
    spec = budget.Share.of(limits.ELBV2_DESCRIBE, SHARE)
    burst = int(spec.capacity - spec.reserve)  # what bulk work may take at once (ADR 0017)
    reads(burst)  # answered with no wait
    with pytest.raises(Throttled) as raised:
        clients.elbv2().describe_load_balancers()
    assert transient(raised.value)  # the queues retry it, never dead-letter it (ADR 0009)
    assert "budget" in str(raised.value)
    tally = account.aws.throttle.tally
    assert tally.total("elasticloadbalancing") == burst  # the refused call never reached AWS
    # another bucket is not held up: a mutating action spends its own
    clients.elbv2().create_target_group(Name="tg", Protocol="HTTP", Port=80, VpcId=make_vpc("budget"))
    with budget.in_lane(budget.URGENT):
        clients.elbv2().describe_load_balancers()  # the reserve is a user's change's: no wait
    account.clock.advance(2 / spec.refill)  # the reserve full again, and one token above it
    clients.elbv2().describe_load_balancers()  # a token is due again


def test_a_handlers_deadline_bounds_the_wait_too(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    gate(monkeypatch, account, wait=60.0)
    account.clock.step = 0.0
    spec = budget.Share.of(limits.ELBV2_DESCRIBE, SHARE)
    reads(int(spec.capacity - spec.reserve))
    token = budget.deadline.set(account.clock() + 0.01)  # sooner than the next token (0.2 s)
    try:
        with pytest.raises(Throttled):
            clients.elbv2().describe_load_balancers()
    finally:
        budget.deadline.reset(token)
    clients.elbv2().describe_load_balancers()  # without it, the call waits its 0.2 s


def test_the_cli_and_separate_clients_are_not_gated(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    made = budgets(monkeypatch, account)
    clients.elbv2().describe_load_balancers()
    assert made == [None]  # no share in the environment (the CLI's case): no budget
    gate(monkeypatch, account, wait=0.0)
    account.clock.step = 0.0
    spec = budget.Share.of(limits.ELBV2_DESCRIBE, SHARE)
    with pytest.raises(Throttled):  # the clock stands still: the budget is spent within its capacity
        reads(int(spec.capacity) + 1)
    clients.separate("elbv2").describe_load_balancers()  # local tooling: outside the budget
    monkeypatch.setenv(budget.ENV_SHARE, "0")
    made = budgets(monkeypatch, account)
    clients.reset()
    clients.elbv2().describe_load_balancers()  # not gated: the spent budget does not stop it
    assert made == [None]


def simple_ingress(name: str) -> dict[str, Any]:
    path = {"pathType": "Prefix", "backend": {"service": {"name": "blue", "port": {"number": 80}}}}
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {"alb.ingress.kubernetes.io/target-type": "ip"},
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [{"http": {"paths": [{**path, "path": "/"}, {**path, "path": "/cart"}]}}],
        },
    }


def test_the_controller_converges_within_the_budget(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three groups built, planned and applied at once, as three reconciles: none of their
    calls throttled, and each plans nothing more afterwards."""
    with account.aws.unlimited():  # the harness's VPC: not the controller's spend
        vpc = make_vpc("budget")
    gate(monkeypatch, account)
    blue = parse_service(
        {"metadata": {"name": "blue", "namespace": "shop", "uid": "uid-blue"}, "spec": {"ports": [{"port": 80}]}}
    )
    left: dict[str, list[str]] = {}
    failures: list[BaseException] = []

    def reconcile(name: str) -> None:
        try:
            config = ControllerConfig(cluster="budget", vpc_id=vpc)
            result = build(
                config=config,
                group=GroupID(namespace="shop", name=name),
                ingresses=[parse_ingress(simple_ingress(name))],
                services={blue.key: blue},
                discovery=discovery.discover(vpc_id=vpc),
            )
            assert result.stack is not None, result.errors
            physical: dict[str, str] = {}
            for step in plan(result.stack, Actual()):
                applier.apply(step, physical)
            actual = discovery.read_stack(cluster="budget", stack_id=f"shop/{name}", desired=result.stack)
            left[name] = [s.describe() for s in plan(result.stack, actual)]
        except Exception as e:  # noqa: BLE001  # reported below: a thread's failure is the test's
            failures.append(e)

    threads = [threading.Thread(target=reconcile, args=(f"web{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert left == {"web0": [], "web1": [], "web2": []}
    tally = account.aws.throttle.tally
    assert sum(tally.throttled.values()) == 0
    assert tally.total("elasticloadbalancing", prefix="Create") > 0  # it did make them, through the gate


def lambda_on(account: Account, *, max_wait: float) -> budget.Budget:
    """One more Lambda's budget on the same table and clock."""
    return budget.Budget(
        ledger=budget.Ledger(TABLE, clients.dynamodb),
        share=SHARE,
        clock=account.clock,
        sleep=account.clock.advance,
        max_wait=max_wait,
    )


def spend_until_refused(spending: budget.Budget) -> int:
    """Tokens granted without waiting (nothing here moves the clock), until one would wait."""
    granted = 0
    while True:
        try:
            spending.spend("elasticloadbalancing", "DescribeLoadBalancers")
        except Throttled:
            return granted
        granted += 1
        assert granted <= 40  # AWS's whole bucket: past it the test is broken, not the budget


def test_bulk_work_leaves_the_reserve_that_a_users_change_spends(account: Account) -> None:
    """ADR 0017: of the share's 20 Describe* tokens (half of AWS's 40), bulk callers leave a
    quarter; a caller in the urgent lane takes those too."""
    share = budget.Share.of(limits.ELBV2_DESCRIBE, SHARE)
    assert (share.capacity, share.reserve) == (20.0, 5.0)
    assert spend_until_refused(lambda_on(account, max_wait=0.0)) == 15
    assert spend_until_refused(lambda_on(account, max_wait=0.0)) == 0  # another bulk Lambda: nothing
    with budget.in_lane(budget.URGENT):
        assert spend_until_refused(lambda_on(account, max_wait=0.0)) == 5
    assert budget.lane.get() == budget.BULK  # the lane ends with its context


def test_an_invocations_deadline_lets_a_call_wait_past_the_per_call_bound(account: Account) -> None:
    """A record waits in line as long as its invocation can afford (ADR 0017): with the
    bucket empty, a bulk call waits for reserve + 1 tokens, 6 at 5 a second: 1.2 s."""
    with budget.in_lane(budget.URGENT):
        assert spend_until_refused(lambda_on(account, max_wait=0.0)) == 20
    waiting = lambda_on(account, max_wait=1.0)
    with pytest.raises(Throttled):
        waiting.spend("elasticloadbalancing", "DescribeLoadBalancers")  # 1.2 s > its 1 s
    start = account.clock()
    token = budget.deadline.set(start + 10.0)
    try:
        waiting.spend("elasticloadbalancing", "DescribeLoadBalancers")
    finally:
        budget.deadline.reset(token)
    assert 1.0 < account.clock() - start <= 1.3


def test_bounded_sets_the_deadline_on_the_budgets_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """`albatross local` runs the budget's clock at its time scale: 120 s left in wall time
    are 240 budget seconds at 0.5."""
    monkeypatch.setenv(budget.ENV_CLOCK, "0.5")
    before = budget.deadline.get()
    with budget.bounded(120.0):
        bound = budget.deadline.get()
        assert bound is not None
        now = time.time() / 0.5
        assert now + 239 <= bound <= now + 240
    assert budget.deadline.get() == before


@pytest.mark.parametrize("share", [0.01, 0.05, 0.1])
def test_a_small_share_still_serves_bulk_work(account: Account, share: float) -> None:
    """At a share so small that a 20-token bucket keeps one token (20 x 0.05), a quarter
    reserve would leave bulk work nothing for ever; it keeps what leaves one token."""
    bucket = budget.Share.of(limits.ELBV2_MUTATING, share)
    assert bucket.capacity - bucket.reserve >= 1
    spending = budget.Budget(
        ledger=budget.Ledger(TABLE, clients.dynamodb),
        share=share,
        clock=account.clock,
        sleep=account.clock.advance,
        max_wait=60.0,
    )
    for _ in range(3):  # bulk, waiting for refills as it must
        spending.spend("elasticloadbalancing", "CreateRule")
