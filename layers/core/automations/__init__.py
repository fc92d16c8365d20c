"""The automations engine core: domain, service, surfaces and adapters, shipped as a Lambda layer."""
