"""The desk: what agents do with cases (take, answer, resolve, find, merge...), one service layer that the CLI
(`helpline agent`), the web app and the workers all call. It composes core, the router, the templates and the
record; it never imports `workers` or `web` (jobs it needs are queued by their dotted names, which RQ accepts)."""
