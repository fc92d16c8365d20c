"""POST /v1/events: one event (``{"event", "contact_uuid", "data"}``) or up to 100
(``{"events": [...]}``) about contacts; 202 with their ids, runs follow asynchronously."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Body
from automations.surfaces.native_events import EventBatchIn, EventIn, EventsAccepted, events_in

app = native.create_app()


@app.post("/v1/events", status_code=202)
def create_events(body: Annotated[EventIn | EventBatchIn, Body()]) -> EventsAccepted:
    events = events_in(native.account_id(app), body, app.current_event.request_context.request_id)
    services().event_ingestion.submit(events)
    return EventsAccepted(event_ids=[e.id for e in events])


handler = app.resolve
