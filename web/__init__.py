"""Web: composition roots (create_app, the scheduler worker, the CLI) and the pages."""
