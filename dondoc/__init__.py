"""dondoc: document-driven task tracking. Effects (ledger, mail, rendering) and the CLI."""
