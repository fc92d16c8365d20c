"""The bases of the native API's pydantic models. Each model is built on first use, not at import:
a handler's cold start builds only the models its own route reads and answers with."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)


class Input(Model):
    model_config = ConfigDict(extra="forbid")  # a misspelt attribute is an error, not silently dropped
