"""Request and response shapes of identity's API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TokenCreate(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)
    label: str = Field(default="", max_length=100)


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class MeRead(BaseModel):
    username: str
    full_name: str
    role: str
    institution: str | None
    supplier: str | None
