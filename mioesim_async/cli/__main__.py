"""``python -m mioesim_async.cli``: the ``mioesim`` command."""

from . import main

raise SystemExit(main())
