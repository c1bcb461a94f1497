"""Flask extensions, created unbound so every entry point builds the app the same way."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for Media Buddy's typed models."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
