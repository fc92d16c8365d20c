"""GET /v1/runs/{run_id}: one run with its history."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_runs import RunOut, run_out

app = native.create_app()


@app.get("/v1/runs/<run_id>")
def get_run(run_id: str) -> RunOut:
    return run_out(services().runs.get(native.account_id(app), run_id))


handler = app.resolve
