"""Stage handlers: `run(io: StageIO, root: Path)` for each check group, named by `StageRequest.handler`."""
