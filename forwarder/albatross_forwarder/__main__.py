"""``python -m albatross_forwarder``."""

from albatross_forwarder.main import main

main()
