"""Request and response bodies of the accounts API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=10, max_length=256)
    name: str = Field(default="", max_length=200)


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    id: str
    role: str
    email: str
    name: str
    paused: bool
    created_at: datetime


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=lambda: ["gestures:write"], max_length=10)


class TokenCreated(BaseModel):
    id: str
    name: str
    scopes: list[str]
    token: str = Field(description="shown once; store it now")


class TokenInfo(BaseModel):
    id: str
    name: str
    kind: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class DeleteAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=256)
    confirm: str = Field(description='must be exactly "delete my vault"')
