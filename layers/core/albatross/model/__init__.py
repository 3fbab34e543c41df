"""The model builder: IngressGroup + Services + discovery facts → the desired ALB stack.

Pure: no boto3, no clock, no network. Its output is plain data named after the ELBv2 and
EC2 create-call parameters; ``albatross plan --output json`` prints it.
"""
