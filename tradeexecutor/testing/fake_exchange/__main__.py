"""``python -m tradeexecutor.testing.fake_exchange``: run the fake exchange."""

from .cli import main

raise SystemExit(main())
