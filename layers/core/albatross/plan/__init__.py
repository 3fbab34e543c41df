"""The planner: desired stack vs actual resources → an ordered list of minimal steps.

Pure: no boto3. Actual resources come in as :class:`~albatross.plan.actual.Actual`,
filled by ``albatross.aws.discovery``.
"""
