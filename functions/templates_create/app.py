"""POST /v1/templates: 201 with the new integer id; 422 with every problem (invalid Liquid: the parser's message)."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_contacts import TemplateIn, TemplateOut, template_out, template_values

app = native.create_app()


@app.post("/v1/templates", status_code=201)
def create(body: TemplateIn) -> TemplateOut:
    created = services().templates.create(native.account_id(app), template_values(body, partial=False))
    return template_out(created)


handler = app.resolve
