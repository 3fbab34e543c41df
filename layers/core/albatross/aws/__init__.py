"""AWS adapters: the only place the core calls AWS (boto3), through :mod:`.clients`."""
