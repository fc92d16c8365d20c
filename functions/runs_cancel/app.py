"""POST /v1/runs/{run_id}/cancel: cancel a scheduled run (its schedule is deleted too)."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_runs import RunOut, run_out

app = native.create_app()


@app.post("/v1/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> RunOut:
    return run_out(services().run_executor.cancel(native.account_id(app), run_id))


handler = app.resolve
